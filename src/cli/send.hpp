// `oauthmail send`: options and run(). Registers itself as a CLI11 subcommand. The message is the
// raw one on stdin, or composed from options (cli/compose_options.hpp); --dry-run prints the plan
// and the message instead of sending, --json prints the result per recipient as JSON.
// Must not: print a secret; take a secret's value on the command line (only references).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/compose_options.hpp"
#include "config/config.hpp"
#include "core/result.hpp"
#include "net/smtp_connection.hpp"

namespace oauthmail::cli {

class send_command {
 public:
  explicit send_command(CLI::App& app);
  bool chosen() const { return cmd_->parsed(); }
  int run();

 private:
  int run_checked();
  int run_with_account();
  void apply_common_options(net::connection_options& options) const;
  std::vector<smtp::outgoing_message> one_message() const;
  int report(const core::result<std::vector<smtp::message_result>>& results);
  // Reads or composes the message (before connecting); an exit status on failure.
  std::optional<int> prepare();
  // --dry-run: the plan and the message on stdout.
  int print_plan(const net::connection_options& options, const std::string& credentials, const config::account* account,
                 const std::string& token_state);

  CLI::App* cmd_ = nullptr;
  CLI::Option* from_option_ = nullptr;
  std::string server_;
  std::string account_;
  std::optional<std::string> config_path_;
  std::string tls_;  // empty: implicit for port 465, else starttls
  std::optional<std::string> ca_file_;
  bool tls_skip_verify_ = false;
  bool allow_plaintext_auth_ = false;
  std::string auth_;
  std::string user_;
  std::optional<std::string> bearer_;
  std::optional<std::string> password_;
  std::string from_;
  std::vector<std::string> to_;
  std::string ehlo_;
  std::optional<int> connect_timeout_;
  std::optional<int> reply_timeout_;
  bool no_pipelining_ = false;
  bool dry_run_ = false;
  bool json_ = false;
  bool json_printed_ = false;
  std::unique_ptr<compose_options> compose_;
  prepared_message message_;
};

}  // namespace oauthmail::cli
