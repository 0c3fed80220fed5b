// `oauthmail account list|status|login|logout` and `oauthmail token show|refresh|keep-alive`
// (CLI11 subcommands), all with --config FILE and --json (but login).
// Must not: print a token, except `token show --reveal`.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "net/token_service.hpp"

namespace oauthmail::cli {

class account_command {
 public:
  explicit account_command(CLI::App& app);
  bool chosen() const;
  int run();

 private:
  int run_keep_alive(const config::configuration& cfg, net::token_service& tokens);
  int run_logout(const config::account& account, net::token_service& tokens);

  CLI::App* cmd_ = nullptr;
  CLI::App* token_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* status_ = nullptr;
  CLI::App* login_ = nullptr;
  CLI::App* logout_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* refresh_ = nullptr;
  CLI::App* keep_alive_ = nullptr;
  std::optional<std::string> config_path_;
  std::string name_;
  bool json_ = false;
  bool reveal_ = false;
  bool paste_ = false;
};

}  // namespace oauthmail::cli
