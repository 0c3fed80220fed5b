// `oauthmail doctor`: gathers the facts step by step (the configuration, the secrets, two network
// probes — one without credentials up to EHLO, one with the token for AUTH and the test message —
// and the token service's answer), lets doctor::diagnose_*() judge them into a checklist, and
// prints it.
#include "cli/doctor.hpp"

#include <fmt/format.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "doctor/checklist.hpp"
#include "doctor/diagnose.hpp"
#include "net/probe.hpp"
#include "net/token_service.hpp"
#include "oauth/jwt.hpp"
#include "oauth/presets.hpp"
#include "oauth/random.hpp"
#include "oauth/scope_check.hpp"
#include "secrets/reference.hpp"

namespace oauthmail::cli {

namespace {

using doctor::step_id;

// The locale's character set, by the POSIX precedence LC_ALL > LC_CTYPE > LANG (without changing
// the process's locale).
bool utf8_locale() {
  for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    std::string value(v);
    std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
    return value.find("utf-8") != std::string::npos || value.find("utf8") != std::string::npos;
  }
  return false;
}

std::string default_ehlo_name() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) == 0 && name[0] != '\0') {
    std::string n(name.data());
    if (n.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == std::string::npos) {
      return n;
    }
  }
  return "localhost";
}

bool has_control_octet(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

smtp::tls_mode tls_mode_of(config::tls_setting t) {
  switch (t) {
    case config::tls_setting::implicit:
      return smtp::tls_mode::implicit;
    case config::tls_setting::none:
      return smtp::tls_mode::none;
    case config::tls_setting::starttls:
      break;
  }
  return smtp::tls_mode::starttls;
}

// Prints the steps as they complete (text mode): every step up to the first one not yet checked.
class progress {
 public:
  progress(const doctor::checklist& list, bool enabled, bool unicode)
      : list_(list), enabled_(enabled), unicode_(unicode) {}

  void show_done() {
    if (!enabled_) return;
    const auto& steps = list_.steps();
    while (printed_ < steps.size() && steps[printed_].status != doctor::verdict::not_checked) {
      fmt::print("{}", doctor::render_step(steps[printed_], unicode_));
      ++printed_;
    }
    std::fflush(stdout);
  }
  void show_rest() {
    if (!enabled_) return;
    show_done();
    const auto& steps = list_.steps();
    for (; printed_ < steps.size(); ++printed_) fmt::print("{}", doctor::render_step(steps[printed_], unicode_));
    fmt::print("\n{}", doctor::render_summary(list_));
    std::fflush(stdout);
  }

 private:
  const doctor::checklist& list_;
  bool enabled_;
  bool unicode_;
  std::size_t printed_ = 0;
};

}  // namespace

doctor_command::doctor_command(CLI::App& app) {
  cmd_ = app.add_subcommand("doctor", "Check an account's whole path to its SMTP server and say what to fix.");
  cmd_->footer(
      "Steps, in order (the walk stops at the first failure):\n"
      "  configuration, secret references, DNS, TCP connection, SMTP greeting, TLS and the\n"
      "  server's certificate, EHLO (AUTH and its mechanisms), token (a fresh one from the\n"
      "  provider), token contents (audience, scopes or roles), SMTP AUTH, and with --send-test\n"
      "  a test message.\n\n"
      "Exit status (sysexits.h): 0 every step passed (warnings allowed); else the code of the\n"
      "failed step: 78 configuration, secrets, TLS or EHLO; 68 unknown host; 69 connection\n"
      "refused or message refused; 75 temporary (time-outs, network); 76 protocol error;\n"
      "77 token or AUTH refused, or the test message refused for a permission; 67 unknown recipient.\n"
      "Nothing secret is printed. See docs/doctor.md.");
  cmd_->add_option("account", account_, "the account to check (default: default_account, else the first)")
      ->type_name("ACCOUNT");
  cmd_->add_option("--config", config_path_,
                   "configuration file (default: $OAUTHMAIL_CONFIG, then $XDG_CONFIG_HOME/oauthmail/config.toml, "
                   "then /etc/oauthmail/config.toml)")
      ->type_name("FILE");
  cmd_->add_flag("--json", json_,
                 "print one JSON object: {\"ok\", \"exit_code\", \"account\", \"config\", \"steps\": [{\"step\", "
                 "\"title\", \"status\": pass|warn|fail|not_checked, \"detail\", \"facts\", \"fix\", \"exit_code\"}]}");
  cmd_->add_option("--send-test", send_test_, "after AUTH, send a short test message to this address")->type_name("TO");
  cmd_->add_option("--from", from_,
                   "the test message's sender (default: the account's user); one of its allowed_senders checks "
                   "Send As")
      ->type_name("ADDR");
  cmd_->add_option("--timeout", timeout_,
                   "seconds to wait at each network step (DNS, connect, TLS, each reply, the token request); "
                   "default 20")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 600));
}

int doctor_command::run() {
  const auto unusable = [](const std::optional<std::string>& v) { return v && (v->empty() || has_control_octet(*v)); };
  for (const auto& [option, value] : {std::pair{"--send-test", &send_test_}, std::pair{"--from", &from_}}) {
    if (unusable(*value)) {
      fmt::print(stderr, "oauthmail: error: {} must be an address without control characters.\n", option);
      return EX_USAGE;
    }
  }
  if (from_ && !send_test_) {
    fmt::print(stderr, "oauthmail: error: --from is the test message's sender; it needs --send-test TO.\n");
    return EX_USAGE;
  }

  const auto now = oauth::wall_clock::now();
  const auto timeout = std::chrono::milliseconds(std::chrono::seconds(timeout_));
  doctor::checklist list(send_test_.has_value());
  progress out(list, !json_, !json_ && isatty(STDOUT_FILENO) == 1 && utf8_locale());

  // --- configuration ---
  doctor::configuration_facts cf;
  cf.path = config::resolve_path(config_path_);
  cf.requested_account = account_;
  auto loaded = config::load_file(cf.path);
  cf.problems = loaded.problems;
  std::optional<oauth::provider_endpoints> endpoints;
  if (loaded.config) {
    const auto& cfg = *loaded.config;
    for (const auto& a : cfg.accounts) cf.account_names.push_back(a.name);
    const config::account* a = nullptr;
    if (!account_.empty()) {
      a = cfg.find(account_);
    } else {
      a = cfg.default_account ? cfg.find(*cfg.default_account) : nullptr;
      if (a == nullptr && !cfg.accounts.empty()) a = &cfg.accounts.front();
      cf.chosen_by_default = true;
    }
    cf.account_found = a != nullptr;
    if (a != nullptr) {
      cf.account = *a;
      cf.scope_problems = oauth::check_scopes(*a);
      auto e = oauth::resolve_provider(*a);
      if (!e) {
        cf.provider_error = e.error().message();
      } else {
        cf.provider_warnings = e->warnings;
        cf.view = doctor::make_account_view(*a, *e);
        cf.view->timeout = timeout;
        endpoints = std::move(*e);
      }
      if (send_test_ && from_ && !a->may_send_as(*from_)) cf.refused_sender = *from_;
    }
  }
  list.record(step_id::configuration, doctor::diagnose_configuration(cf));
  if (cf.view) list.use_tls_mode(cf.view->tls);
  out.show_done();

  auto finish = [&]() {
    if (json_) {
      boost::json::object o = doctor::to_json(list);
      o["config"] = cf.path;
      o["account"] = cf.account ? cf.account->name : std::string();
      if (cf.view) o["server"] = cf.view->host + ":" + std::to_string(cf.view->port);
      fmt::print("{}\n", boost::json::serialize(o));
      std::fflush(stdout);
    } else {
      out.show_rest();
    }
    return list.exit_code();
  };
  if (list.stopped()) return finish();
  const config::configuration& cfg = *loaded.config;
  const config::account& account = *cf.account;
  const doctor::account_view& view = *cf.view;

  // --- secrets ---
  std::vector<doctor::secret_check> checks;
  auto check = [&](std::string key, const config::secret_setting& s) {
    if (s.empty()) return;
    const std::string shown = s.inline_value ? std::string("inline value (in the 0600 file)") : s.reference;
    if (s.inline_value) {
      checks.push_back(doctor::inspect_secret(std::move(key), shown, *s.inline_value, view, now));
      return;
    }
    auto resolved = secrets::resolve(s.reference);
    if (!resolved) {
      doctor::secret_check c;
      c.key = std::move(key);
      c.shown = shown;
      c.error = resolved.error().message();
      checks.push_back(std::move(c));
      return;
    }
    checks.push_back(doctor::inspect_secret(std::move(key), shown, resolved->value, view, now));
    if (resolved->warning && !checks.back().warning) checks.back().warning = resolved->warning;
  };
  check("client_secret", account.client_secret);
  check("client_certificate", account.client_certificate);
  check("client_private_key", account.client_private_key);
  check("service_account_key", account.service_account_key);
  check("token_cache.key", cfg.token_cache.key);
  list.record(step_id::secrets, doctor::diagnose_secrets(checks));
  out.show_done();
  if (list.stopped()) return finish();

  // --- the network, without credentials ---
  const auto probe_options = [&] {
    net::probe_options po;
    po.host = view.host;
    po.port = view.port;
    po.timeout = timeout;
    po.session.tls = tls_mode_of(view.tls);
    po.session.ehlo_domain = default_ehlo_name();
    po.session.allow_plaintext_auth = account.smtp.allow_plaintext_auth;
    po.session.limits = {timeout, timeout, timeout, timeout, timeout, timeout, timeout};
    if (view.mechanism == config::mechanism_setting::xoauth2) po.session.mechanism = sasl::mechanism::xoauth2;
    if (view.mechanism == config::mechanism_setting::oauthbearer) po.session.mechanism = sasl::mechanism::oauthbearer;
    po.tls.ca_file = account.smtp.ca_file;
    po.tls.skip_verify = account.smtp.tls_skip_verify;
    return po;
  };
  {
    auto probe = net::run_probe(probe_options());
    doctor::diagnose_connection(probe, view, list);
  }
  out.show_done();
  if (list.stopped()) return finish();

  // --- the token: a renewal, so that the credentials are tested now ---
  net::token_service_options to;
  to.cache_path = cfg.token_cache.path.value_or(net::default_cache_path());
  to.key = cfg.token_cache.key;
  to.http.timeout = timeout;
  to.http.connect_timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(10));
  to.retry_budget = timeout;
  to.lock_timeout = timeout;
  net::token_service tokens(std::move(to));
  auto token = tokens.renew(account);
  if (!token) {
    list.record(step_id::token, doctor::diagnose_token_error(token.error(), view));
    out.show_done();
    return finish();
  }
  list.record(step_id::token, doctor::diagnose_token_obtained(*token, view, now));
  const auto facts = oauth::inspect_token(token->access_token.expose());
  list.record(step_id::token_contents, doctor::diagnose_token_contents(facts, *endpoints, view, now));
  const bool token_warned = list.at(step_id::token_contents).status == doctor::verdict::warn;
  out.show_done();

  // --- AUTH (and the test message) on a new connection, with the token ---
  net::probe_options pa = probe_options();
  sasl::credentials creds;
  creds.user = account.user;
  creds.secret = token->access_token;
  creds.host = view.host;
  creds.port = view.port;
  pa.session.credentials = std::move(creds);
  pa.session.credential_kind = sasl::credential_kind::bearer_token;
  const std::string from = from_.value_or(account.user);
  if (send_test_) {
    smtp::outgoing_message m;
    m.env.mail_from = from;
    m.env.rcpt_to = {*send_test_};
    const std::string id = oauth::random_uuid(oauth::system_random());
    m.body = std::make_unique<smtp::string_body>(
        doctor::compose_test_message(from, *send_test_, account.name, oauth::wall_clock::now(), id));
    pa.message = std::move(m);
  }
  auto auth = net::run_probe(std::move(pa));
  list.record(step_id::auth, doctor::diagnose_auth(auth, view, token_warned));
  out.show_done();
  if (send_test_ && !list.stopped()) {
    list.record(step_id::send_test, doctor::diagnose_send_test(auth, view, from, *send_test_));
  }
  return finish();
}

}  // namespace oauthmail::cli
