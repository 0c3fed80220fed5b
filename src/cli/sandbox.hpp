// `oauthmail sandbox`: runs the built-in Microsoft 365 / Gmail stand-in (identity provider + SMTP
// submission server) in the foreground, and `oauthmail sandbox messages` lists what it captured.
//   oauthmail sandbox --profile microsoft|google|generic --state DIR [--smtp ADDR:PORT]
//                     [--smtps ADDR:PORT] [--http ADDR:PORT] [--token-lifetime SECONDS]
//                     [--device-interval SECONDS] [--refuse-expiring-within SECONDS] [--faults FILE]
//   oauthmail sandbox messages --state DIR [--json] [--id N]
// At start it prints the endpoints, the CA file, and where the ready-made configuration is, then
// serves until Ctrl-C / SIGTERM (exit 0). Start-up failures exit 78 (configuration) or 71 (OS).
// Must not: print secrets (client secrets are files in DIR/clients, referenced by path).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace oauthmail::cli {

class sandbox_command {
 public:
  explicit sandbox_command(CLI::App& app);
  bool chosen() const { return cmd_->parsed(); }
  int run();

 private:
  int run_server();
  int run_messages();

  CLI::App* cmd_ = nullptr;
  CLI::App* messages_ = nullptr;
  std::string profile_ = "microsoft";
  std::string state_dir_;
  std::string smtp_;
  std::string smtps_;
  std::string http_;
  int token_lifetime_ = 3599;
  int device_interval_ = 5;
  int refuse_expiring_ = 0;
  std::string faults_file_;
  std::string messages_state_dir_;
  bool json_ = false;
  std::optional<long long> message_id_;
};

}  // namespace oauthmail::cli
