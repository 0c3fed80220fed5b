// The sandbox server: runs src/sandbox's sans-I/O pieces over real sockets on one Asio event loop
// (one thread): SMTP listeners (STARTTLS port, and the implicit-TLS port for the google profile)
// driving smtp::server_session with sandbox::smtp_policy, and one HTTP listener (Beast) serving
// the identity provider, the control API and the pages:
//   GET  /api/messages[?raw=1]      captured messages (JSON)      DELETE /api/messages
//   GET  /api/messages/{id}         one message with its raw text
//   GET  /api/faults                the fault plan                 PUT (replace) / POST (add) / DELETE
//   POST /api/device/approve        {"user_code":"...","mailbox":"...","approve":true}
//   GET  /api/counters              token requests by grant, SMTP outcomes
//   PUT  /api/settings              {"access_token_lifetime":5,"refuse_tokens_expiring_within":0,...}
//   POST /api/revoke-sessions       {"mailbox":"..."}
//   GET  /api/health                200 {"status":"ok"}
// State folder: sandbox.json (endpoints, CA file, clients and mailboxes with secret file
// references, a ready-made oauthmail configuration), directory.json, keys, ca.pem, messages.sqlite3.
// Listens on loopback by default; another address must be asked for explicitly.
// Must not: log tokens, secrets or message content (debug logs show redacted transcripts).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "sandbox/directory.hpp"
#include "sandbox/faults.hpp"

namespace oauthmail::net {

struct sandbox_settings {
  sandbox::profile_kind profile = sandbox::profile_kind::microsoft;
  std::string state_dir;
  std::string smtp_address = "127.0.0.1";
  std::uint16_t smtp_port = 0;              // 0 = a free port (587 is not used by default: it needs root)
  std::optional<std::uint16_t> smtps_port;  // implicit TLS; google: a free port by default
  std::string http_address = "127.0.0.1";
  std::uint16_t http_port = 0;
  std::chrono::seconds access_token_lifetime{3599};
  std::chrono::seconds device_poll_interval{5};
  std::chrono::seconds refuse_tokens_expiring_within{0};
  std::optional<sandbox::fault_plan> faults;  // at start
};

// What a started sandbox offers (also in DIR/sandbox.json).
struct sandbox_info {
  std::string smtp_endpoint;   // "127.0.0.1:PORT"
  std::string smtps_endpoint;  // "" when none
  std::string http_base;       // "http://127.0.0.1:PORT"
  std::string ca_file;
  std::string state_file;   // DIR/sandbox.json
  std::string config_file;  // DIR/oauthmail.toml: a ready-made oauthmail configuration
};

class sandbox_server {
 public:
  // Prepares the state folder (directory, keys, CA), binds the listeners. Errors say what to fix
  // (port in use, folder not writable).
  static core::result<std::unique_ptr<sandbox_server>> start(sandbox_settings settings);
  ~sandbox_server();
  const sandbox_info& info() const noexcept;
  // Runs until stop() or SIGINT/SIGTERM (when handle_signals).
  void run(bool handle_signals);
  void stop();  // thread-safe

 private:
  sandbox_server() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace oauthmail::net
