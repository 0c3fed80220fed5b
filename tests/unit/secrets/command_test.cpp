// cmd: secret references against real commands run by /bin/sh (printf, sleep, kill): output
// capture with one newline stripped, exit statuses, time limits that stop the whole process group,
// the output cap, stdin from /dev/null, stderr passed through untouched, and errors that name the
// reference but never the output.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "secrets/reference.hpp"

namespace oauthmail::secrets {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

core::result<resolved> run(const std::string& command, std::chrono::milliseconds timeout = 10s) {
  return resolve("cmd:" + command, resolve_options{timeout});
}

TEST(ResolveCmd, CapturesStdoutAndStripsOneNewline) {
  auto r = run("printf 'ya29.from-command\\n'");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->value.expose(), "ya29.from-command");
  EXPECT_FALSE(r->warning);
  EXPECT_EQ(fmt::format("{}", r->value), "***");

  EXPECT_EQ(run("printf 'pw'")->value.expose(), "pw");
  EXPECT_EQ(run("printf 'pw\\r\\n'")->value.expose(), "pw");
  EXPECT_EQ(run("printf 'pw\\n\\n'")->value.expose(), "pw\n");  // only ONE newline
  EXPECT_EQ(run("printf 'a\\nb\\n'")->value.expose(), "a\nb");
  EXPECT_EQ(run("printf ' spaced '")->value.expose(), " spaced ");
  EXPECT_EQ(run("echo one; echo two")->value.expose(), "one\ntwo");
}

TEST(ResolveCmd, KeepsBinaryOutput) {
  auto r = run("printf 'a\\000b\\377'");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->value.expose(), std::string("a\0b\xff", 4));
}

TEST(ResolveCmd, SeesTheEnvironment) {
  ::setenv("OAUTHMAIL_TEST_CMD_VALUE", "from-env", 1);
  auto r = run("printf '%s' \"$OAUTHMAIL_TEST_CMD_VALUE\"");
  ::unsetenv("OAUTHMAIL_TEST_CMD_VALUE");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->value.expose(), "from-env");
}

TEST(ResolveCmd, NonZeroExitIsAnErrorThatNeverShowsTheOutput) {
  // The output ("TOP-SECRET") differs from the command's text, which the error does name.
  auto r = run("printf '%s-%s' TOP SECRET; exit 3");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::command_failed);
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("cmd:printf '%s-%s' TOP SECRET; exit 3"), std::string::npos) << m;
  EXPECT_NE(m.find("status 3"), std::string::npos) << m;
  EXPECT_EQ(m.find("TOP-SECRET"), std::string::npos) << m;

  auto hidden = run("printf 'HIDDEN-%s' OUTPUT; false");
  ASSERT_FALSE(hidden);
  EXPECT_EQ(hidden.error().message().find("HIDDEN-OUTPUT"), std::string::npos) << hidden.error().message();
}

TEST(ResolveCmd, MissingCommandSaysSo) {
  ::testing::internal::CaptureStderr();
  auto r = run("oauthmail-no-such-command-xyz");
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::command_failed);
  EXPECT_NE(r.error().message().find("127"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("did not find the command"), std::string::npos) << r.error().message();
  EXPECT_NE(err.find("oauthmail-no-such-command-xyz"), std::string::npos) << err;  // the shell's own message
}

TEST(ResolveCmd, KilledBySignal) {
  auto r = run("printf '%s-%s' TOP SECRET; kill -KILL $$");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::command_failed);
  EXPECT_NE(r.error().message().find("signal 9"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("TOP-SECRET"), std::string::npos) << r.error().message();
}

TEST(ResolveCmd, EmptyOutputIsAnError) {
  for (const std::string cmd : {"true", "printf '\\n'", "printf '\\r\\n'"}) {
    auto r = run(cmd);
    ASSERT_FALSE(r) << cmd;
    EXPECT_EQ(r.error().code(), secrets_errc::empty) << cmd;
    EXPECT_NE(r.error().message().find("printed nothing"), std::string::npos) << r.error().message();
  }
}

TEST(ResolveCmd, StdinIsDevNull) {
  // `cat` would wait forever on a terminal or eat oauthmail's own stdin (the message to send).
  const auto start = std::chrono::steady_clock::now();
  auto r = run("cat", 5s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::empty);
}

TEST(ResolveCmd, StderrPassesThroughAndNothingElseIsPrinted) {
  ::testing::internal::CaptureStderr();
  auto ok = run("printf 'secret-value'; printf 'note from the command\\n' >&2");
  auto failed = run("printf 'secret-value'; exit 1");
  auto timed = run("sleep 5", 200ms);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->value.expose(), "secret-value");
  EXPECT_FALSE(failed);
  EXPECT_FALSE(timed);
  EXPECT_EQ(err, "note from the command\n");  // exactly what the command wrote, nothing of ours
}

TEST(ResolveCmd, TimeLimitStopsTheCommand) {
  const auto start = std::chrono::steady_clock::now();
  auto r = run("printf '%s-%s' TOP SECRET; sleep 30", 300ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::timed_out);
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  EXPECT_NE(r.error().message().find("300 ms"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("cmd:printf"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("TOP-SECRET"), std::string::npos) << r.error().message();
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 3s);
}

TEST(ResolveCmd, DefaultTimeLimitIsTenSeconds) { EXPECT_EQ(resolve_options{}.command_timeout, 10s); }

TEST(ResolveCmd, TimeLimitWhileTheOutputIsClosedButTheProcessRuns) {
  // stdout is closed at once; the shell then lingers: the wait for its exit is bounded too.
  const auto start = std::chrono::steady_clock::now();
  auto r = run("printf 'x'; exec >/dev/null; sleep 30", 300ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::timed_out);
  EXPECT_NE(r.error().message().find("300 ms"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

bool process_gone(pid_t pid) {
  // A process reparented to a init that does not reap it stays a zombie: that counts as gone.
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  return close == std::string::npos || (close + 2 < line.size() && line[close + 2] == 'Z');
}

TEST(ResolveCmd, TimeOutKillsTheWholeProcessGroup) {
  std::string tmpl = (fs::temp_directory_path() / "oauthmail-cmd-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path pid_file = fs::path(tmpl) / "pid";
  // A grandchild in the background, then the shell waits for it.
  auto r = run(fmt::format("sleep 30 & echo $! > '{}'; wait", pid_file.string()), 500ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), secrets_errc::timed_out);
  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = process_gone(grandchild);
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "the background sleep " << grandchild << " survived the time-out";
  std::error_code ec;
  fs::remove_all(tmpl, ec);
}

TEST(ResolveCmd, OutputCap) {
  auto at_limit = run(fmt::format("head -c {} /dev/zero | tr '\\000' a", max_command_output));
  ASSERT_TRUE(at_limit) << at_limit.error().message();
  EXPECT_EQ(at_limit->value.expose(), std::string(max_command_output, 'a'));

  const auto start = std::chrono::steady_clock::now();
  auto over = run(fmt::format("head -c {} /dev/zero | tr '\\000' T; sleep 30", max_command_output + 1));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), secrets_errc::too_large);
  EXPECT_NE(over.error().message().find("65536"), std::string::npos) << over.error().message();
  EXPECT_EQ(over.error().message().find("TTTT"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // stopped at once, not after the sleep

  auto endless = run("yes TOPSECRET", 5s);
  ASSERT_FALSE(endless);
  EXPECT_EQ(endless.error().code(), secrets_errc::too_large);
}

TEST(ResolveCmd, ManyInParallel) {
  // posix_spawn from several threads; every pipe is close-on-exec, so no command holds another's
  // output open (which would make it wait for the time limit).
  constexpr int n = 8;
  std::array<std::string, n> values;
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([i, &values] {
      auto r = resolve(fmt::format("cmd:printf 'value-{}'", i), resolve_options{5s});
      values[static_cast<std::size_t>(i)] = r ? r->value.expose() : r.error().message();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < n; ++i) EXPECT_EQ(values[static_cast<std::size_t>(i)], fmt::format("value-{}", i));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

}  // namespace
}  // namespace oauthmail::secrets
