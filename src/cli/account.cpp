// `oauthmail account list|status|login|logout` and `oauthmail token show|refresh|keep-alive`: the
// accounts of the configuration and their tokens, through the token service. --json for scripts.
#include "cli/account.hpp"

#include <fmt/format.h>
#include <sysexits.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>

#include "cli/exit_status.hpp"
#include "cli/session.hpp"
#include "oauth/jwt.hpp"
#include "oauth/presets.hpp"

namespace oauthmail::cli {

namespace {

void print_error(const std::string& text) { fmt::print(stderr, "oauthmail: error: {}\n", text); }

int exit_for(const core::error& e) {
  switch (e.classification()) {
    case core::failure_class::transient:
      return EX_TEMPFAIL;
    case core::failure_class::protocol:
      return EX_PROTOCOL;
    case core::failure_class::bug:
      return EX_SOFTWARE;
    default:
      return EX_CONFIG;
  }
}

long long unix_seconds(oauth::wall_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

boost::json::array to_json_array(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

boost::json::object status_json(const config::account& a, const net::token_status& s) {
  boost::json::object o;
  o["name"] = a.name;
  o["provider"] = std::string(oauth::provider_name(a.provider));
  o["flow"] = std::string(oauth::flow_name(a.flow));
  o["user"] = a.user;
  o["has_access_token"] = s.has_access_token;
  o["has_refresh_token"] = s.has_refresh_token;
  if (s.has_access_token) {
    o["expires_at"] = unix_seconds(s.expires_at);
    o["obtained_at"] = unix_seconds(s.obtained_at);
    o["scopes"] = to_json_array(s.scopes);
  }
  o["needs_attention"] = s.attention_cause.has_value();
  if (s.attention_cause) o["attention"] = *s.attention_cause;
  return o;
}

std::string state_word(const config::account& a, const net::token_status& s) {
  if (s.attention_cause) return "needs attention";
  if (!s.has_access_token) return oauth::is_delegated(a.flow) ? "not signed in" : "no token yet";
  return "ok";
}

}  // namespace

account_command::account_command(CLI::App& app) {
  cmd_ = app.add_subcommand("account", "Configured accounts: list, status, interactive sign-in, sign-out.");
  cmd_->require_subcommand(1);
  auto add_common = [this](CLI::App* sub) {
    sub->add_option("--config", config_path_,
                    "configuration file (default: $OAUTHMAIL_CONFIG, then "
                    "$XDG_CONFIG_HOME/oauthmail/config.toml, then /etc/oauthmail/config.toml)")
        ->type_name("FILE");
  };
  list_ = cmd_->add_subcommand("list", "List the configured accounts and the state of their tokens.");
  add_common(list_);
  list_->add_flag("--json", json_, "print JSON");
  status_ = cmd_->add_subcommand("status", "Token expiry, scopes, last renewal and what needs attention.");
  add_common(status_);
  status_->add_option("name", name_, "account (default: all)")->type_name("NAME");
  status_->add_flag("--json", json_, "print JSON");
  login_ = cmd_->add_subcommand("login",
                                "Sign in: runs the account's flow (device code: shows a code to enter on another "
                                "device; authorization code: shows a URL and waits for the browser on 127.0.0.1, or "
                                "with --paste asks for the redirected address; "
                                "client credentials / service account: gets a token) and stores the result.");
  add_common(login_);
  login_->add_option("name", name_, "account")->required()->type_name("NAME");
  login_->add_flag("--paste", paste_,
                   "authorization code flow on a machine without a browser: open the address elsewhere, then "
                   "paste the address the browser was sent to (nothing listens on this machine)");
  logout_ = cmd_->add_subcommand("logout",
                                 "Delete the account's local tokens and revoke the refresh token "
                                 "where the provider supports it (RFC 7009).");
  add_common(logout_);
  logout_->add_option("name", name_, "account")->required()->type_name("NAME");
  logout_->add_flag("--json", json_, "print JSON");

  token_ = app.add_subcommand("token", "Look at or renew an account's access token.");
  token_->require_subcommand(1);
  show_ = token_->add_subcommand("show",
                                 "What the account's access token says (decoded, never trusted): expiry, "
                                 "audience, scopes or roles, user; and whether it can work for SMTP.");
  add_common(show_);
  show_->add_option("name", name_, "account")->required()->type_name("NAME");
  show_->add_flag("--reveal", reveal_, "also print the access token itself (it is a password: handle with care)");
  show_->add_flag("--json", json_, "print JSON");
  refresh_ = token_->add_subcommand("refresh", "Renew the account's access token now.");
  add_common(refresh_);
  refresh_->add_option("name", name_, "account")->required()->type_name("NAME");
  refresh_->add_flag("--json", json_, "print JSON");
  keep_alive_ = token_->add_subcommand(
      "keep-alive",
      "Refresh the idle refresh tokens of the accounts with keep_alive = true (last used 7 days ago or more), so "
      "that the provider does not expire them (Microsoft: after 90 days). For a daily systemd timer or cron job.");
  add_common(keep_alive_);
  keep_alive_->add_flag("--json", json_, "print JSON");
}

bool account_command::chosen() const { return cmd_->parsed() || token_->parsed(); }

int account_command::run() {
  auto cfg = load_configuration(config_path_);
  if (!cfg) return EX_CONFIG;
  const config::account* one = nullptr;
  if (!name_.empty()) {
    one = cfg->find(name_);
    if (!one) {
      std::string names;
      for (const auto& a : cfg->accounts) names += (names.empty() ? "" : ", ") + a.name;
      print_error("there is no account \"" + name_ + "\" in " + cfg->path + " (accounts: " + names + ").");
      return EX_USAGE;
    }
  }
  auto tokens = make_token_service(*cfg);
  const auto now = oauth::wall_clock::now();
  if (keep_alive_->parsed()) return run_keep_alive(*cfg, *tokens);

  if (list_->parsed() || status_->parsed()) {
    boost::json::array out;
    int rc = EX_OK;
    for (const auto& a : cfg->accounts) {
      if (one && one != &a) continue;
      auto s = tokens->status(a);
      if (!s) {
        print_error(s.error().message());
        rc = exit_for(s.error());
        continue;
      }
      if (json_) {
        out.push_back(status_json(a, *s));
        continue;
      }
      if (list_->parsed()) {
        fmt::print("{:<20} {:<10} {:<20} {:<32} {}\n", a.name, oauth::provider_name(a.provider),
                   oauth::flow_name(a.flow), a.user, state_word(a, *s));
        continue;
      }
      fmt::print("{} ({} {}, {})\n", a.name, oauth::provider_name(a.provider), oauth::flow_name(a.flow), a.user);
      fmt::print("  state:         {}\n", state_word(a, *s));
      if (s->has_access_token) {
        fmt::print("  access token:  expires {}\n", describe_time(s->expires_at, now));
        fmt::print("  obtained:      {}\n", describe_time(s->obtained_at, now));
        fmt::print("  scopes:        {}\n", fmt::join(s->scopes, " "));
      }
      fmt::print("  refresh token: {}\n", s->has_refresh_token ? "stored" : "none");
      if (s->attention_cause) fmt::print("  attention:     {}\n", *s->attention_cause);
    }
    if (json_) std::cout << boost::json::serialize(out) << "\n";
    return rc;
  }

  if (login_->parsed()) {
    net::login_prompt prompt;
    prompt.show_device_code = [](const std::string& uri, const std::string& code, const std::string& message) {
      fmt::print("{}\n",
                 message.empty() ? fmt::format("To sign in, open {} and enter the code {}", uri, code) : message);
      fmt::print("Waiting for the sign-in to complete...\n");
      std::fflush(stdout);
    };
    const bool paste = paste_;
    prompt.show_authorize_url = [paste](const std::string& url) {
      fmt::print("Open this address in a browser and sign in:\n\n  {}\n\n", url);
      if (paste) {
        fmt::print(
            "Afterwards the browser shows an error page for 127.0.0.1 or localhost: that is expected.\n"
            "Copy the whole address from the browser's address bar and paste it here:\n");
      } else {
        fmt::print("Waiting for the browser to come back (5 minutes)...\n");
      }
      std::fflush(stdout);
    };
    prompt.read_pasted_redirect = []() -> std::optional<std::string> {
      std::string line;
      if (!std::getline(std::cin, line)) return std::nullopt;
      return line;
    };
    prompt.paste = paste_;
    auto t = tokens->login(*one, prompt);
    if (!t) {
      print_error(t.error().message());
      return exit_for(t.error());
    }
    fmt::print("Signed in: account {} has a token valid until {}{}.\n", one->name, describe_time(t->expires_at, now),
               t->refresh_token ? " and a refresh token" : "");
    return EX_OK;
  }

  if (logout_->parsed()) return run_logout(*one, *tokens);

  if (show_->parsed() || refresh_->parsed()) {
    auto t = refresh_->parsed() ? tokens->renew(*one) : tokens->access_token(*one);
    if (!t) {
      print_error(t.error().message());
      return exit_for(t.error());
    }
    const auto facts = oauth::inspect_token(t->access_token.expose());
    std::vector<std::string> warnings;
    if (auto e = oauth::resolve_provider(*one)) warnings = oauth::smtp_suitability(facts, *e, now);
    if (json_) {
      boost::json::object o;
      o["account"] = one->name;
      o["expires_at"] = unix_seconds(t->expires_at);
      o["obtained_at"] = unix_seconds(t->obtained_at);
      o["scopes"] = to_json_array(t->scopes);
      o["format"] = facts.format == oauth::token_format::jwt ? "jwt" : "opaque";
      o["audiences"] = to_json_array(facts.audiences);
      o["token_scopes"] = to_json_array(facts.scopes);
      o["roles"] = to_json_array(facts.roles);
      o["user"] = facts.user;
      o["warnings"] = to_json_array(warnings);
      if (reveal_) o["access_token"] = t->access_token.expose();
      std::cout << boost::json::serialize(o) << "\n";
      return EX_OK;
    }
    fmt::print("account:   {}\n", one->name);
    fmt::print("expires:   {}\n", describe_time(t->expires_at, now));
    fmt::print("scopes:    {}\n", fmt::join(t->scopes, " "));
    if (facts.format == oauth::token_format::jwt) {
      fmt::print("format:    JWT (decoded, not verified)\n");
      fmt::print("audience:  {}\n", fmt::join(facts.audiences, " "));
      if (!facts.scopes.empty()) fmt::print("scp:       {}\n", fmt::join(facts.scopes, " "));
      if (!facts.roles.empty()) fmt::print("roles:     {}\n", fmt::join(facts.roles, " "));
      if (!facts.user.empty()) fmt::print("user:      {}\n", facts.user);
    } else {
      fmt::print("format:    opaque ({})\n", facts.opaque_kind);
    }
    for (const auto& w : warnings) fmt::print("warning:   {}\n", w);
    if (reveal_) fmt::print("token:     {}\n", t->access_token.expose());
    return EX_OK;
  }
  return EX_USAGE;
}

int account_command::run_logout(const config::account& account, net::token_service& tokens) {
  auto r = tokens.sign_out(account);
  if (!r) {
    print_error(r.error().message());
    return exit_for(r.error());
  }
  const bool failed = r->revocation == net::revocation_outcome::failed;
  const std::string why = failed && r->revocation_error ? r->revocation_error->message() : "";
  if (json_) {
    boost::json::object o;
    o["account"] = account.name;
    o["deleted"] = true;
    o["had_refresh_token"] = r->had_refresh_token;
    o["revocation"] = std::string(net::to_string(r->revocation));
    if (failed) o["revocation_error"] = why;
    std::cout << boost::json::serialize(o) << "\n";
    return EX_OK;
  }
  switch (r->revocation) {
    case net::revocation_outcome::revoked:
      fmt::print(
          "Signed out: the local tokens of account {} are deleted, and the provider revoked its refresh token.\n",
          account.name);
      break;
    case net::revocation_outcome::unsupported:
      fmt::print(
          "Signed out: the local tokens of account {} are deleted. The provider offers no revocation (RFC 7009): the "
          "refresh token stays valid there until it expires or is revoked at the provider.\n",
          account.name);
      break;
    case net::revocation_outcome::failed:
      fmt::print(stderr,
                 "oauthmail: warning: revoking the refresh token of account {} at the provider failed: {}. It stays "
                 "valid there until it expires, or until it is revoked at the provider.\n",
                 account.name, why);
      fmt::print("Signed out: the local tokens of account {} are deleted.\n", account.name);
      break;
    case net::revocation_outcome::not_needed:
      fmt::print("Signed out: the local tokens of account {} are deleted.\n", account.name);
      break;
  }
  return EX_OK;
}

int account_command::run_keep_alive(const config::configuration& cfg, net::token_service& tokens) {
  const auto now = oauth::wall_clock::now();
  const auto reports = tokens.keep_alive(cfg.accounts, now);
  int rc = EX_OK;
  boost::json::array out;
  for (const auto& r : reports) {
    if (r.error) {
      // The most urgent failure decides the exit status: a person's, then a temporary one.
      const int code = exit_for(*r.error);
      if (rc == EX_OK || code == EX_CONFIG) rc = code;
    }
    std::string result = r.error ? "failed" : r.refreshed ? "refreshed" : std::string(oauth::to_string(r.verdict));
    if (json_) {
      boost::json::object o;
      o["account"] = r.account;
      o["result"] = result;
      if (r.last_used) o["last_used"] = unix_seconds(*r.last_used);
      if (r.due_at) o["next_due"] = unix_seconds(*r.due_at);
      if (r.error) {
        o["error"] = r.error->message();
        o["failure_class"] = std::string(core::to_string(r.error->classification()));
      }
      out.push_back(std::move(o));
      continue;
    }
    std::string detail;
    if (r.error) {
      detail = r.error->message();
    } else if (r.refreshed) {
      detail = "the refresh token was last used " + describe_time(*r.last_used, now) + "; next refresh due " +
               describe_time(*r.due_at, now);
    } else {
      switch (r.verdict) {
        case oauth::keep_alive_verdict::fresh:
          detail = "used " + describe_time(*r.last_used, now) + "; a refresh is due " + describe_time(*r.due_at, now);
          break;
        case oauth::keep_alive_verdict::disabled:
          detail = "keep_alive is off for this account";
          break;
        case oauth::keep_alive_verdict::not_applicable:
          detail = "app-only: no refresh token to keep alive";
          break;
        case oauth::keep_alive_verdict::not_signed_in:
          detail = "no refresh token is stored; run `oauthmail account login " + r.account + "`";
          break;
        case oauth::keep_alive_verdict::due:
          break;
      }
    }
    std::replace(result.begin(), result.end(), '_', ' ');  // "not signed in"
    fmt::print("{:<20} {:<14} {}\n", r.account, result, detail);
  }
  if (json_) std::cout << boost::json::serialize(out) << "\n";
  return rc;
}

}  // namespace oauthmail::cli
