// The real SMTP peers of the integration tests, each a child process on 127.0.0.1 and a free port:
//  - Postfix's smtp-sink (accepts and counts everything; dumps each transaction to a file);
//  - peers/oauth_smtp_server.py, an aiosmtpd server with XOAUTH2/OAUTHBEARER/PLAIN/LOGIN, STARTTLS
//    or implicit TLS, provider-style errors and a store of accepted messages.
// Both are started in the constructor (retrying with another port if the first was taken) and
// stopped by PID in the destructor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "integration/support/harness.hpp"

namespace oauthmail::testing {

class smtp_sink {
 public:
  struct options {
    bool pipelining = true;  // false: -p, PIPELINING not announced
    bool esmtp = true;       // false: -e, no ESMTP (EHLO refused, HELO needed)
    std::vector<std::string> extra_args;
  };
  smtp_sink(const temp_dir& dir, options opts);
  explicit smtp_sink(const temp_dir& dir) : smtp_sink(dir, options{}) {}

  std::uint16_t port() const noexcept { return port_; }
  child_process& process() noexcept { return *child_; }
  const fs::path& dump_path() const noexcept { return dump_; }
  std::string dump() const { return read_file(dump_); }
  // Transactions in the dump file (one "X-Mail-Args:" record each).
  std::size_t dumped_messages() const;

  // The last running counters smtp-sink printed (-c): sessions ended, QUIT commands, messages.
  struct counters {
    std::size_t sessions = 0;
    std::size_t quits = 0;
    std::size_t messages = 0;
  };
  counters last_counters() const;
  // Waits until the counters show at least `messages` messages and `quits` QUITs.
  // False if the deadline passes first.
  bool wait_for(std::size_t messages, std::size_t quits, std::chrono::milliseconds timeout = 20s) const;

  void stop() { child_->stop(); }

 private:
  std::uint16_t port_ = 0;
  fs::path dump_;
  std::optional<child_process> child_;
};

class oauth_smtp_server {
 public:
  struct options {
    std::string tls = "none";  // none | starttls | implicit
    std::optional<fs::path> cert;
    std::optional<fs::path> key;
    std::string mechanisms = "XOAUTH2,OAUTHBEARER,PLAIN,LOGIN";
    std::string user = "alice@example.com";
    std::string token = "ya29.a0AfB_test-token-0123456789";  // accepted bearer token (or password)
    std::string error_style = "google";                      // google | microsoft
    bool require_auth = false;
    bool pipelining = false;  // announce PIPELINING; the log tells whether MAIL came pipelined
    std::vector<std::string> reject_rcpt;
    std::uint64_t size_limit = 33554432;  // SIZE announced and enforced
  };

  oauth_smtp_server(const temp_dir& dir, options opts);

  std::uint16_t port() const noexcept { return port_; }
  const options& config() const noexcept { return opts_; }
  child_process& process() noexcept { return *child_; }
  const fs::path& out_dir() const noexcept { return out_; }
  // The server's log (stdout and stderr): "EVENT ..." lines, "PROTOCOL VIOLATION: ..." lines.
  std::string log() const { return child_->log(); }
  bool log_has(std::string_view text) const { return log().find(text) != std::string::npos; }

  struct stored_message {
    std::string eml;  // content as received, dot-stuffing undone, CR LF line ends
    std::string mail_from;
    std::vector<std::string> rcpt_tos;
    std::optional<std::string> auth_user;
    bool tls = false;
  };
  // Every accepted message so far, in order.
  std::vector<stored_message> stored() const;

  void stop() { child_->stop(); }

 private:
  options opts_;
  std::uint16_t port_ = 0;
  fs::path out_;
  std::optional<child_process> child_;
};

}  // namespace oauthmail::testing
