#!/usr/bin/env bash
# SMTP throughput on loopback: Postfix's smtp-source (the baseline) and oauthmail's transport
# (bench/tool_send_throughput, with and without PIPELINING) against one Postfix smtp-sink.
#
#   bench/smtp_throughput.sh BUILD_DIR
#
# Environment (optional): MESSAGES (oauthmail and single-session smtp-source; default 5000),
# SIZE (octets per message; default 5120), SOURCE_MESSAGES (default 20000), SOURCE_SESSIONS
# (default 20). Everything runs on 127.0.0.1 on a free port; the sink is stopped by its PID.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 64
fi
build_dir=$1
tool=$build_dir/bench/tool_send_throughput
sink=/usr/sbin/smtp-sink
source_bin=/usr/sbin/smtp-source
messages=${MESSAGES:-5000}
size=${SIZE:-5120}
source_messages=${SOURCE_MESSAGES:-20000}
source_sessions=${SOURCE_SESSIONS:-20}

for f in "$tool" "$sink" "$source_bin"; do
  if [[ ! -x $f ]]; then
    echo "$0: $f not found (build tool_send_throughput; install postfix)" >&2
    exit 69
  fi
done

workdir=$(mktemp -d "${TMPDIR:-/tmp}/oauthmail-bench-XXXXXX")
sink_pid=""

stop_sink() {
  if [[ -n $sink_pid ]] && kill -0 "$sink_pid" 2>/dev/null; then
    kill -TERM "$sink_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$sink_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$sink_pid" 2>/dev/null; then
      kill -KILL "$sink_pid" 2>/dev/null || true
    fi
    wait "$sink_pid" 2>/dev/null || true
  fi
  sink_pid=""
}
cleanup() {
  stop_sink
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "-" }'; }

# The sink's message counter (-c prints "sess=N quit=N mesg=N" records separated by CR).
sink_messages() {
  tr '\r' '\n' <"$workdir/sink.log" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n 1
}

port=$(free_port)
user_args=()
if [[ $(id -u) -eq 0 ]]; then
  user_args=(-u "$(id -un)")  # smtp-sink insists on -u when run as root
fi
# -c counters; backlog 1000. No dump: disk writes would measure the disk, not the client.
"$sink" -c "${user_args[@]}" "127.0.0.1:$port" 1000 >"$workdir/sink.log" 2>&1 &
sink_pid=$!

deadline=$((SECONDS + 10))
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  if ! kill -0 "$sink_pid" 2>/dev/null; then
    echo "$0: smtp-sink exited:" >&2
    cat "$workdir/sink.log" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "$0: smtp-sink not listening on 127.0.0.1:$port after 10 s" >&2
    exit 1
  fi
  sleep 0.05
done

rows=()
add_row() {  # name sessions messages seconds accepted
  rows+=("$(printf '| %-38s | %8s | %8s | %6s | %9s | %8s | %8s |' "$1" "$2" "$3" "$size" "$4" "$(rate "$3" "$4")" "$5")")
}

run_source() {  # sessions messages
  local before after t0 t1
  before=$(sink_messages)
  before=${before:-0}
  t0=$(now)
  timeout 600 "$source_bin" -s "$1" -l "$size" -m "$2" -d -f bench-sender@oauthmail.test \
    -t bench-rcpt@oauthmail.test "127.0.0.1:$port"
  t1=$(now)
  sleep 0.2  # let the sink print its last counters
  after=$(sink_messages)
  add_row "smtp-source -s $1 -d" "$1" "$2" "$(elapsed "$t0" "$t1")" "$((after - before))"
}

run_tool() {  # label extra-args...
  local label=$1 before after t0 t1 out
  shift
  before=$(sink_messages)
  before=${before:-0}
  t0=$(now)
  local sessions=1
  if [[ ${1:-} == -c ]]; then sessions=$2; fi
  local count=$messages
  if [[ $sessions -gt 1 ]]; then count=$source_messages; fi
  out=$(timeout 600 "$tool" "127.0.0.1:$port" -n "$count" -s "$size" "$@")
  t1=$(now)
  echo "  $label: $out" >&2
  sleep 0.2
  after=$(sink_messages)
  add_row "$label" "$sessions" "$count" "$(elapsed "$t0" "$t1")" "$((after - before))"
}

echo "smtp-sink on 127.0.0.1:$port (pid $sink_pid); message size $size octets" >&2
run_source "$source_sessions" "$source_messages"
run_source 1 "$messages"
run_tool "oauthmail, PIPELINING, $source_sessions connections" -c "$source_sessions"
run_tool "oauthmail, PIPELINING"
run_tool "oauthmail, --no-pipelining" --no-pipelining
stop_sink

echo
printf '| %-38s | %8s | %8s | %6s | %9s | %8s | %8s |\n' client sessions messages octets "seconds" "msgs/s" accepted
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..40})" "----------" "----------" "--------" "-----------" "----------" "----------"
printf '%s\n' "${rows[@]}"
echo
echo "seconds: wall clock of the whole client process (connect, all messages, QUIT); accepted: the sink's count."
