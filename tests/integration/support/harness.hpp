// Integration-test harness: child processes started with posix_spawn and stopped by PID, free
// loopback ports, temporary directories, a per-run test PKI made with the openssl CLI, and a
// per-test watchdog. Everything a test starts is on 127.0.0.1 and is stopped by the test itself.
// Failures of the harness (a peer that does not start, openssl failing) throw std::runtime_error
// with the peer's log attached; GoogleTest reports them as test failures.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace oauthmail::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- files -------------------------------------------------------------------------------------

std::string read_file(const fs::path& p);  // "" when missing
void write_file(const fs::path& p, std::string_view content);
// The last `max_octets` of a file, for error messages.
std::string tail_of_file(const fs::path& p, std::size_t max_octets = 4000);
std::size_t count_occurrences(std::string_view haystack, std::string_view needle);

// ---- temporary directory -----------------------------------------------------------------------

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction unless the
// environment has OAUTHMAIL_KEEP_TEST_DIRS=1 (then its path is printed for inspection).
class temp_dir {
 public:
  explicit temp_dir(std::string_view prefix = "oauthmail-it");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const noexcept { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

// ---- ports -------------------------------------------------------------------------------------

// A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it back, close).
std::uint16_t free_port();
// Whether something accepts TCP connections on 127.0.0.1:port right now.
bool port_accepts(std::uint16_t port, std::chrono::milliseconds timeout = 200ms);

// ---- child processes ---------------------------------------------------------------------------

struct spawn_options {
  std::vector<std::string> argv;        // argv[0]: a path, or a name looked up in PATH
  fs::path stdout_path;                 // required: the child's stdout goes here
  std::optional<fs::path> stderr_path;  // default: into the stdout file
  std::optional<fs::path> stdin_path;   // default: /dev/null
  std::vector<std::string> extra_env;   // "NAME=value" added to (or replacing in) the environment
  std::vector<std::string> remove_env;  // names removed from the environment
};

// Exit code of a wait status: the code for a normal exit, 128 + signal for a killed process.
int exit_code_of(int wait_status) noexcept;

// One child process in its own process group. The destructor stops it (SIGTERM, then SIGKILL after
// a grace period) and reaps it. Only processes started here are ever signalled, by PID.
class child_process {
 public:
  static child_process start(spawn_options options);

  child_process(child_process&& other) noexcept;
  child_process& operator=(child_process&& other) noexcept;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  pid_t pid() const noexcept { return pid_; }
  std::string name() const;  // argv[0]'s file name
  const fs::path& log_path() const noexcept { return options_.stdout_path; }
  std::string log() const { return read_file(options_.stdout_path); }
  std::string stderr_text() const { return read_file(options_.stderr_path.value_or(options_.stdout_path)); }

  // Reaps the child if it has exited. True while it runs.
  bool running();
  // The wait status once the child has exited and been reaped.
  std::optional<int> wait_status() const noexcept { return status_; }

  // Waits up to `timeout` for the child to exit; its exit code (see exit_code_of), or nullopt.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM; after `grace` SIGKILL; reaps. Returns the exit code (see exit_code_of). Idempotent.
  int stop(std::chrono::milliseconds grace = 3s);

  // Readiness. Each throws std::runtime_error (with the log's tail) if the child exits first or the
  // deadline passes.
  void wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout = 15s);
  void wait_for_log_text(std::string_view needle, std::chrono::milliseconds timeout = 15s);
  void wait_for_file(const fs::path& file, std::chrono::milliseconds timeout = 15s);

 private:
  child_process() = default;
  [[noreturn]] void fail(std::string_view what);
  void reap_blocking_with_kill();

  pid_t pid_ = -1;
  std::optional<int> status_;
  spawn_options options_;
};

// Runs a program to completion within `timeout` (killed after it). stdout and stderr are captured
// separately in files under `dir`.
struct run_result {
  int exit_code = -1;  // see exit_code_of; -1 when it timed out
  bool timed_out = false;
  std::string out;
  std::string err;
};
run_result run_program(std::vector<std::string> argv, const fs::path& dir,
                       std::optional<fs::path> stdin_path = std::nullopt, std::chrono::milliseconds timeout = 30s,
                       std::vector<std::string> extra_env = {});

// Stops every child process that is still registered (used by the watchdog before it exits).
void stop_all_children_now() noexcept;

// ---- watchdog ----------------------------------------------------------------------------------

// Bounds one test in time: if it is still running after `limit`, prints a message, kills the child
// processes this test binary started (by PID) and exits the process with status 124.
class test_deadline {
 public:
  explicit test_deadline(std::chrono::seconds limit, std::string what = "test");
  ~test_deadline();
  test_deadline(const test_deadline&) = delete;
  test_deadline& operator=(const test_deadline&) = delete;

 private:
  struct state;
  state* state_;
  std::thread thread_;
};

// ---- test PKI ----------------------------------------------------------------------------------

// Made once per test process with the openssl CLI, in a temporary directory removed at exit.
// EC P-256 keys; certificates valid for two days from now (but the expired one).
struct test_pki {
  fs::path ca_cert;      // the test CA (trust this one)
  fs::path server_cert;  // signed by the CA: SAN IP:127.0.0.1, DNS:localhost
  fs::path server_key;
  fs::path wrong_name_cert;  // signed by the CA: SAN DNS:wrong.example only
  fs::path wrong_name_key;
  fs::path unknown_ca_cert;  // self-signed, SAN IP:127.0.0.1, DNS:localhost (not trusted)
  fs::path unknown_ca_key;
  fs::path expired_cert;  // signed by the CA, SAN IP:127.0.0.1, DNS:localhost, valid 2020-01-01 to 2020-01-02
  fs::path expired_key;
};
const test_pki& pki();

// ---- programs ----------------------------------------------------------------------------------

inline constexpr const char* system_python = "/usr/bin/python3";  // has python3-aiosmtpd
inline constexpr const char* smtp_sink_path = "/usr/sbin/smtp-sink";
inline constexpr const char* smtp_source_path = "/usr/sbin/smtp-source";

}  // namespace oauthmail::testing
