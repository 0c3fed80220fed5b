// `oauthmail doctor [ACCOUNT] [--config FILE] [--json] [--send-test TO [--from ADDR]] [--timeout SECONDS]`:
// walks the whole path of an account — configuration, secret references, DNS, TCP, greeting, TLS
// and certificate, EHLO, token acquisition, token contents, AUTH, and with --send-test a test
// message — and stops at the first broken link, saying what is wrong and what to do. Each step is
// printed as it completes (✓ ! ✗ in a UTF-8 terminal, [ OK ] [WARN] [FAIL] otherwise); --json
// prints one object with every step (status, detail, facts, fix). Exit status: 0 when nothing
// failed, else the sysexits.h code of the first failure (see doctor/diagnose.hpp). Registers
// itself as the CLI11 subcommand `doctor`. The judging is doctor::diagnose_*() (sans I/O); the
// network walk is net::run_probe(); the token comes from the token service (a renewal, so that the
// credentials are tested today, not a cached token).
// Must not: print a secret (secret values are only inspected; tokens only decoded for their claims).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace oauthmail::cli {

class doctor_command {
 public:
  explicit doctor_command(CLI::App& app);
  bool chosen() const { return cmd_->parsed(); }
  int run();

 private:
  CLI::App* cmd_ = nullptr;
  std::string account_;
  std::optional<std::string> config_path_;
  bool json_ = false;
  std::optional<std::string> send_test_;
  std::optional<std::string> from_;
  int timeout_ = 20;
};

}  // namespace oauthmail::cli
