#include "doctor/diagnose.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sysexits.h>

#include <algorithm>
#include <cctype>

#include "oauth/grants.hpp"
#include "sasl/mechanism.hpp"
#include "smtp/classify.hpp"

namespace oauthmail::doctor {

using core::failure_class;
using oauth::wall_clock;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

bool contains_nocase(std::string_view haystack, std::string_view needle) {
  return lower(haystack).find(lower(needle)) != std::string::npos;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += i;
  }
  return out;
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
}

// "the token request failed" -> "The token request failed."
std::string sentence(std::string text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '.')) text.pop_back();
  if (text.empty()) return text;
  text.front() = static_cast<char>(std::toupper(static_cast<unsigned char>(text.front())));
  return text + ".";
}

std::string duration_text(std::chrono::microseconds d) {
  const auto us = d.count();
  if (us < 10'000) return fmt::format("{:.1f} ms", static_cast<double>(us) / 1000.0);
  if (us < 10'000'000) return fmt::format("{} ms", us / 1000);
  return fmt::format("{:.1f} s", static_cast<double>(us) / 1e6);
}

std::string seconds_text(std::chrono::milliseconds d) {
  return fmt::format("{} s", std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

bool is_microsoft(const account_view& a) {
  return a.provider == config::provider_kind::microsoft || a.provider == config::provider_kind::outlook;
}

std::string provider_title(config::provider_kind p) {
  switch (p) {
    case config::provider_kind::microsoft:
      return "Microsoft 365";
    case config::provider_kind::outlook:
      return "Outlook.com";
    case config::provider_kind::google:
      return "Gmail";
    case config::provider_kind::generic:
      break;
  }
  return "the provider";
}

std::string where(const account_view& a) { return a.host + ":" + std::to_string(a.port); }

// "Microsoft 365's server is smtp.office365.com:587." when the account uses another one.
std::string preset_hint(const account_view& a) {
  if (a.preset_host.empty()) return {};
  if (iequals(a.preset_host, a.host) && a.preset_port == a.port) return {};
  return " " + provider_title(a.provider) + "'s submission server is " + a.preset_host + ":" +
         std::to_string(a.preset_port) + ".";
}

std::string tls_mode_text(config::tls_setting t) {
  switch (t) {
    case config::tls_setting::starttls:
      return "STARTTLS";
    case config::tls_setting::implicit:
      return "implicit TLS";
    case config::tls_setting::none:
      return "no TLS";
  }
  return "?";
}

std::string mechanism_text(config::mechanism_setting m) {
  switch (m) {
    case config::mechanism_setting::automatic:
      return "chosen from the server's list";
    case config::mechanism_setting::xoauth2:
      return "XOAUTH2";
    case config::mechanism_setting::oauthbearer:
      return "OAUTHBEARER";
  }
  return "?";
}

int exit_for_class(failure_class c, int needs_human) {
  switch (c) {
    case failure_class::transient:
      return EX_TEMPFAIL;
    case failure_class::protocol:
      return EX_PROTOCOL;
    case failure_class::permanent:
      return EX_UNAVAILABLE;
    case failure_class::bug:
      return EX_SOFTWARE;
    case failure_class::token_rejected:
      return EX_NOPERM;
    case failure_class::needs_human:
    case failure_class::none:
      break;
  }
  return needs_human;
}

// "SIZE 157286400 (150 MiB), PIPELINING, ..." — the keywords of an EHLO answer, AUTH first.
std::string describe_capabilities(const smtp::capabilities& c) {
  std::vector<std::string> items;
  items.push_back(c.auth.empty() ? "no AUTH" : "AUTH " + join(c.auth, " "));
  if (c.starttls) items.emplace_back("STARTTLS");
  if (c.size) {
    constexpr std::uint64_t mib = 1024 * 1024;
    items.push_back(*c.size == 0    ? std::string("SIZE (no limit)")
                    : *c.size < mib ? fmt::format("SIZE {}", *c.size)
                                    : fmt::format("SIZE {} ({} MiB)", *c.size, *c.size / mib));
  }
  if (c.pipelining) items.emplace_back("PIPELINING");
  if (c.eightbitmime) items.emplace_back("8BITMIME");
  if (c.smtputf8) items.emplace_back("SMTPUTF8");
  if (c.enhanced_status_codes) items.emplace_back("ENHANCEDSTATUSCODES");
  if (c.dsn) items.emplace_back("DSN");
  if (c.chunking) items.emplace_back("CHUNKING");
  if (c.binarymime) items.emplace_back("BINARYMIME");
  return join(items, ", ");
}

std::vector<std::string> certificate_lines(const certificate_facts& c, wall_clock::time_point now) {
  std::vector<std::string> out;
  out.push_back("certificate: " + c.subject);
  if (!c.names.empty()) out.push_back("names: " + join(c.names, ", "));
  out.push_back("issued by: " + c.issuer);
  out.push_back("valid: " + describe_time(c.not_before, now) + " to " + describe_time(c.not_after, now));
  return out;
}

bool looks_like_guid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

}  // namespace

std::string describe_time(wall_clock::time_point t, wall_clock::time_point now) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t - now).count();
  const auto abs = secs < 0 ? -secs : secs;
  const std::string rel = abs < 120      ? fmt::format("{} s", abs)
                          : abs < 7200   ? fmt::format("{} min", abs / 60)
                          : abs < 172800 ? fmt::format("{} h", abs / 3600)
                                         : fmt::format("{} days", abs / 86400);
  return fmt::format("{:%Y-%m-%d %H:%M} UTC ({})", fmt::gmtime(wall_clock::to_time_t(t)),
                     secs > 0 ? "in " + rel : rel + " ago");
}

// --- account ------------------------------------------------------------------------------------

account_view make_account_view(const config::account& a, const oauth::provider_endpoints& e) {
  account_view v;
  v.name = a.name;
  v.provider = a.provider;
  v.flow = a.flow;
  v.user = a.user;
  v.client_id = a.client_id;
  v.host = e.smtp.host;
  v.port = e.smtp.port;
  v.tls = e.smtp.tls;
  v.mechanism = e.smtp.mechanism;
  v.mechanism_from_account = a.smtp.mechanism != config::mechanism_setting::automatic;
  v.ca_file = a.smtp.ca_file;
  v.skip_verify = a.smtp.tls_skip_verify;
  if (a.provider != config::provider_kind::generic) {
    config::account bare = a;
    bare.smtp = config::smtp_settings{};
    if (auto preset = oauth::resolve_provider(bare)) {
      v.preset_host = preset->smtp.host;
      v.preset_port = preset->smtp.port;
    }
  }
  return v;
}

// --- configuration ------------------------------------------------------------------------------

finding diagnose_configuration(const configuration_facts& f) {
  if (!f.problems.empty()) {
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < f.problems.size() && i < 10; ++i) lines.push_back(f.problems[i].to_string());
    if (f.problems.size() > 10) lines.push_back(fmt::format("... and {} more", f.problems.size() - 10));
    return finding::failed(
        fmt::format("{} has {} problem{}.", f.path, f.problems.size(), f.problems.size() == 1 ? "" : "s"),
        "correct them; `oauthmail config check --config " + f.path +
            "` lists each one with an example of a right value",
        EX_CONFIG, std::move(lines));
  }
  if (!f.account_found || !f.account) {
    const std::string which =
        f.requested_account.empty() ? std::string("no account") : "no account \"" + f.requested_account + "\"";
    return finding::failed(
        "There is " + which + " in " + f.path + ".",
        f.account_names.empty()
            ? "add an [[account]] (docs/configuration.md has an example per provider)"
            : "name one of the accounts (oauthmail doctor NAME), or add an [[account]] named " + f.requested_account,
        EX_CONFIG, {"accounts: " + (f.account_names.empty() ? std::string("(none)") : join(f.account_names, ", "))});
  }
  const config::account& a = *f.account;
  std::vector<const oauth::scope_problem*> errors;
  std::vector<std::string> warnings;
  std::string first_warning_fix;
  for (const auto& p : f.scope_problems) {
    if (p.severity == oauth::scope_severity::error) {
      errors.push_back(&p);
    } else {
      warnings.push_back("warning: " + p.cause + (p.fix.empty() ? std::string() : " (" + p.fix + ")"));
      if (first_warning_fix.empty()) first_warning_fix = p.fix;
    }
  }
  if (!errors.empty()) {
    std::vector<std::string> lines;
    for (std::size_t i = 1; i < errors.size(); ++i) lines.push_back(errors[i]->cause + "; " + errors[i]->fix);
    return finding::failed("Account " + a.name + ": " + sentence(errors.front()->cause), errors.front()->fix, EX_CONFIG,
                           std::move(lines));
  }
  if (f.provider_error || !f.view) {
    return finding::failed("Account " + a.name + ": " +
                               sentence(f.provider_error.value_or("its provider settings "
                                                                  "are not usable")),
                           "correct the account's provider, flow and endpoints (docs/configuration.md)", EX_CONFIG);
  }
  if (f.refused_sender) {
    return finding::failed("Account " + a.name + " may not send as " + *f.refused_sender + " (it sends as " +
                               (a.user.empty() ? std::string("nobody") : a.user) + ").",
                           "add " + *f.refused_sender +
                               " to the account's allowed_senders if the mailbox may send as it, or leave out --from",
                           EX_CONFIG);
  }
  for (const auto& w : f.provider_warnings) warnings.push_back("warning: " + w);
  const account_view& v = *f.view;
  std::string detail = fmt::format("{}: account {} ({}{}, {}{}) sends through {} ({}, {}).", f.path, a.name,
                                   f.chosen_by_default ? "the default; " : "", config::to_string(a.provider),
                                   config::to_string(a.flow), a.user.empty() ? "" : ", user " + a.user, where(v),
                                   tls_mode_text(v.tls), mechanism_text(v.mechanism));
  if (!warnings.empty()) {
    return finding::warning(
        std::move(detail),
        first_warning_fix.empty() ? "see the warnings; `oauthmail config check` shows where" : first_warning_fix,
        std::move(warnings));
  }
  return finding::passed(std::move(detail));
}

// --- secrets ------------------------------------------------------------------------------------

secret_check inspect_secret(std::string key, std::string shown, const core::secret<std::string>& value,
                            const account_view& account, wall_clock::time_point now) {
  secret_check c;
  c.key = std::move(key);
  c.shown = std::move(shown);
  const std::string& v = value.expose();
  if (c.key == "client_certificate") {
    auto cert = oauth::read_certificate(v);
    if (!cert) {
      c.error = c.key + " (" + c.shown + ") is not a PEM certificate: " + cert.error().message();
    } else if (cert->not_after <= now) {
      c.error = c.key + " (" + c.shown + ") expired " + describe_time(cert->not_after, now) +
                "; upload a new certificate to the app registration and point " + c.key + " at it";
    } else if (cert->not_before > now) {
      c.error = c.key + " (" + c.shown + ") is not valid before " + describe_time(cert->not_before, now) +
                "; check this machine's clock";
    } else {
      c.info = "certificate " + cert->subject + ", valid until " + describe_time(cert->not_after, now);
      if (cert->not_after - now < std::chrono::hours(24 * 30)) {
        c.warning = c.key + " expires " + describe_time(cert->not_after, now) +
                    ": upload a new certificate to the app registration before then";
      }
    }
  } else if (c.key == "client_private_key") {
    auto key = oauth::signing_key::from_pem(value);
    if (!key) {
      c.error = c.key + " (" + c.shown + "): " + key.error().message();
    } else {
      c.info = fmt::format("RSA private key, {} bits", key->bits());
    }
  } else if (c.key == "service_account_key") {
    auto sa = oauth::parse_service_account_json(value);
    if (!sa) {
      c.error = c.key + " (" + c.shown + "): " + sa.error().message();
    } else {
      c.info = "service account " + sa->client_email + " (client id " + sa->client_id + ")";
    }
  } else if (c.key == "client_secret") {
    std::string trimmed = v;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.pop_back();
    c.info = fmt::format("{} characters", trimmed.size());
    if ((account.provider == config::provider_kind::microsoft || account.provider == config::provider_kind::outlook) &&
        looks_like_guid(trimmed)) {
      c.warning =
          "client_secret looks like a Secret ID (a GUID), not the secret's Value: Microsoft refuses it with "
          "AADSTS7000215. Copy the Value column of Certificates & secrets (shown only when the secret is created)";
    }
  }
  return c;
}

finding diagnose_secrets(const std::vector<secret_check>& checks) {
  if (checks.empty()) {
    return finding::passed("No secret is configured (a public client: its sign-in is the token cache's).");
  }
  std::vector<std::string> lines;
  const secret_check* first_error = nullptr;
  const secret_check* first_warning = nullptr;
  for (const auto& c : checks) {
    std::string line = c.key + " (" + c.shown + "):";
    if (c.error) {
      line += " cannot be used";
      if (!first_error) first_error = &c;
    } else {
      line += " readable" + (c.info.empty() ? std::string() : " (" + c.info + ")");
      if (c.warning && !first_warning) first_warning = &c;
    }
    lines.push_back(std::move(line));
  }
  if (first_error) {
    std::vector<std::string> facts = lines;
    for (const auto& c : checks) {
      if (c.error && &c != first_error) facts.push_back(*c.error);
    }
    return finding::failed(sentence(*first_error->error),
                           "make the reference readable for the user running oauthmail (file: and credential: "
                           "files mode 0600, env: variables set, cmd: commands succeeding); see "
                           "docs/configuration.md, secret references",
                           EX_CONFIG, std::move(facts));
  }
  const std::string detail =
      fmt::format("{} secret{} readable (values not shown).", checks.size(), checks.size() == 1 ? "" : "s");
  if (first_warning) {
    for (const auto& c : checks) {
      if (c.warning) lines.push_back("warning: " + *c.warning);
    }
    return finding::warning(detail, *first_warning->warning, std::move(lines));
  }
  return finding::passed(detail, std::move(lines));
}

// --- DNS, TCP -----------------------------------------------------------------------------------

finding diagnose_dns(const dns_facts& dns, const account_view& a) {
  if (dns.literal) return finding::passed(dns.host + " is an IP address (nothing to look up).");
  if (dns.timed_out) {
    return finding::failed("Looking up " + dns.host + " timed out after " + seconds_text(a.timeout) + ".",
                           "check this machine's DNS resolver (/etc/resolv.conf, resolvectl status) and the "
                           "network, then try again",
                           EX_TEMPFAIL);
  }
  if (dns.error) {
    if (dns.definite) {
      return finding::failed(dns.host + " does not exist in DNS (" + *dns.error + ").",
                             "check smtp.host for a typo." + preset_hint(a), EX_NOHOST);
    }
    return finding::failed("Looking up " + dns.host + " failed: " + *dns.error + ".",
                           "check the network and this machine's DNS resolver, then try again", EX_TEMPFAIL);
  }
  if (dns.addresses.empty()) {
    return finding::failed(dns.host + " has no address in DNS.", "check smtp.host." + preset_hint(a), EX_NOHOST);
  }
  return finding::passed(dns.host + " is " + join(dns.addresses, ", ") + " (" + duration_text(dns.took) + ").");
}

finding diagnose_tcp(const probe_report& p, const account_view& a) {
  const auto& attempts = p.tcp.attempts;
  std::vector<std::string> lines;
  for (const auto& t : attempts) {
    if (t.outcome != connect_outcome::connected) {
      lines.push_back(t.endpoint + ": " + std::string(to_string(t.outcome)) +
                      (t.error.empty() ? std::string() : " (" + t.error + ")") + " after " + duration_text(t.took));
    }
  }
  if (const connect_attempt* ok = p.tcp.connected()) {
    return finding::passed("Connected to " + ok->endpoint + " in " + duration_text(ok->took) + ".", std::move(lines));
  }
  if (attempts.empty()) {
    return finding::failed("No address of " + a.host + " could be tried.", "check smtp.host", EX_TEMPFAIL,
                           std::move(lines));
  }
  const auto any = [&](connect_outcome o) {
    return std::any_of(attempts.begin(), attempts.end(), [&](const connect_attempt& t) { return t.outcome == o; });
  };
  const std::string port = std::to_string(a.port);
  if (any(connect_outcome::timed_out)) {
    std::string fix = "port " + port +
                      " is probably blocked on the way: many ISPs, hosting and cloud providers and company "
                      "firewalls block outgoing ports 25 and 587. Test with `nc -vz " +
                      a.host + " " + port +
                      "` here and from another network, and ask the network's administrator to allow outgoing TCP "
                      "port " +
                      port;
    if (a.provider == config::provider_kind::google && a.port != 465) {
      fix += "; Gmail also accepts port 465 with smtp.tls = \"implicit\"";
    }
    return finding::failed("No answer from " + where(a) + " within " + seconds_text(a.timeout) +
                               ": the connection attempts were dropped, not refused.",
                           fix, EX_TEMPFAIL, std::move(lines));
  }
  if (std::all_of(attempts.begin(), attempts.end(),
                  [](const connect_attempt& t) { return t.outcome == connect_outcome::refused; })) {
    return finding::failed(
        where(a) + " refused the connection: nothing accepts connections on port " + port + " there.",
        "check smtp.port: mail submission is on 587 (STARTTLS) or 465 (implicit TLS)." + preset_hint(a) +
            " If the port is right, the server is down.",
        EX_UNAVAILABLE, std::move(lines));
  }
  if (any(connect_outcome::unreachable)) {
    return finding::failed("There is no route from this machine to " + where(a) + ".",
                           "check this machine's network connection (and IPv6 connectivity if only IPv6 addresses "
                           "failed), VPN and routes",
                           EX_TEMPFAIL, std::move(lines));
  }
  return finding::failed("Connecting to " + where(a) + " failed: " + attempts.back().error + ".",
                         "check the network and smtp.host / smtp.port", EX_TEMPFAIL, std::move(lines));
}

// --- greeting, TLS, EHLO ------------------------------------------------------------------------

namespace {

bool failed_with(const session_facts& s, smtp::session_errc code) {
  return s.failure && s.failure->code() == smtp::make_error_code(code);
}

// The session failed at its greeting or at the first EHLO before TLS (STARTTLS mode, or none);
// with implicit TLS every EHLO is over TLS and belongs to the EHLO step.
bool failed_at_greeting(const probe_report& p) {
  const auto& s = p.session;
  if (!s.failure) return false;
  if (failed_with(s, smtp::session_errc::tls_failed) || failed_with(s, smtp::session_errc::tls_required)) return false;
  if (s.failed_at == smtp::stage::greeting) return true;
  return s.failed_at == smtp::stage::ehlo && !s.tls_active_at_failure;
}

finding finding_from_reply(const smtp::reply& r, smtp::stage st, bool oauth, const std::string& context,
                           int needs_human) {
  const smtp::diagnosis d = smtp::classify_reply(r, st, oauth);
  std::string detail = context + ": " + r.to_string() + ".";
  if (!d.cause.empty() && d.cause.find(r.to_string()) == std::string::npos) detail += " " + d.cause;
  return finding::failed(std::move(detail), d.fix.empty() ? "retry later" : d.fix,
                         exit_for_class(d.klass, needs_human));
}

}  // namespace

finding diagnose_greeting(const probe_report& p, const account_view& a) {
  const auto& s = p.session;
  if (failed_at_greeting(p)) {
    if (s.failed_at == smtp::stage::ehlo && s.ehlo) {
      return finding_from_reply(*s.ehlo, smtp::stage::ehlo, false, "The server refused EHLO", EX_UNAVAILABLE);
    }
    if (s.greeting && s.greeting->code != 220) {
      return finding_from_reply(*s.greeting, smtp::stage::greeting, false, "The server refused the session",
                                EX_UNAVAILABLE);
    }
    if (failed_with(s, smtp::session_errc::timeout)) {
      std::string fix;
      if (a.tls != config::tls_setting::implicit && a.port == 465) {
        fix = "port 465 expects TLS from the first byte: set smtp.tls = \"implicit\" (or use port 587 with STARTTLS)";
      } else {
        fix =
            "check smtp.host and smtp.port: this may not be an SMTP server, or it expects TLS from the first byte "
            "(smtp.tls = \"implicit\", usually port 465)";
      }
      return finding::failed("Connected, but the server sent no greeting within " + seconds_text(a.timeout) + ".", fix,
                             EX_TEMPFAIL);
    }
    if (failed_with(s, smtp::session_errc::server_closed)) {
      return finding::failed(
          "The server closed the connection without a greeting.",
          "it may limit connections or refuse this address; try again later, and check smtp.host and smtp.port",
          EX_TEMPFAIL);
    }
    if (failed_with(s, smtp::session_errc::protocol_violation)) {
      return finding::failed("The server's answer is not SMTP: " + s.failure->message(),
                             "check smtp.host and smtp.port (is this a mail submission server?)", EX_PROTOCOL);
    }
    return finding::failed(s.failure->message(), "check smtp.host and smtp.port",
                           exit_for_class(s.failure->classification(), EX_UNAVAILABLE));
  }
  if (s.greeting && s.greeting->code == 220) {
    return finding::passed(s.greeting->to_string());
  }
  return finding::failed("No greeting was received.", "check smtp.host and smtp.port", EX_TEMPFAIL);
}

finding diagnose_tls(const probe_report& p, const account_view& a, wall_clock::time_point now) {
  const auto& s = p.session;
  const auto& t = p.tls;
  if (a.tls == config::tls_setting::none) {
    return finding::warning("TLS is off (smtp.tls = \"none\"): the token would cross the network unencrypted.",
                            "use smtp.tls = \"starttls\" (port 587) or \"implicit\" (port 465); \"none\" is for "
                            "local test servers only");
  }
  if (t.setup_error) {
    return finding::failed(sentence(*t.setup_error),
                           "set smtp.ca_file to a readable PEM file holding the CA certificate(s) of the server",
                           EX_CONFIG);
  }
  if (failed_with(s, smtp::session_errc::tls_required)) {
    std::vector<std::string> lines;
    if (p.ehlo.before_tls) lines.push_back("EHLO before TLS: " + describe_capabilities(*p.ehlo.before_tls));
    if (s.failed_at == smtp::stage::starttls && s.starttls) {
      auto f = finding_from_reply(*s.starttls, smtp::stage::starttls, false, "The server refused STARTTLS", EX_CONFIG);
      f.facts = std::move(lines);
      return f;
    }
    std::string fix = "oauthmail never sends a token without TLS. ";
    fix += a.port == 465 ? "Port 465 expects TLS from the first byte: set smtp.tls = \"implicit\"."
                         : "Use the provider's submission port: 587 with STARTTLS, or 465 with smtp.tls = "
                           "\"implicit\"; port 25 of a mail exchanger is not for submission." +
                               preset_hint(a);
    return finding::failed(p.ehlo.before_tls && !p.ehlo.before_tls->starttls ? "The server does not offer STARTTLS."
                                                                             : sentence(s.failure->message()),
                           fix, EX_CONFIG, std::move(lines));
  }
  if (!t.attempted) {
    if (s.failure) {
      return finding::failed(sentence(s.failure->message()), "check smtp.port and smtp.tls, then try again",
                             exit_for_class(s.failure->classification(), EX_CONFIG));
    }
    return finding::failed("No TLS handshake took place.", "check smtp.tls", EX_CONFIG);
  }
  std::vector<std::string> lines;
  if (t.certificate) lines = certificate_lines(*t.certificate, now);
  if (!t.established) {
    if (t.timed_out) {
      return finding::failed("The TLS handshake with " + where(a) + " timed out.",
                             "check that port " + std::to_string(a.port) + " speaks " +
                                 (t.implicit ? "implicit TLS" : "STARTTLS") + "; try again later",
                             EX_TEMPFAIL, std::move(lines));
    }
    if (!t.verify_text.empty()) lines.push_back("OpenSSL: " + t.verify_text);
    const std::string issuer = t.certificate ? t.certificate->issuer : std::string("unknown");
    switch (t.problem) {
      case certificate_problem::unknown_ca:
        if (t.ca_file) {
          return finding::failed(
              "The server's certificate is not signed by a CA in smtp.ca_file (" + *t.ca_file + ").",
              "put the certificate of the CA that issued the server's certificate (issuer: " + issuer + ") into " +
                  *t.ca_file + ", or remove smtp.ca_file to use the system's trusted CAs",
              EX_CONFIG, std::move(lines));
        }
        return finding::failed(
            "The server's certificate is not signed by a certificate authority this machine trusts.",
            "if the server uses a private or test CA, add its certificate to the account: smtp.ca_file = "
            "\"/path/to/ca.pem\" (oauthmail send: --ca-file). For a public provider this means something on the "
            "way intercepts TLS (antivirus, a company proxy): ask the network's administrator",
            EX_CONFIG, std::move(lines));
      case certificate_problem::expired:
        return finding::failed(
            "The server's certificate has expired" +
                (t.certificate ? " (" + describe_time(t.certificate->not_after, now) + ")" : std::string()) + ".",
            "the server's administrator must renew it; if the date looks wrong, check this machine's clock "
            "(timedatectl)",
            EX_CONFIG, std::move(lines));
      case certificate_problem::not_yet_valid:
        return finding::failed(
            "The server's certificate is not valid yet" +
                (t.certificate ? " (from " + describe_time(t.certificate->not_before, now) + ")" : std::string()) + ".",
            "check this machine's clock and time zone (timedatectl; enable NTP)", EX_CONFIG, std::move(lines));
      case certificate_problem::wrong_host:
        return finding::failed(
            "The server's certificate is not valid for " + t.server_name +
                (t.certificate && !t.certificate->names.empty() ? ": it names " + join(t.certificate->names, ", ")
                                                                : std::string()) +
                ".",
            "set smtp.host to a name the certificate covers." + preset_hint(a), EX_CONFIG, std::move(lines));
      case certificate_problem::other:
        return finding::failed("The server's certificate was not accepted: " + t.verify_text + ".",
                               "ask the server's administrator; if the server uses a private CA, set smtp.ca_file",
                               EX_CONFIG, std::move(lines));
      case certificate_problem::none:
        break;
    }
    std::string fix;
    if (t.implicit && a.port != 465) {
      fix = "port " + std::to_string(a.port) +
            " probably expects STARTTLS: set smtp.tls = \"starttls\" (implicit TLS is for port 465)";
    } else {
      fix =
          "the server may offer only old TLS versions (oauthmail needs TLS 1.2 or newer), or not speak TLS on "
          "this port; check smtp.port and smtp.tls";
    }
    return finding::failed("The TLS handshake with " + where(a) + " failed" +
                               (t.handshake_error.empty() ? std::string(".") : ": " + t.handshake_error + "."),
                           fix, EX_CONFIG, std::move(lines));
  }
  if (s.starttls) lines.insert(lines.begin(), "STARTTLS: " + s.starttls->to_string());
  lines.push_back(t.verification_enabled
                      ? "trusted through: " + (t.ca_file ? "smtp.ca_file " + *t.ca_file : "the system's CA store")
                      : std::string("trusted through: nothing (verification is off)"));
  const std::string summary = t.protocol + " (" + t.cipher + ")";
  if (!t.verification_enabled) {
    if (t.verify_code != 0) lines.push_back("with verification it would be refused: " + t.verify_text);
    return finding::warning(summary + "; the certificate was NOT verified (smtp.tls_skip_verify = true).",
                            "remove tls_skip_verify; if the server uses a private CA, set smtp.ca_file instead",
                            std::move(lines));
  }
  if (t.certificate && t.certificate->not_after - now < std::chrono::hours(24 * 14)) {
    return finding::warning(summary + "; certificate verified for " + t.server_name + ", but it expires " +
                                describe_time(t.certificate->not_after, now) + ".",
                            "tell the server's administrator to renew the certificate", std::move(lines));
  }
  return finding::passed(summary + "; certificate verified for " + t.server_name + ".", std::move(lines));
}

finding diagnose_ehlo(const probe_report& p, const account_view& a) {
  const auto& s = p.session;
  std::vector<std::string> lines;
  if (p.ehlo.before_tls && a.tls != config::tls_setting::none) {
    lines.push_back("before TLS: " + describe_capabilities(*p.ehlo.before_tls));
  }
  if (s.failure) {
    if (s.failed_at == smtp::stage::ehlo && s.ehlo && !s.ehlo->positive_completion()) {
      auto f = finding_from_reply(*s.ehlo, smtp::stage::ehlo, false, "The server refused EHLO after STARTTLS",
                                  EX_UNAVAILABLE);
      f.facts = std::move(lines);
      return f;
    }
    return finding::failed(s.failure->message(), "check smtp.host and smtp.port; try again later",
                           exit_for_class(s.failure->classification(), EX_CONFIG), std::move(lines));
  }
  const std::optional<smtp::capabilities>& caps =
      a.tls == config::tls_setting::none ? p.ehlo.before_tls : p.ehlo.after_tls;
  if (!caps) return finding::failed("The server's EHLO answer is missing.", "try again", EX_TEMPFAIL, std::move(lines));
  const std::string label = a.tls == config::tls_setting::none ? "without TLS: " : "over TLS: ";
  lines.push_back(label + describe_capabilities(*caps));
  const std::string offered = caps->auth.empty() ? std::string("no AUTH") : "AUTH " + join(caps->auth, " ");
  if (caps->auth.empty()) {
    std::string why =
        p.ehlo.before_tls && !p.ehlo.before_tls->auth.empty()
            ? "The server offers AUTH only before TLS, not over it."
            : "The server offers no AUTH" + std::string(a.tls == config::tls_setting::none ? "." : " after STARTTLS.");
    return finding::failed(why,
                           "this is not a mail submission service (port 25 of a mail exchanger accepts no sign-in): "
                           "use the provider's submission server on port 587." +
                               preset_hint(a),
                           EX_CONFIG, std::move(lines));
  }
  std::optional<sasl::mechanism> configured;
  if (a.mechanism == config::mechanism_setting::xoauth2) configured = sasl::mechanism::xoauth2;
  if (a.mechanism == config::mechanism_setting::oauthbearer) configured = sasl::mechanism::oauthbearer;
  auto chosen = sasl::choose(caps->auth, sasl::credential_kind::bearer_token, configured);
  if (!chosen) {
    if (configured) {
      const std::string name(sasl::to_string(*configured));
      std::string fix;
      if (is_microsoft(a)) {
        fix =
            "Exchange Online supports only XOAUTH2 for OAuth2: set smtp.mechanism = \"xoauth2\" or remove the line "
            "(auto)";
      } else if (a.mechanism_from_account) {
        fix =
            "set smtp.mechanism to one the server offers, or remove the line (auto chooses XOAUTH2, then "
            "OAUTHBEARER)";
      } else {
        fix = "this server does not take the mechanism " + provider_title(a.provider) + " uses; check smtp.host." +
              preset_hint(a);
      }
      return finding::failed("The account uses " + name +
                                 (a.mechanism_from_account ? " (smtp.mechanism)" : " (the provider's default)") +
                                 ", but the server offers " + offered + ".",
                             fix, EX_CONFIG, std::move(lines));
    }
    return finding::failed("The server offers no OAuth2 mechanism (" + offered + "): it signs in with passwords only.",
                           "an OAuth2 token cannot be used here; check smtp.host." + preset_hint(a), EX_CONFIG,
                           std::move(lines));
  }
  std::string detail = offered + (a.tls == config::tls_setting::none ? "" : " over TLS") + "; " +
                       std::string(sasl::to_string(*chosen)) + " will be used.";
  if (p.ehlo.before_tls && a.tls != config::tls_setting::none) {
    lines.push_back(p.ehlo.before_tls->auth.empty()
                        ? "AUTH is offered only after STARTTLS, as it should be"
                        : "the server offers AUTH before TLS too; oauthmail signs in only after STARTTLS");
  }
  return finding::passed(std::move(detail), std::move(lines));
}

bool diagnose_connection(const probe_report& p, const account_view& a, checklist& out) {
  const auto now = wall_clock::now();
  out.record(step_id::dns, diagnose_dns(p.dns, a));
  if (out.stopped()) return false;
  out.record(step_id::tcp, diagnose_tcp(p, a));
  if (out.stopped()) return false;
  // Wire order: with implicit TLS the handshake comes first.
  const bool tls_first = a.tls == config::tls_setting::implicit;
  if (tls_first) {
    out.record(step_id::tls, diagnose_tls(p, a, now));
    if (out.stopped()) return false;
    out.record(step_id::greeting, diagnose_greeting(p, a));
  } else {
    out.record(step_id::greeting, diagnose_greeting(p, a));
    if (out.stopped()) return false;
    out.record(step_id::tls, diagnose_tls(p, a, now));
  }
  if (out.stopped()) return false;
  out.record(step_id::ehlo, diagnose_ehlo(p, a));
  return !out.stopped();
}

// --- token --------------------------------------------------------------------------------------

finding diagnose_token_error(const core::error& e, const account_view& a) {
  std::string message = e.message();
  std::string cause = message;
  std::string fix;
  std::string provider;
  const std::string fix_mark = ". Fix: ";
  const std::string said_mark = ". Provider said: ";
  if (const auto f = message.find(fix_mark); f != std::string::npos) {
    cause = message.substr(0, f);
    std::string rest = message.substr(f + fix_mark.size());
    if (const auto s = rest.find(said_mark); s != std::string::npos) {
      fix = rest.substr(0, s);
      provider = rest.substr(s + said_mark.size());
    } else {
      fix = rest;
    }
  } else if (const auto s = message.find(said_mark); s != std::string::npos) {
    cause = message.substr(0, s);
    provider = message.substr(s + said_mark.size());
  }
  std::vector<std::string> lines;
  if (!provider.empty()) lines.push_back("the provider said: " + provider);
  const failure_class klass = e.classification();
  if (fix.empty()) {
    if (klass == failure_class::transient) {
      fix =
          "check that this machine reaches the token endpoint over HTTPS (proxy settings: https_proxy, no_proxy), "
          "then try again";
    } else if (contains_nocase(cause, "account login")) {
      fix = "run `oauthmail account login " + a.name + "`";
    } else {
      fix = "correct what the message names, then run `oauthmail doctor " + a.name + "` again";
    }
  }
  return finding::failed("The token request failed: " + sentence(cause), sentence(fix),
                         exit_for_class(klass, EX_NOPERM), std::move(lines));
}

finding diagnose_token_obtained(const oauth::token_set& t, const account_view& a, wall_clock::time_point now) {
  std::vector<std::string> lines;
  if (!t.scopes.empty()) lines.push_back("scope: " + join(t.scopes, " "));
  lines.push_back(std::string("flow: ") + std::string(config::to_string(a.flow)) +
                  (t.refresh_token ? " (renewed with the stored refresh token)" : ""));
  return finding::passed("Obtained a new access token, valid until " + describe_time(t.expires_at, now) + ".",
                         std::move(lines));
}

finding diagnose_token_contents(const oauth::token_facts& f, const oauth::provider_endpoints& e, const account_view& a,
                                wall_clock::time_point now) {
  if (f.format != oauth::token_format::jwt) {
    return finding::passed("The token is opaque (" + f.opaque_kind +
                           "): only the server can read it; AUTH will show whether it is accepted.");
  }
  std::vector<std::string> lines;
  if (!f.audiences.empty()) lines.push_back("audience (aud): " + join(f.audiences, ", "));
  if (!f.scopes.empty()) lines.push_back("scopes (scp): " + join(f.scopes, " "));
  if (!f.roles.empty()) lines.push_back("roles: " + join(f.roles, ", "));
  if (!f.user.empty()) lines.push_back("user: " + f.user);
  if (!f.app_id.empty()) lines.push_back("app: " + f.app_id);
  if (!f.tenant_id.empty()) lines.push_back("tenant: " + f.tenant_id);
  if (f.expires_at) lines.push_back("expires: " + describe_time(*f.expires_at, now));
  std::vector<std::string> warnings = oauth::smtp_suitability(f, e, now);
  if (a.provider == config::provider_kind::google && !f.scopes.empty() &&
      std::none_of(f.scopes.begin(), f.scopes.end(),
                   [](const std::string& s) { return s == "https://mail.google.com/"; })) {
    warnings.push_back("the token has no https://mail.google.com/ scope (scopes: " + join(f.scopes, " ") +
                       "): Gmail's SMTP server refuses it; request https://mail.google.com/");
  }
  const bool delegated = oauth::is_delegated(a.flow);
  if (delegated && !f.user.empty() && !a.user.empty() && !iequals(f.user, a.user)) {
    warnings.push_back("the token belongs to " + f.user + ", but the account sends as " + a.user +
                       ": the server refuses it unless " + f.user + " has full access to " + a.user +
                       " (a shared mailbox); otherwise sign in as " + a.user + " (oauthmail account login " + a.name +
                       ")");
  }
  if (!warnings.empty()) {
    std::string detail = "The token may not work for SMTP: " + warnings.front();
    if (!detail.empty() && detail.back() != '.') detail += '.';
    for (std::size_t i = 1; i < warnings.size(); ++i) lines.push_back("warning: " + warnings[i]);
    return finding::warning(std::move(detail), "", std::move(lines));
  }
  std::string what;
  if (!f.roles.empty() && f.scopes.empty()) {
    what = "roles " + join(f.roles, ", ");
  } else if (!f.scopes.empty()) {
    what = "scopes " + join(f.scopes, " ");
  } else {
    what = "no scopes listed";
  }
  return finding::passed("Audience " + (f.audiences.empty() ? std::string("(none)") : join(f.audiences, ", ")) + ", " +
                             what + ": right for SMTP.",
                         std::move(lines));
}

// --- AUTH ---------------------------------------------------------------------------------------

namespace {

std::vector<std::string> causes_5_7_3(const account_view& a, bool token_warnings) {
  const std::string user = a.user.empty() ? std::string("<mailbox>") : a.user;
  std::vector<std::string> c;
  if (token_warnings) c.emplace_back("the token itself: see the warning of the Token contents step above");
  if (a.flow == config::flow_kind::client_credentials) {
    c.push_back(
        "the app has no SMTP.SendAsApp permission with admin consent: app registration -> API permissions -> Add a "
        "permission -> APIs my organization uses -> Office 365 Exchange Online -> Application permissions -> "
        "SMTP.SendAsApp, then Grant admin consent");
    c.push_back("the app's service principal is not registered in Exchange Online: New-ServicePrincipal -AppId " +
                (a.client_id.empty() ? std::string("<client_id>") : a.client_id) +
                " -ObjectId <Object ID of the Enterprise application> (Entra admin center -> Enterprise "
                "applications; not the Object ID of the App registration)");
    c.push_back("the service principal has no access to the mailbox: Add-MailboxPermission -Identity " + user +
                " -User <service principal id> -AccessRights FullAccess");
    c.push_back("SMTP AUTH is disabled for the mailbox: Set-CASMailbox -Identity " + user +
                " -SmtpClientAuthenticationDisabled $false");
  } else {
    c.emplace_back(
        "the token is for the wrong resource or scope: it must be requested as https://outlook.office.com/SMTP.Send "
        "(a Graph scope, or SMTP.Send without the prefix, gives a Graph token Exchange refuses)");
    c.push_back("the token belongs to another user than " + user + ": sign in as " + user +
                " (oauthmail account login " + a.name +
                "); for a shared mailbox the signed-in user needs full access to it");
    c.emplace_back(
        "consent is missing: the app registration needs the delegated permission SMTP.Send (listed under Microsoft "
        "Graph), consented by the user or an administrator; then sign in again");
    c.push_back("SMTP AUTH is disabled for the mailbox: Set-CASMailbox -Identity " + user +
                " -SmtpClientAuthenticationDisabled $false");
  }
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = fmt::format("{}. {}", i + 1, c[i]);
  return c;
}

finding connection_failure(const session_facts& s, std::string_view before) {
  const core::error& e = *s.failure;
  const bool auth_not_offered = e.code() == smtp::make_error_code(smtp::session_errc::auth_not_offered);
  return finding::failed(std::string(before) + e.message(),
                         auth_not_offered ? "set smtp.mechanism to one the server offers (see the EHLO step)"
                                          : "run `oauthmail doctor` again; if it keeps failing, see the step named",
                         exit_for_class(e.classification(), auth_not_offered ? EX_CONFIG : EX_NOPERM));
}

}  // namespace

finding diagnose_auth(const probe_report& p, const account_view& a, bool token_warnings) {
  const auto& s = p.session;
  const std::string mech = s.mechanism ? std::string(sasl::to_string(*s.mechanism)) : std::string("AUTH");
  if (s.authenticated) {
    return finding::passed("Signed in as " + a.user + " with " + mech +
                           (s.auth ? ": " + s.auth->to_string() : std::string()) + ".");
  }
  if (!s.auth) {
    if (s.failure) return connection_failure(s, "The connection for AUTH failed before AUTH: ");
    return finding::failed("AUTH was not attempted.", "report this with the output of -v", EX_SOFTWARE);
  }
  const smtp::reply& r = *s.auth;
  const smtp::diagnosis d = smtp::classify_reply(r, smtp::stage::auth, true);
  const bool enhanced_5_7_139 =
      r.enhanced && r.enhanced->klass == 5 && r.enhanced->subject == 7 && r.enhanced->detail == 139;
  const std::string user = a.user.empty() ? std::string("<mailbox>") : a.user;
  if (enhanced_5_7_139) {
    std::string fix = d.fix;
    replace_all(fix, "<mailbox>", user);
    return finding::failed(sentence(d.cause) + " The server said: " + r.to_string(), fix, EX_NOPERM);
  }
  if (is_microsoft(a) && r.code == 535) {
    const std::string kind = a.flow == config::flow_kind::client_credentials ? "app-only" : "delegated";
    std::vector<std::string> lines{"likely causes (" + kind + " sending, most likely first):"};
    for (auto& c : causes_5_7_3(a, token_warnings)) lines.push_back("  " + c);
    return finding::failed("Exchange refused the token: " + r.to_string(),
                           "Exchange does not say which cause it is: check them in this order, then run `oauthmail "
                           "doctor " +
                               a.name + "` again (changes in Exchange can take up to an hour to apply)",
                           EX_NOPERM, std::move(lines));
  }
  std::vector<std::string> lines;
  if (s.error_challenge) {
    std::string c = "the server's error challenge: status " + s.error_challenge->status;
    if (!s.error_challenge->scope.empty()) c += ", scope " + s.error_challenge->scope;
    lines.push_back(std::move(c));
  }
  std::string fix = d.fix;
  if (a.provider == config::provider_kind::google && r.code == 535) {
    fix = a.flow == config::flow_kind::service_account
              ? "check the domain-wide delegation of client " + a.client_id +
                    " (Google Admin console -> Security -> API controls -> Domain-wide delegation): its scopes must "
                    "include https://mail.google.com/, and user (" +
                    user + ") must be a mailbox of the domain"
              : "sign in again as " + user + " with the scope https://mail.google.com/ (oauthmail account login " +
                    a.name + ")";
  }
  std::string detail = sentence(d.cause);
  if (detail.find(r.to_string()) == std::string::npos) detail += " The server said: " + r.to_string();
  return finding::failed(std::move(detail), fix.empty() ? "try again later" : fix, exit_for_class(d.klass, EX_NOPERM),
                         std::move(lines));
}

// --- test message -------------------------------------------------------------------------------

finding diagnose_send_test(const probe_report& p, const account_view& a, std::string_view from, std::string_view to) {
  const std::string route = "from " + std::string(from) + " to " + std::string(to);
  if (!p.message) {
    if (p.session.failure) return connection_failure(p.session, "The test message was not sent: ");
    return finding::failed("The test message was not sent.", "report this with the output of -v", EX_SOFTWARE);
  }
  const smtp::message_result& m = *p.message;
  if (m.delivered()) {
    return finding::passed("The server accepted the test message " + route + ": " + m.final_reply->to_string() + ".");
  }
  const std::string user = a.user.empty() ? std::string("<mailbox>") : a.user;
  auto explain = [&](const smtp::reply& r, smtp::stage st, std::string context) {
    const smtp::diagnosis d = smtp::classify_reply(r, st, true);
    std::string fix = d.fix;
    replace_all(fix, "<from-address>", std::string(from));
    replace_all(fix, "<mailbox>", user);
    std::string detail = std::move(context) + ": " + r.to_string() + ".";
    if (!d.cause.empty() && d.cause.find(r.to_string()) == std::string::npos) detail += " " + d.cause;
    int code = exit_for_class(d.klass, EX_NOPERM);
    if (st == smtp::stage::rcpt && r.enhanced && r.enhanced->klass == 5 && r.enhanced->subject == 1) code = EX_NOUSER;
    return finding::failed(std::move(detail), fix.empty() ? "see the server's reply" : fix, code);
  };
  if (m.final_reply && !m.final_reply->positive_completion()) {
    return explain(*m.final_reply, smtp::stage::data_end,
                   "The server accepted MAIL FROM and RCPT TO, then refused the message after its final dot");
  }
  if (m.mail_reply && !m.mail_reply->positive_completion()) {
    return explain(*m.mail_reply, smtp::stage::mail, "The server refused the sender " + std::string(from));
  }
  for (const auto& rr : m.recipients) {
    if (!rr.accepted && rr.server_reply.code != 0) {
      return explain(rr.server_reply, smtp::stage::rcpt, "The server refused the recipient " + rr.address);
    }
  }
  if (m.data_reply && !m.data_reply->positive_intermediate()) {
    return explain(*m.data_reply, smtp::stage::data, "The server refused DATA");
  }
  if (m.failure) {
    return finding::failed(sentence(m.failure->message()), "try again later",
                           exit_for_class(m.failure->classification(), EX_NOPERM));
  }
  return finding::failed("The test message was not delivered.", "see the output of -v", EX_UNAVAILABLE);
}

std::string compose_test_message(std::string_view from, std::string_view to, std::string_view account,
                                 wall_clock::time_point now, std::string_view message_id) {
  const auto at = from.rfind('@');
  const std::string domain = at == std::string_view::npos ? std::string("localhost") : std::string(from.substr(at + 1));
  std::string m;
  m += "From: <" + std::string(from) + ">\r\n";
  m += "To: <" + std::string(to) + ">\r\n";
  m += "Subject: oauthmail doctor test message\r\n";
  m += fmt::format("Date: {:%a, %d %b %Y %H:%M:%S} +0000\r\n", fmt::gmtime(wall_clock::to_time_t(now)));
  m += "Message-ID: <" + std::string(message_id) + "@" + domain + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=us-ascii\r\n";
  m += "Content-Transfer-Encoding: 7bit\r\n";
  m += "\r\n";
  m += "This message was sent by `oauthmail doctor` to check that account " + std::string(account) + "\r\n";
  m += "can send mail. You can delete it.\r\n";
  return m;
}

}  // namespace oauthmail::doctor
