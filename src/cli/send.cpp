// `oauthmail send`: sends one message through one SMTP server with XOAUTH2, OAUTHBEARER, PLAIN or
// LOGIN: the complete RFC 5322 message read on stdin, or one composed from options (--subject,
// --text, --html, --attach...; see cli/compose_options.hpp). Prints one line per recipient (or JSON
// with --json, or the plan and the message with --dry-run); exits with sysexits.h codes.
#include "cli/send.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>
#include <limits>

#include "cli/delivery.hpp"
#include "cli/exit_status.hpp"
#include "cli/session.hpp"
#include "mime/address.hpp"
#include "mime/spool.hpp"
#include "net/smtp_connection.hpp"
#include "oauth/presets.hpp"
#include "secrets/reference.hpp"

namespace oauthmail::cli {

namespace {

struct server_address {
  std::string host;
  std::optional<std::uint16_t> port;
};

core::result<server_address> parse_server(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return core::error(core::make_error_code(core::errc::invalid_argument),
                       "--server \"" + text + "\": " + why + " Expected HOST, HOST:PORT or [IPv6]:PORT.",
                       core::failure_class::needs_human);
  };
  server_address out;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) return bad("missing ']'.");
    out.host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return bad("unexpected text after ']'.");
      port_text = text.substr(close + 2);
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon != std::string::npos && text.find(':') != colon) return bad("an IPv6 address must be in brackets.");
    out.host = text.substr(0, colon);
    if (colon != std::string::npos) port_text = text.substr(colon + 1);
  }
  if (out.host.empty()) return bad("the host is empty.");
  for (const char c : out.host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '@')
      return bad("the host contains an invalid character.");
  }
  if (!port_text.empty() || text.back() == ':') {
    if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos) {
      return bad("the port must be a number from 1 to 65535.");
    }
    const unsigned long port = std::stoul(port_text);
    if (port == 0 || port > 65535) return bad("the port must be a number from 1 to 65535.");
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

// The last error printed (for --json when the command stops before sending).
std::string& last_error() {
  static std::string text;
  return text;
}

void print_error(const std::string& text) {
  last_error() = text;
  fmt::print(stderr, "oauthmail: error: {}\n", text);
}

std::string_view tls_name(smtp::tls_mode m) {
  return m == smtp::tls_mode::implicit ? "implicit TLS" : m == smtp::tls_mode::none ? "no TLS" : "STARTTLS";
}

bool has_control_octet(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Addresses and names go into SMTP commands and into our output: control octets (CR, LF, NUL...)
// are refused here, before anything is sent.
std::optional<std::string> check_plain_argument(std::string_view option, std::string_view value) {
  if (has_control_octet(value)) {
    return std::string(option) + " contains a control character (such as a line break); remove it.";
  }
  return std::nullopt;
}

}  // namespace

send_command::send_command(CLI::App& app) {
  cmd_ = app.add_subcommand("send",
                            "Send a message through an SMTP server: the RFC 5322 message read on stdin, or one "
                            "composed with --subject, --text, --html, --attach...");
  cmd_->footer(
      "SECRET is a reference, never the value itself: env:NAME (an environment variable),\n"
      "file:PATH (a file, chmod 600), cmd:COMMAND (its output) or credential:NAME (systemd).\n\n"
      "Exit status (sysexits.h): 0 delivered to every recipient; 64 bad arguments (incl. an address\n"
      "that does not parse); 65 the message cannot be sent as is (larger than the server's SIZE, a\n"
      "line over 998 octets, not UTF-8); 66 a file to attach cannot be read; 67 a recipient is unknown;\n"
      "69 refused permanently; 73 no temporary file; 74 reading stdin failed; 75 temporary failure,\n"
      "try again later; 76 protocol error; 77 authentication refused; 78 bad configuration (secret,\n"
      "CA file, server without STARTTLS or AUTH); 70 internal error.\n"
      "With several recipients, check the per-recipient lines before retrying: some may have been\n"
      "delivered already.\n\n"
      "Example (Microsoft 365, a token in a file):\n"
      "  oauthmail send --server smtp.office365.com:587 --auth xoauth2 --user me@contoso.com \\\n"
      "      --bearer file:/run/secrets/m365-token --from me@contoso.com --to you@example.org < message.eml\n\n"
      "Composing (with a configured account):\n"
      "  oauthmail send --from 'Reports <me@contoso.com>' --to you@example.org --subject 'Nightly report' \\\n"
      "      --text-file report.txt --attach report.pdf");
  cmd_->add_option("--server", server_,
                   "SMTP server: HOST, HOST:PORT or [IPv6]:PORT (default port: 465 with "
                   "--tls implicit, else 587)")
      ->type_name("HOST[:PORT]");
  cmd_->add_option("--account", account_,
                   "send with a configured account (server, TLS and an OAuth2 token managed by oauthmail); "
                   "default when --server is not given: the account allowed to send as --from")
      ->type_name("NAME");
  cmd_->add_option("--config", config_path_,
                   "configuration file for --account (default: $OAUTHMAIL_CONFIG, then "
                   "$XDG_CONFIG_HOME/oauthmail/config.toml, then /etc/oauthmail/config.toml)")
      ->type_name("FILE");
  cmd_->add_option("--tls", tls_,
                   "starttls (port 587), implicit (port 465) or none (test servers only); default: implicit for "
                   "port 465, else starttls")
      ->type_name("MODE")
      ->check(CLI::IsMember({"starttls", "implicit", "none"}));
  cmd_->add_option("--ca-file", ca_file_, "PEM file of CA certificates to trust instead of the system store")
      ->type_name("PEM")
      ->check(CLI::ExistingFile);
  cmd_->add_flag("--tls-skip-verify", tls_skip_verify_,
                 "UNSAFE: do not verify the server's certificate (anyone in between can read the token)");
  cmd_->add_flag("--allow-plaintext-auth", allow_plaintext_auth_,
                 "UNSAFE: allow AUTH over an unencrypted connection (--tls none; local test servers only)");
  cmd_->add_option("--auth", auth_,
                   "SASL mechanism: xoauth2, oauthbearer, plain or login (default: chosen from what the server "
                   "offers: XOAUTH2 then OAUTHBEARER for --bearer, PLAIN then LOGIN for --password)")
      ->type_name("MECHANISM")
      ->check(CLI::IsMember({"xoauth2", "oauthbearer", "plain", "login"}, CLI::ignore_case));
  cmd_->add_option("--user", user_, "user name / mailbox to authenticate as (for XOAUTH2 the mailbox address)")
      ->type_name("USER");
  auto* bearer =
      cmd_->add_option("--bearer", bearer_, "OAuth2 access token, as a SECRET reference")->type_name("SECRET");
  auto* password = cmd_->add_option("--password", password_, "password, as a SECRET reference")->type_name("SECRET");
  bearer->excludes(password);
  from_option_ = cmd_->add_option("--from", from_,
                                  "sender: MAIL FROM, and the From header of a composed message; required "
                                  "without an account, with one its user by default")
                     ->type_name("ADDR");
  cmd_->add_option("--to", to_, "recipient (RCPT TO, and the To header of a composed message); repeatable")
      ->type_name("ADDR");
  compose_ = std::make_unique<compose_options>(cmd_);
  cmd_->add_flag("--dry-run", dry_run_,
                 "print the plan (account, server, mechanism, token state) and the message; send nothing");
  cmd_->add_flag("--json", json_, "print the result as JSON: one entry per recipient");
  cmd_->add_option("--ehlo", ehlo_, "name to announce in EHLO (default: this host's name)")->type_name("NAME");
  cmd_->add_option("--connect-timeout", connect_timeout_, "seconds to wait for the TCP connection (default 30)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 3600));
  cmd_->add_option("--timeout", reply_timeout_,
                   "seconds to wait for each reply (default: RFC 5321's, 2 to 10 minutes per step)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 3600));
  cmd_->add_flag("--no-pipelining", no_pipelining_, "do not pipeline MAIL/RCPT/DATA even when offered");
}

int send_command::run() {
  const int status = run_checked();
  if (json_ && !json_printed_) {
    // Stopped before sending: still one JSON object, every recipient "not_sent".
    const core::result<std::vector<smtp::message_result>> none =
        core::error(core::make_error_code(core::errc::invalid_argument), last_error(), core::failure_class::permanent);
    fmt::print("{}\n", result_json(none, message_.envelope_to.empty() ? to_ : message_.envelope_to, status,
                                   message_.message_id));
  }
  return status;
}

std::optional<int> send_command::prepare() {
  if (auto failed = compose_->prepare(from_, to_, message_)) {
    print_error(failed->message);
    return failed->exit_status;
  }
  return std::nullopt;
}

int send_command::run_checked() {
  for (const auto& [option, value] :
       {std::pair<std::string_view, std::string_view>{"--from", from_}, {"--user", user_}, {"--ehlo", ehlo_}}) {
    if (auto why = check_plain_argument(option, value)) {
      print_error(*why);
      return EX_USAGE;
    }
  }
  if (!account_.empty() || server_.empty()) return run_with_account();
  if (from_option_->count() == 0) {
    print_error("--from is required when sending without an account (the envelope sender, MAIL FROM).");
    return EX_USAGE;
  }
  auto server = parse_server(server_);
  if (!server) {
    print_error(server.error().message());
    return EX_USAGE;
  }
  if (!user_.empty() && !bearer_ && !password_) {
    print_error("--user needs credentials: add --bearer SECRET (an OAuth2 access token) or --password SECRET.");
    return EX_USAGE;
  }
  if ((bearer_ || password_) && user_.empty()) {
    print_error("--user is required with --bearer or --password (the mailbox or user name to sign in as).");
    return EX_USAGE;
  }
  if (!auth_.empty() && !bearer_ && !password_) {
    print_error("--auth needs credentials: add --bearer SECRET (xoauth2, oauthbearer) or --password SECRET.");
    return EX_USAGE;
  }

  net::connection_options options;
  options.host = server->host;
  std::string tls = tls_;
  if (tls.empty()) tls = server->port == 465 ? "implicit" : "starttls";
  options.session.tls = tls == "implicit" ? smtp::tls_mode::implicit
                        : tls == "none"   ? smtp::tls_mode::none
                                          : smtp::tls_mode::starttls;
  options.port = server->port.value_or(options.session.tls == smtp::tls_mode::implicit ? 465 : 587);
  options.tls.ca_file = ca_file_;
  apply_common_options(options);

  if (!auth_.empty()) {
    const auto m = sasl::parse_mechanism(auth_);
    options.session.mechanism = m;
    const bool oauth = m && sasl::is_oauth(*m);
    if (oauth && !bearer_) {
      print_error("--auth " + auth_ + " needs --bearer SECRET (an OAuth2 access token), not --password.");
      return EX_USAGE;
    }
    if (!oauth && !password_) {
      print_error("--auth " + auth_ + " needs --password SECRET, not --bearer.");
      return EX_USAGE;
    }
  }
  if (options.session.tls == smtp::tls_mode::none && (bearer_ || password_) && !allow_plaintext_auth_) {
    print_error(
        "Refusing to send credentials without TLS (--tls none). Use --tls starttls or --tls implicit; "
        "--allow-plaintext-auth exists for local test servers only.");
    return EX_CONFIG;
  }
  if (auto failed = prepare()) return *failed;
  if (dry_run_) {
    const std::string creds = bearer_     ? "OAuth2 token from " + *bearer_
                              : password_ ? "password from " + *password_
                                          : "none (no AUTH)";
    return print_plan(options, creds, nullptr, "");
  }
  if (bearer_ || password_) {
    const std::string& ref = bearer_ ? *bearer_ : *password_;
    auto secret = secrets::resolve(ref);
    if (!secret) {
      print_error(secret.error().message());
      return EX_CONFIG;
    }
    if (secret->warning) spdlog::warn("{}", *secret->warning);
    if (has_control_octet(secret->value.expose())) {
      // Typical: a token file with two lines, or a token pasted with a line break inside.
      print_error(ref +
                  " contains a control character (such as a line break inside the value); it must hold "
                  "exactly one token or password on one line.");
      return EX_CONFIG;
    }
    sasl::credentials creds;
    creds.user = user_;
    creds.secret = std::move(secret->value);
    creds.host = server->host;
    creds.port = options.port;
    options.session.credentials = std::move(creds);
    options.session.credential_kind = bearer_ ? sasl::credential_kind::bearer_token : sasl::credential_kind::password;
    if (options.session.tls == smtp::tls_mode::none) {
      spdlog::warn(
          "--allow-plaintext-auth: the {} will cross the network unencrypted; use this only with a "
          "local test server",
          bearer_ ? "token" : "password");
    }
  }

  auto results = net::send_messages(std::move(options), one_message());
  return report(results);
}

void send_command::apply_common_options(net::connection_options& options) const {
  if (options.port == 465 && options.session.tls == smtp::tls_mode::starttls) {
    spdlog::warn(
        "port 465 normally expects TLS from the first byte (--tls implicit); with --tls starttls the "
        "server may never send a greeting");
  }
  if (tls_skip_verify_) options.tls.skip_verify = true;
  options.session.allow_plaintext_auth = allow_plaintext_auth_;
  options.session.ehlo_domain = ehlo_.empty() ? default_ehlo_name() : ehlo_;
  options.session.pipelining = !no_pipelining_;
  if (connect_timeout_) options.connect_timeout = std::chrono::seconds(*connect_timeout_);
  if (reply_timeout_) {
    const std::chrono::milliseconds t = std::chrono::seconds(*reply_timeout_);
    options.session.limits = {t, t, t, t, t, t, t};
  }
}

std::vector<smtp::outgoing_message> send_command::one_message() const {
  smtp::outgoing_message out;
  out.env.mail_from = message_.envelope_from;
  out.env.rcpt_to = message_.envelope_to;
  out.env.smtputf8 = message_.smtputf8;
  out.body = std::make_unique<mime::spooled_body>(std::string(), message_.content);
  std::vector<smtp::outgoing_message> batch;
  batch.push_back(std::move(out));
  return batch;
}

// Account mode: the account's server and TLS settings (command-line options override them) and an
// access token from the token manager; a token the server refuses is dropped, renewed once and the
// message sent once more.
int send_command::run_with_account() {
  if (bearer_ || password_ || !user_.empty() || !auth_.empty()) {
    print_error(
        "--bearer, --password, --user and --auth are for sending without an account; with --account "
        "(or without --server) the account's own credentials are used.");
    return EX_USAGE;
  }
  auto cfg = load_configuration(config_path_);
  if (!cfg) {
    if (server_.empty()) {
      print_error("Give --server (and credentials), or configure an account" +
                  (from_option_->count() > 0 ? " for " + from_ : std::string()) + ".");
    }
    return EX_CONFIG;
  }
  // The account: --account; else the first that may send as --from; else the default account
  // (default_account; without --from also the first account when default_account is not set).
  const bool from_given = from_option_->count() > 0;
  // Accounts are matched by the address of --from, which may carry a name ("Reports <me@contoso.com>").
  std::string from_address = from_;
  if (from_given && !from_.empty()) {
    auto sender = mime::parse_mailbox(from_, "--from");
    if (!sender) {
      print_error(sender.error().message());
      return EX_USAGE;
    }
    from_address = sender->address;
  }
  const config::account* account = nullptr;
  bool by_default = false;
  if (!account_.empty()) {
    account = cfg->find(account_);
    if (!account) {
      print_error("There is no account \"" + account_ + "\" in " + cfg->path + ".");
      return EX_USAGE;
    }
  } else if (from_given) {
    account = cfg->for_sender(from_address);
    if (!account && cfg->default_account) {
      account = cfg->find(*cfg->default_account);
      by_default = account != nullptr;
    }
    if (!account) {
      print_error("No account in " + cfg->path + " may send as " + from_address +
                  ". Add it to an account's allowed_senders, or choose one with --account.");
      return EX_CONFIG;
    }
  } else {
    account = cfg->default_account ? cfg->find(*cfg->default_account) : nullptr;
    if (!account && !cfg->accounts.empty()) account = &cfg->accounts.front();
    by_default = true;
    if (!account) {
      print_error("No account in " + cfg->path + ". Configure one, or give --server and credentials.");
      return EX_CONFIG;
    }
  }
  if (!from_given) {
    if (account->user.empty()) {
      print_error("Give --from: account " + account->name + " has no user to send as.");
      return EX_USAGE;
    }
    from_ = account->user;
    from_address = account->user;
  }
  if (!account->may_send_as(from_address)) {
    print_error("Account " + account->name + (by_default ? " (the default account)" : "") + " may not send as " +
                from_address + " (it sends as " + account->user +
                "; add the address to its allowed_senders if the mailbox may send as it" +
                (by_default ? ", or choose another account with --account" : "") + ").");
    return EX_CONFIG;
  }
  auto account_options = account_connection(*account);
  if (!account_options) {
    print_error(account_options.error().message());
    return EX_CONFIG;
  }
  net::connection_options options = std::move(*account_options);
  if (!server_.empty()) {
    auto server = parse_server(server_);
    if (!server) {
      print_error(server.error().message());
      return EX_USAGE;
    }
    options.host = server->host;
    if (server->port) {
      options.port = *server->port;
      // As without an account: port 465 means implicit TLS unless --tls says otherwise.
      if (tls_.empty())
        options.session.tls = *server->port == 465 ? smtp::tls_mode::implicit : smtp::tls_mode::starttls;
    }
  }
  if (!tls_.empty()) {
    options.session.tls = tls_ == "implicit" ? smtp::tls_mode::implicit
                          : tls_ == "none"   ? smtp::tls_mode::none
                                             : smtp::tls_mode::starttls;
    if (tls_ == "implicit" && (server_.empty() || !parse_server(server_)->port)) options.port = 465;
  }
  if (ca_file_) options.tls.ca_file = ca_file_;
  apply_common_options(options);  // --tls-skip-verify adds to the account's setting, never removes it
  options.session.allow_plaintext_auth = allow_plaintext_auth_ || account->smtp.allow_plaintext_auth;
  if (options.session.tls == smtp::tls_mode::none && !options.session.allow_plaintext_auth) {
    print_error("Refusing to send the token without TLS (tls = \"none\"). Use starttls or implicit.");
    return EX_CONFIG;
  }

  if (auto failed = prepare()) return *failed;
  if (dry_run_) {
    auto tokens = make_token_service(*cfg);
    auto status = tokens->status(*account);
    std::string state;
    if (!status) {
      state = "unknown (" + status.error().message() + ")";
    } else if (status->attention_cause) {
      state = "needs attention: " + *status->attention_cause;
    } else if (!status->has_access_token) {
      state = status->has_refresh_token ? "no access token cached; renewed with the refresh token when sending"
                                        : "no token yet; one is requested from the provider when sending";
    } else {
      const auto now = oauth::wall_clock::now();
      state = status->expires_at > now
                  ? "cached, valid until " + describe_time(status->expires_at, now)
                  : "cached but expired " + describe_time(status->expires_at, now) + "; renewed when sending";
    }
    return print_plan(options, "OAuth2 token of account " + account->name, account, state);
  }

  auto outcome = send_with_account(*cfg, *account, options, [this] { return one_message(); });
  if (outcome.token_failure) {
    print_error(outcome.results.error().message());
    return exit_status_for_token_failure(outcome.results.error());
  }
  return report(outcome.results);
}

int send_command::print_plan(const net::connection_options& options, const std::string& credentials,
                             const config::account* account, const std::string& token_state) {
  auto content = message_.content->read_all();
  if (!content) {
    print_error(content.error().message());
    return EX_IOERR;
  }
  const std::string mechanism = options.session.mechanism ? std::string(sasl::to_string(*options.session.mechanism))
                                : credentials.rfind("none", 0) == 0 ? "none"
                                                                    : "chosen from what the server offers";
  if (json_) {
    boost::json::object plan;
    if (account) {
      plan["account"] = account->name;
      plan["provider"] = std::string(oauth::provider_name(account->provider));
      plan["flow"] = std::string(oauth::flow_name(account->flow));
      plan["user"] = account->user;
      plan["token"] = token_state;
    }
    plan["server"] = options.host + ":" + std::to_string(options.port);
    plan["tls"] = std::string(tls_name(options.session.tls));
    plan["mechanism"] = mechanism;
    plan["credentials"] = credentials;
    plan["mail_from"] = message_.envelope_from;
    boost::json::array rcpts;
    for (const auto& r : message_.envelope_to) rcpts.emplace_back(r);
    plan["rcpt_to"] = std::move(rcpts);
    plan["smtputf8"] = message_.smtputf8;
    plan["size"] = message_.content->stats().size();
    boost::json::object o{{"dry_run", true}, {"plan", std::move(plan)}, {"message", *content}};
    if (!message_.message_id.empty()) o["message_id"] = message_.message_id;
    fmt::print("{}\n", boost::json::serialize(o));
    json_printed_ = true;
    return EX_OK;
  }
  fmt::print("Dry run: nothing is sent.\n");
  if (account) {
    fmt::print("  account:    {} ({}, {}, user {})\n", account->name, oauth::provider_name(account->provider),
               oauth::flow_name(account->flow), account->user);
  }
  fmt::print("  server:     {}:{} ({})\n", options.host, options.port, tls_name(options.session.tls));
  fmt::print("  mechanism:  {}\n", mechanism);
  fmt::print("  sign-in:    {}\n", credentials);
  if (account) fmt::print("  token:      {}\n", token_state);
  fmt::print("  MAIL FROM:  <{}>{}\n", message_.envelope_from, message_.smtputf8 ? " SMTPUTF8" : "");
  for (const auto& r : message_.envelope_to) fmt::print("  RCPT TO:    <{}>\n", r);
  fmt::print("  size:       {} octets\n", message_.content->stats().size());
  fmt::print("--- message ---\n{}", *content);
  if (!content->empty() && content->back() != '\n') fmt::print("\n");
  fmt::print("--- end of message ---\n");
  return EX_OK;
}

int send_command::report(const core::result<std::vector<smtp::message_result>>& results) {
  const int status = results ? exit_status_for(results->front()) : exit_status_for(results.error());
  if (json_) {
    fmt::print("{}\n", result_json(results, message_.envelope_to, status, message_.message_id));
    std::fflush(stdout);
    json_printed_ = true;
  }
  if (!results) {
    print_error(results.error().message());
    return status;
  }
  const smtp::message_result& r = results->front();
  if (!json_) print_recipient_lines(r);
  if (r.failure) print_error(r.failure->message());
  return status;
}

}  // namespace oauthmail::cli
