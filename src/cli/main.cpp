// Entry point: wires the subcommands (one file each under src/cli) and logging. No logic of its own.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sysexits.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cli/account.hpp"
#include "cli/config_check.hpp"
#include "cli/doctor.hpp"
#include "cli/sandbox.hpp"
#include "cli/send.hpp"
#include "cli/sendmail.hpp"

namespace {

void set_up_logging(int verbosity) {
  auto logger = spdlog::stderr_color_mt("oauthmail");
  logger->set_pattern("oauthmail: %l: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbosity > 0 ? spdlog::level::debug : spdlog::level::warn);
}

// sendmail's options are not CLI11's: `oauthmail sendmail ...`, `oauthmail -v sendmail ...` and the
// binary named "sendmail" or "oauthmail-sendmail" are dispatched before CLI11 sees the arguments.
std::optional<std::vector<std::string>> sendmail_arguments(int argc, char** argv) {
  const char* slash = std::strrchr(argv[0], '/');
  const std::string_view name = slash ? slash + 1 : argv[0];
  if (name == "sendmail" || name == "oauthmail-sendmail") return std::vector<std::string>(argv + 1, argv + argc);
  int i = 1;
  std::vector<std::string> out;
  while (i < argc && (std::strcmp(argv[i], "-v") == 0 || std::strcmp(argv[i], "--verbose") == 0)) {
    out.emplace_back("-v");
    ++i;
  }
  if (i < argc && std::strcmp(argv[i], "sendmail") == 0) {
    out.insert(out.end(), argv + i + 1, argv + argc);
    return out;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 0) {
    if (auto args = sendmail_arguments(argc, argv)) {
      set_up_logging(0);
      try {
        return oauthmail::cli::run_sendmail(*args);
      } catch (const std::exception& e) {
        spdlog::critical("internal error: {}", e.what());
        return EX_SOFTWARE;
      }
    }
  }
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

  set_up_logging(verbosity);

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
