// Entry point: wires the subcommands (one file each under src/cli) and logging. No logic of its own.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sysexits.h>

#include <CLI/CLI.hpp>

#include "cli/account.hpp"
#include "cli/config_check.hpp"
#include "cli/doctor.hpp"
#include "cli/sandbox.hpp"
#include "cli/send.hpp"

int main(int argc, char** argv) {
  CLI::App app{"oauthmail: send email through SMTP with OAuth2 (XOAUTH2, OAUTHBEARER)."};
  app.set_version_flag("--version", std::string("oauthmail 0.1.0"));
  app.require_subcommand(1);
  app.fallthrough();
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "log more: -v shows the SMTP transcript (AUTH payloads are always redacted)");
  oauthmail::cli::send_command send(app);
  oauthmail::cli::config_command config(app);
  oauthmail::cli::account_command account(app);
  oauthmail::cli::sandbox_command sandbox(app);
  oauthmail::cli::doctor_command doctor(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : EX_USAGE;
  }

  auto logger = spdlog::stderr_color_mt("oauthmail");
  logger->set_pattern("oauthmail: %l: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbosity > 0 ? spdlog::level::debug : spdlog::level::warn);

  try {
    if (send.chosen()) return send.run();
    if (config.chosen()) return config.run();
    if (account.chosen()) return account.run();
    if (sandbox.chosen()) return sandbox.run();
    if (doctor.chosen()) return doctor.run();
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    return EX_SOFTWARE;
  }
  return EX_USAGE;
}
