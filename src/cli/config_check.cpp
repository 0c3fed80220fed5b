// `oauthmail config check`: loads the configuration with config::load_file(), runs the providers'
// scope and credential checks (oauth::check_scopes()) on a file that loaded, and prints the outcome
// for people (problems and warnings on stderr, accounts on stdout) or as one JSON object on stdout.
#include "cli/config_check.hpp"

#include <fmt/format.h>
#include <sysexits.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <optional>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "oauth/scope_check.hpp"

namespace oauthmail::cli {

namespace {

// What the check found: the loader's problems, then (for a file that loaded) the scope checks'
// errors as problems and their warnings.
struct outcome {
  std::optional<config::configuration> config;  // set when there is no problem
  std::vector<config::problem> problems;
  std::vector<config::problem> warnings;
};

bool before(const config::problem& a, const config::problem& b) {
  return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
}

// A scope_problem as a config::problem at the position of what it is about.
config::problem to_problem(const config::account& a, std::size_t index, const oauth::scope_problem& sp) {
  std::string key = sp.key;
  if (sp.key == "scopes" && !sp.scope.empty()) {
    const auto it = std::find(a.scopes.begin(), a.scopes.end(), sp.scope);
    if (it != a.scopes.end()) key = fmt::format("scopes[{}]", it - a.scopes.begin());
  }
  config::problem p;
  p.where = a.location_of(key);
  p.key = fmt::format("account[{}].{}", index, key);
  // A fix that is a line of the file ("scopes = [...]") is the example; other advice joins the message.
  const auto eq = sp.fix.find(" = ");
  const bool is_line =
      eq != std::string::npos && eq > 0 && sp.fix.find_first_not_of("abcdefghijklmnopqrstuvwxyz_.") == eq;
  p.message = is_line || sp.fix.empty() ? sp.cause : fmt::format("{}; {}", sp.cause, sp.fix);
  if (is_line) p.example = sp.fix;
  return p;
}

outcome check(const std::string& path) {
  config::load_result loaded = config::load_file(path);
  outcome out;
  out.problems = std::move(loaded.problems);
  if (!loaded.config) return out;
  const auto& accounts = loaded.config->accounts;
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    for (const auto& sp : oauth::check_scopes(accounts[i])) {
      auto& list = sp.severity == oauth::scope_severity::error ? out.problems : out.warnings;
      list.push_back(to_problem(accounts[i], i, sp));
    }
  }
  std::stable_sort(out.problems.begin(), out.problems.end(), before);
  std::stable_sort(out.warnings.begin(), out.warnings.end(), before);
  if (out.problems.empty()) out.config = std::move(loaded.config);
  return out;
}

// "FILE:LINE:COLUMN: warning: KEY: MESSAGE (example: ...)"
std::string warning_text(const config::problem& w) {
  std::string location = w.where.file;
  if (w.where.line > 0) location += fmt::format(":{}:{}", w.where.line, w.where.column);
  config::problem rest = w;
  rest.where = config::source_location{};
  std::string text = rest.to_string();  // ": KEY: MESSAGE ..."
  return fmt::format("{}: warning{}", location, text);
}

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

void print_human(const std::string& path, const outcome& r) {
  // Problems and warnings together, in file order.
  std::vector<std::pair<const config::problem*, bool>> all;  // (item, is a warning)
  for (const auto& p : r.problems) all.emplace_back(&p, false);
  for (const auto& w : r.warnings) all.emplace_back(&w, true);
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return before(*a.first, *b.first); });
  for (const auto& [item, is_warning] : all) {
    fmt::print(stderr, "{}\n", is_warning ? warning_text(*item) : item->to_string());
  }
  if (!r.config) {
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

void print_json(const std::string& path, const outcome& r) {
  boost::json::object out;
  out["path"] = path;
  out["valid"] = r.config.has_value();
  boost::json::array problems;
  for (const auto& p : r.problems) problems.push_back(to_json(p));
  out["problems"] = std::move(problems);
  boost::json::array warnings;
  for (const auto& w : r.warnings) warnings.push_back(to_json(w));
  out["warnings"] = std::move(warnings);
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
      "Besides keys and values, the scope and credential mistakes the providers punish later\n"
      "(a Graph scope for SMTP, app-only without /.default, ...) are checked: errors make the\n"
      "file invalid; warnings are printed but do not change the exit status.\n\n"
      "Exit status: 0 the file is valid; 78 (EX_CONFIG) it has problems (each one is listed\n"
      "as FILE:LINE:COLUMN: KEY: what is wrong (example: a right value)).\n"
      "See docs/configuration.md for every key.");
  check_->add_option("--config", config_path_, "the configuration file to check (default: see below)")
      ->type_name("FILE");
  check_->add_flag("--json", json_,
                   "print one JSON object: {\"path\", \"valid\", \"problems\": [{file, line, column, key, message, "
                   "example}], \"warnings\": [same], \"accounts\": [{name, provider, flow, user, default}]}");
}

int config_command::run() {
  if (check_->parsed()) return run_check();
  return EX_USAGE;
}

int config_command::run_check() {
  const std::string path = config::resolve_path(config_path_);
  const outcome r = check(path);
  if (json_) {
    print_json(path, r);
  } else {
    print_human(path, r);
  }
  std::fflush(stdout);
  return r.config ? EX_OK : EX_CONFIG;
}

}  // namespace oauthmail::cli
