// `oauthmail config check [--config FILE] [--json]`: validates the configuration file and lists
// every problem at once (file:line:column, key path, what is wrong, an example), or one line per
// account when the file is valid. A file that loads is also put through oauth::check_scopes() (the
// providers' scope and credential mistakes): its errors are problems, its warnings are shown but
// keep the exit status. Exit 0 when valid, 78 (EX_CONFIG) otherwise. Registers itself as the CLI11
// subcommand `config` with its subcommand `check`.
// Must not: resolve a secret reference, read any file but the configuration, contact anything, or
// print a secret (an inline secret is never shown; problems never contain one).
// Follows: sysexits.h (EX_CONFIG); the search order of config::resolve_path().
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace oauthmail::cli {

class config_command {
 public:
  explicit config_command(CLI::App& app);
  bool chosen() const { return cmd_->parsed(); }
  int run();

 private:
  int run_check();

  CLI::App* cmd_ = nullptr;
  CLI::App* check_ = nullptr;
  std::optional<std::string> config_path_;
  bool json_ = false;
};

}  // namespace oauthmail::cli
