// The sandbox as a test peer: `oauthmail sandbox` started as a child process on free loopback
// ports with a fresh state folder, its sandbox.json read back, and helpers for its HTTP API and
// token endpoint (through oauthmail's own libcurl client, loopback http only).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "integration/support/harness.hpp"

namespace oauthmail::testing {

class sandbox_process {
 public:
  struct options {
    std::string profile = "microsoft";
    int token_lifetime = 3599;
    int device_interval = 1;
    int refuse_expiring_within = 0;
    std::optional<std::string> faults_json;  // written to a file and passed with --faults
    std::vector<std::string> extra_args;
  };
  sandbox_process(const temp_dir& dir, options opts);
  explicit sandbox_process(const temp_dir& dir) : sandbox_process(dir, options{}) {}

  child_process& process() noexcept { return *child_; }
  std::string log() const { return child_->log(); }  // its stdout and stderr
  const fs::path& state_dir() const noexcept { return state_; }
  const boost::json::object& description() const noexcept { return description_; }
  std::uint16_t smtp_port() const noexcept { return smtp_port_; }
  std::uint16_t smtps_port() const noexcept { return smtps_port_; }  // 0 when none
  const std::string& http_base() const noexcept { return http_base_; }
  std::string ca_file() const;
  std::string config_file() const;
  std::string token_endpoint() const;
  std::string domain() const;
  std::string tenant_id() const;
  // A client of sandbox.json by name ("app-secret", ...), and its secret read from its file.
  const boost::json::object& client(std::string_view name) const;
  std::string client_id(std::string_view name) const;
  std::string client_secret(std::string_view name) const;

  struct http_result {
    int status = 0;
    std::string body;
    boost::json::value json() const;
  };
  // Any request to the sandbox's HTTP side (path starting with "/").
  http_result http(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& content_type = "application/json") const;
  // POST form to the token endpoint; returns the parsed response.
  http_result token_request(const std::vector<std::pair<std::string, std::string>>& form) const;
  // client_credentials with app-secret (or `client`) and `scope`; the access token.
  std::string app_token(const std::string& scope, std::string_view client = "app-secret") const;
  // PUT /api/faults.
  void set_faults(const std::string& json) const;
  void clear_faults() const;
  void settings(const std::string& json) const;
  // Captured messages (GET /api/messages[?raw=1]).
  boost::json::array messages(bool with_raw = false) const;
  // The same, oldest first (with their raw text unless told otherwise).
  boost::json::array captured(bool with_raw = true) const;
  // GET /api/counters.
  boost::json::object counters() const;
  // Token requests the identity provider answered so far (every grant type).
  std::int64_t token_requests() const;

  // A copy of the sandbox's oauthmail.toml written to `path` (mode 0600), with `lines` (whole TOML
  // lines, e.g. "allowed_senders = [\"shared@contoso.test\"]\n") added to the table of each named
  // account (right after its `name = ...` line). Throws if an account is not in the file.
  fs::path config_with(const fs::path& path,
                       const std::vector<std::pair<std::string, std::string>>& account_lines) const;

 private:
  options opts_;
  fs::path state_;
  std::optional<child_process> child_;
  boost::json::object description_;
  std::uint16_t smtp_port_ = 0;
  std::uint16_t smtps_port_ = 0;
  std::string http_base_;
};

// The raw text of a message of messages(true): "raw", or "raw_base64" decoded (a message that is
// not valid UTF-8).
std::string captured_raw(const boost::json::value& message);
// Its envelope's MAIL FROM and accepted RCPT TO addresses.
std::string captured_mail_from(const boost::json::value& message);
std::vector<std::string> captured_rcpt_to(const boost::json::value& message);

// Options with one field set (designated initializers would leave the others uninitialised-warned).
inline sandbox_process::options sandbox_profile(std::string profile) {
  sandbox_process::options o;
  o.profile = std::move(profile);
  return o;
}
inline sandbox_process::options sandbox_token_lifetime(int seconds) {
  sandbox_process::options o;
  o.token_lifetime = seconds;
  return o;
}

}  // namespace oauthmail::testing
