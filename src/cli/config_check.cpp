// `oauthmail config check`: loads the configuration with config::load_file() and prints the
// outcome for people (problems on stderr, accounts on stdout) or as one JSON object on stdout.
#include "cli/config_check.hpp"

#include <fmt/format.h>
#include <sysexits.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>

#include "config/config.hpp"

namespace oauthmail::cli {

namespace {

std::string plural(std::size_t n, std::string_view word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

boost::json::object to_json(const config::problem& p) {
  boost::json::object o;
  o["file"] = p.where.file;
  o["line"] = p.where.line;
  o["column"] = p.where.column;
  o["key"] = p.key;
  o["message"] = p.message;
  o["example"] = p.example;
  return o;
}

boost::json::object to_json(const config::account& a, bool is_default) {
  boost::json::object o;
  o["name"] = a.name;
  o["provider"] = config::to_string(a.provider);
  o["flow"] = config::to_string(a.flow);
  o["user"] = a.user;
  o["default"] = is_default;
  return o;
}

bool is_default(const config::configuration& c, const config::account& a) {
  return c.default_account ? *c.default_account == a.name : &a == &c.accounts.front();
}

void print_human(const std::string& path, const config::load_result& r) {
  if (!r.config) {
    for (const auto& p : r.problems) fmt::print(stderr, "{}\n", p.to_string());
    fmt::print(stderr, "{}: {}; the file is not valid (nothing was contacted, no secret was read)\n", path,
               plural(r.problems.size(), "problem"));
    return;
  }
  const auto& c = *r.config;
  fmt::print("{}: {} OK\n", path, plural(c.accounts.size(), "account"));
  std::size_t name_width = 0;
  std::size_t provider_width = 0;
  std::size_t flow_width = 0;
  for (const auto& a : c.accounts) {
    name_width = std::max(name_width, a.name.size());
    provider_width = std::max(provider_width, config::to_string(a.provider).size());
    flow_width = std::max(flow_width, config::to_string(a.flow).size());
  }
  for (const auto& a : c.accounts) {
    const std::string user = a.user.empty() ? std::string("-") : a.user;
    fmt::print("  {:<{}}  {:<{}}  {:<{}}  {}{}\n", a.name, name_width, config::to_string(a.provider), provider_width,
               config::to_string(a.flow), flow_width, user, is_default(c, a) ? "  (default)" : "");
  }
}

void print_json(const std::string& path, const config::load_result& r) {
  boost::json::object out;
  out["path"] = path;
  out["valid"] = r.config.has_value();
  boost::json::array problems;
  for (const auto& p : r.problems) problems.push_back(to_json(p));
  out["problems"] = std::move(problems);
  boost::json::array accounts;
  if (r.config) {
    for (const auto& a : r.config->accounts) accounts.push_back(to_json(a, is_default(*r.config, a)));
  }
  out["accounts"] = std::move(accounts);
  fmt::print("{}\n", boost::json::serialize(out));
}

}  // namespace

config_command::config_command(CLI::App& app) {
  cmd_ = app.add_subcommand("config", "Work with the configuration file.");
  cmd_->require_subcommand(1);
  check_ = cmd_->add_subcommand("check", "Validate the configuration file and list every problem at once.");
  check_->footer(
      "The file is found by: --config FILE, else $OAUTHMAIL_CONFIG, else\n"
      "$XDG_CONFIG_HOME/oauthmail/config.toml (or ~/.config/oauthmail/config.toml), else\n"
      "/etc/oauthmail/config.toml. Nothing is contacted and no secret reference is resolved.\n\n"
      "Exit status: 0 the file is valid; 78 (EX_CONFIG) it has problems (each one is listed\n"
      "as FILE:LINE:COLUMN: KEY: what is wrong (example: a right value)).\n"
      "See docs/configuration.md for every key.");
  check_->add_option("--config", config_path_, "the configuration file to check (default: see below)")
      ->type_name("FILE");
  check_->add_flag("--json", json_,
                   "print one JSON object: {\"path\", \"valid\", \"problems\": [{file, line, column, key, message, "
                   "example}], \"accounts\": [{name, provider, flow, user, default}]}");
}

int config_command::run() {
  if (check_->parsed()) return run_check();
  return EX_USAGE;
}

int config_command::run_check() {
  const std::string path = config::resolve_path(config_path_);
  const config::load_result r = config::load_file(path);
  if (json_) {
    print_json(path, r);
  } else {
    print_human(path, r);
  }
  std::fflush(stdout);
  return r.config ? EX_OK : EX_CONFIG;
}

}  // namespace oauthmail::cli
