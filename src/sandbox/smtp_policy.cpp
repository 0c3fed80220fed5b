// The sandbox SMTP server's provider profiles (smtp_policy.hpp). Reply texts follow
// ../shared/reference/providers.md §1.2, §1.6, §1.9, §1.10 (Exchange Online) and §2.1, §2.2, §2.6,
// §2.7 (Gmail).
#include "sandbox/smtp_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <random>
#include <utility>

#include "sandbox/formats.hpp"
#include "sandbox/mime_fields.hpp"

namespace oauthmail::sandbox {

namespace {

using smtp::server_decision;
using smtp::server_reply;

server_reply reply(int code, std::string enhanced, std::string text) {
  server_reply r;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.lines = {std::move(text)};
  return r;
}

server_reply reply_lines(int code, std::string enhanced, std::vector<std::string> lines) {
  server_reply r;
  r.code = code;
  r.enhanced = std::move(enhanced);
  r.lines = std::move(lines);
  return r;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

bool contains_any(const std::vector<std::string>& have, const std::vector<std::string>& wanted) {
  return std::any_of(have.begin(), have.end(),
                     [&](const std::string& h) { return std::find(wanted.begin(), wanted.end(), h) != wanted.end(); });
}

constexpr const char* google_error_challenge =
    R"({"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"})";

// Why an AUTH was refused (counters and the HTTP API; never shown to the client).
enum class auth_refusal {
  malformed,
  bad_signature,
  expired,
  not_yet_valid,
  wrong_issuer,
  revoked,
  wrong_audience,
  missing_scope,
  unknown_client,
  no_service_principal,
  wrong_user,
  no_mailbox_permission,
  unknown_mailbox,
  smtp_auth_disabled,
  expiring_soon,
  concurrency,
  password_refused,
};

std::string_view name_of(auth_refusal r) {
  switch (r) {
    case auth_refusal::malformed:
      return "malformed_token";
    case auth_refusal::bad_signature:
      return "bad_signature";
    case auth_refusal::expired:
      return "expired";
    case auth_refusal::not_yet_valid:
      return "not_yet_valid";
    case auth_refusal::wrong_issuer:
      return "wrong_issuer";
    case auth_refusal::revoked:
      return "revoked";
    case auth_refusal::wrong_audience:
      return "wrong_audience";
    case auth_refusal::missing_scope:
      return "missing_scope_or_role";
    case auth_refusal::unknown_client:
      return "unknown_client";
    case auth_refusal::no_service_principal:
      return "no_service_principal";
    case auth_refusal::wrong_user:
      return "wrong_user";
    case auth_refusal::no_mailbox_permission:
      return "no_mailbox_permission";
    case auth_refusal::unknown_mailbox:
      return "unknown_mailbox";
    case auth_refusal::smtp_auth_disabled:
      return "smtp_auth_disabled";
    case auth_refusal::expiring_soon:
      return "expiring_soon";
    case auth_refusal::concurrency:
      return "concurrency";
    case auth_refusal::password_refused:
      return "password_refused";
  }
  return "unknown";
}

auth_refusal from_problem(token_problem p) {
  switch (p) {
    case token_problem::malformed:
      return auth_refusal::malformed;
    case token_problem::bad_signature:
      return auth_refusal::bad_signature;
    case token_problem::expired:
      return auth_refusal::expired;
    case token_problem::not_yet_valid:
      return auth_refusal::not_yet_valid;
    case token_problem::wrong_issuer:
      return auth_refusal::wrong_issuer;
    case token_problem::revoked:
      return auth_refusal::revoked;
  }
  return auth_refusal::malformed;
}

// Texts of the session's own replies that Gmail ends with "<id> - gsmtp".
void add_gsmtp_suffix(server_reply& r, const std::string& id) {
  if (r.lines.empty()) r.lines.emplace_back();
  r.lines.back() += " " + id + " - gsmtp";
}

}  // namespace

smtp_profile make_profile(profile_kind kind) {
  smtp_profile p;
  p.kind = kind;
  switch (kind) {
    case profile_kind::microsoft:
      // Exchange Online, providers.md §1.2, §1.9, §1.10.
      p.hostname = "SN2PR00CA0018.sandbox.outlook.test";
      p.texts.greeting = "Microsoft ESMTP MAIL Service ready";  // the policy adds " at <date>"
      p.texts.ehlo_greeting = "Hello";
      p.texts.auth_ok = reply(235, "2.7.0", "Authentication successful");
      p.texts.not_authenticated = reply(530, "5.7.57", "Client not authenticated to send mail");
      p.texts.ehlo_first = reply(503, "5.5.2", "Send hello first");
      p.texts.starttls_ready = reply(220, "2.0.0", "SMTP server ready");
      p.texts.too_many_recipients = reply(452, "4.5.3", "Too many recipients");
      p.texts.message_too_big = reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
      p.texts.unknown_command = reply(500, "5.3.3", "Unrecognized command");
      p.texts.closing = reply(221, "2.0.0", "Service closing transmission channel");
      p.texts.mail_ok = reply(250, "2.1.0", "Sender OK");
      p.texts.rcpt_ok = reply(250, "2.1.5", "Recipient OK");
      p.texts.data_go_ahead = reply(354, "", "Start mail input; end with <CRLF>.<CRLF>");
      p.texts.auth_unsupported = reply(504, "5.7.4", "Unrecognized authentication type");
      p.texts.bare_empty_challenge = true;  // "334" with no text (§1.6)
      p.mechanisms = {sasl::mechanism::login, sasl::mechanism::xoauth2};
      p.pipelining = true;
      p.dsn = true;
      p.max_message_octets = 157286400;
      p.recipients_per_message = 500;
      p.recipients_per_day = 10000;
      p.messages_per_minute = 30;
      p.concurrent_connections_per_mailbox = 3;
      p.oauth_error_challenge = false;
      p.enforce_send_as = true;
      p.accepted_audiences = {"https://outlook.office.com", "https://outlook.office365.com"};
      p.delegated_scopes = {"SMTP.Send"};
      p.app_roles = {"SMTP.SendAsApp"};
      break;
    case profile_kind::google:
      // Gmail, providers.md §2.1, §2.2, §2.6, §2.7. The session's texts get "<id> - gsmtp"
      // appended per connection (session_options()).
      p.hostname = "smtp.gmail.com";
      p.texts.greeting = "ESMTP";
      p.texts.ehlo_greeting = "at your service,";
      p.texts.auth_ok = reply(235, "2.7.0", "Accepted");
      p.texts.auth_needs_tls = reply(530, "5.7.0", "Must issue a STARTTLS command first.");
      p.texts.not_authenticated = reply_lines(530, "5.7.0",
                                              {"Authentication Required. For more information, go to",
                                               " https://support.google.com/mail/?p=WantAuthError"});
      p.texts.ehlo_first = reply(503, "5.5.1", "EHLO/HELO first.");
      p.texts.starttls_ready = reply(220, "2.0.0", "Ready to start TLS");
      p.texts.too_many_recipients = reply(452, "4.5.3", "Your message has too many recipients.");
      p.texts.message_too_big = reply(552, "5.3.4", "Your message exceeded Google's message size limits.");
      p.texts.syntax_error = reply(555, "5.5.2", "Syntax error.");
      p.texts.unknown_command = reply(502, "5.5.1", "Unrecognized command.");
      p.texts.bad_sequence = reply(503, "5.5.1", "Bad sequence of commands.");
      p.texts.timeout = reply(421, "4.4.2", "Connection timed out, closing connection.");
      p.texts.too_many_errors = reply(421, "4.7.0", "Try again later, closing connection.");
      p.texts.closing = reply(221, "2.0.0", "closing connection");
      p.texts.ok = reply(250, "2.0.0", "OK");
      p.texts.mail_ok = reply(250, "2.1.0", "OK");
      p.texts.rcpt_ok = reply(250, "2.1.5", "OK");
      p.texts.data_go_ahead = reply(354, "", "Go ahead");
      p.texts.auth_unsupported = reply(504, "5.7.4", "Unrecognized authentication type.");
      p.mechanisms = {sasl::mechanism::login, sasl::mechanism::plain, sasl::mechanism::xoauth2,
                      sasl::mechanism::oauthbearer};
      p.pipelining = false;  // not in the observed EHLO after TLS (§2.1)
      p.dsn = false;
      p.max_message_octets = 35882577;
      p.recipients_per_message = 100;
      p.recipients_per_day = 10000;
      p.messages_per_minute = 0;
      p.concurrent_connections_per_mailbox = 0;
      p.oauth_error_challenge = true;
      p.enforce_send_as = false;  // Gmail rewrites a foreign From instead of refusing it
      p.accepted_audiences = {};  // aud is the OAuth client's id
      p.delegated_scopes = {"https://mail.google.com/"};
      p.app_roles = {};
      break;
    case profile_kind::generic:
      p.hostname = "localhost";
      p.mechanisms = {sasl::mechanism::xoauth2, sasl::mechanism::oauthbearer, sasl::mechanism::plain,
                      sasl::mechanism::login};
      p.pipelining = true;
      p.dsn = false;
      p.max_message_octets = std::uint64_t{35} * 1024 * 1024;
      p.recipients_per_message = 100;
      p.recipients_per_day = 0;
      p.messages_per_minute = 0;
      p.concurrent_connections_per_mailbox = 0;
      p.oauth_error_challenge = false;
      p.enforce_send_as = true;
      p.accepted_audiences = {};
      p.delegated_scopes = {"SMTP.Send", "https://mail.google.com/", "smtp"};
      p.app_roles = {"SMTP.SendAsApp", "smtp"};
      break;
  }
  return p;
}

namespace detail {

// The state every connection of one policy shares (the policy's impl).
struct policy_state {
  smtp_profile profile;
  const directory& dir;
  const token_authority& tokens;
  fault_registry& faults;
  capture_sink sink;
  std::mt19937_64 random{std::random_device{}()};

  struct mailbox_state {
    std::size_t connections = 0;                                     // authenticated, open
    std::deque<wall_clock::time_point> minute;                       // accepted messages
    std::deque<std::pair<wall_clock::time_point, std::size_t>> day;  // recipients
    std::size_t day_total = 0;
    std::size_t accepted = 0;
    std::size_t refused = 0;
  };
  std::map<std::string, mailbox_state, std::less<>> mailboxes;  // lower-case address
  std::map<std::string, std::size_t, std::less<>> auth_failures;
  std::map<std::string, std::size_t, std::less<>> refusals;
  std::size_t auth_successes = 0;
  std::size_t faults_fired = 0;
  std::size_t connections_open = 0;
  std::string next_gsmtp_id;  // made by session_options(), taken by the next open()

  policy_state(smtp_profile p, const directory& d, const token_authority& t, fault_registry& f, capture_sink s)
      : profile(std::move(p)), dir(d), tokens(t), faults(f), sink(std::move(s)) {}

  // "SN2PR00CA0018...": upper-case hex of `digits` digits.
  std::string hex(int digits) {
    std::string out;
    static constexpr char alphabet[] = "0123456789ABCDEF";
    for (int i = 0; i < digits; ++i) out += alphabet[random() & 0xF];
    return out;
  }

  // A Gmail-like session id: "d2e1a72fcca58-7e2a3b1c4dsm1234567pfb.12".
  std::string gsmtp_id() {
    static constexpr char letters[] = "abcdefghijklmnopqrstuvwxyz";
    std::string tag;
    for (int i = 0; i < 3; ++i) tag += letters[random() % 26];
    return fmt::format("{:013x}-{:010x}sm{:07}{}.{}", random() & 0xFFFFFFFFFFFFFull, random() & 0xFFFFFFFFFFull,
                       random() % 10000000, tag, random() % 400 + 1);
  }

  void prune(mailbox_state& m, wall_clock::time_point now) {
    while (!m.minute.empty() && m.minute.front() <= now - std::chrono::minutes(1)) m.minute.pop_front();
    while (!m.day.empty() && m.day.front().first <= now - std::chrono::hours(24)) {
      m.day_total -= m.day.front().second;
      m.day.pop_front();
    }
  }

  mailbox_state& state_of(std::string_view address) {
    auto it = mailboxes.find(address);
    if (it == mailboxes.end()) it = mailboxes.emplace(std::string(address), mailbox_state{}).first;
    return it->second;
  }

  void count_refusal(std::string_view mailbox, std::string_view reason) {
    ++refusals[std::string(reason)];
    if (!mailbox.empty()) ++state_of(mailbox).refused;
  }
};

}  // namespace detail

struct smtp_policy::impl : detail::policy_state {
  using policy_state::policy_state;
};

namespace {

class connection_impl final : public smtp_policy::connection {
 public:
  explicit connection_impl(std::shared_ptr<detail::policy_state> p) : p_(std::move(p)) {
    ++p_->connections_open;
    // Gmail's session id: the one session_options() just put into the session's texts.
    if (p_->profile.kind == profile_kind::google) {
      gsmtp_id_ = p_->next_gsmtp_id.empty() ? p_->gsmtp_id() : std::move(p_->next_gsmtp_id);
      p_->next_gsmtp_id.clear();
    }
  }
  ~connection_impl() override {
    release_slot();
    --p_->connections_open;
  }

  policy_answer decide(const smtp::server_request& request, smtp::server_session& session,
                       wall_clock::time_point now) override {
    using kind = smtp::server_request::kind;
    switch (request.what) {
      case kind::connect: {
        auto at_connect = fault(smtp_step::connect);
        if (at_connect.drop || at_connect.decision) return finish(std::move(at_connect), {});
        auto at_greeting = fault(smtp_step::greeting);
        at_greeting.delay += at_connect.delay;
        return finish(std::move(at_greeting), accept_with(greeting(now)));
      }
      case kind::helo:
        return finish(fault(smtp_step::ehlo), server_decision::ok());
      case kind::authenticate: {
        auto f = fault(smtp_step::auth);
        if (f.drop || f.decision) return finish(std::move(f), {});
        return finish(std::move(f), authenticate(request, now));
      }
      case kind::mail: {
        auto f = fault(smtp_step::mail);
        if (f.drop || f.decision) return finish(std::move(f), {});
        return finish(std::move(f), mail(now));
      }
      case kind::rcpt: {
        auto f = fault(smtp_step::rcpt);
        if (f.drop || f.decision) return finish(std::move(f), {});
        return finish(std::move(f), rcpt());
      }
      case kind::data: {
        auto f = fault(smtp_step::data);
        if (f.drop || f.decision) return finish(std::move(f), {});
        return finish(std::move(f), data());
      }
      case kind::message:
        return decide_message(session.take_message(), now);
    }
    return finish({}, server_decision::ok());
  }

  policy_answer decide_message(smtp::received_message message, wall_clock::time_point now) override {
    rcpts_ = 0;
    auto f = fault(smtp_step::data_end);
    if (f.drop || f.decision) return finish(std::move(f), {});
    return finish(std::move(f), deliver(std::move(message), now));
  }

  std::optional<smtp_fault> fault_at(smtp_step step) override {
    auto f = p_->faults.fire_smtp(step);
    if (f) ++p_->faults_fired;
    if (f && step == smtp_step::rset) rcpts_ = 0;
    return f;
  }

 private:
  // A fault's effect on this step: a delay, a drop, or a reply replacing the policy's decision.
  struct effect {
    std::chrono::milliseconds delay{0};
    bool drop = false;
    std::optional<server_decision> decision;
  };

  effect fault(smtp_step step) {
    effect e;
    auto f = p_->faults.fire_smtp(step);
    if (!f) return e;
    ++p_->faults_fired;
    e.delay = f->delay;
    switch (f->what) {
      case smtp_fault::action::drop:
        e.drop = true;
        break;
      case smtp_fault::action::delay:
        break;
      case smtp_fault::action::reply:
        if (f->reply) {
          // 421 means "closing the transmission channel" (RFC 5321 §4.2.2); so does any refusal
          // of the greeting.
          const bool close = f->reply->code == 421 || step == smtp_step::connect || step == smtp_step::greeting;
          e.decision = server_decision::refuse(*f->reply, close);
        }
        break;
    }
    return e;
  }

  // The answer: the fault's effect where there is one, else the policy's `normal` decision.
  policy_answer finish(effect e, server_decision normal) {
    policy_answer a;
    a.delay = e.delay;
    if (e.drop) {
      a.drop = true;
      a.decision = server_decision::refuse(reply(421, "4.3.2", "Service not available"), true);
      return a;
    }
    if (e.decision) {
      a.decision = std::move(*e.decision);
      return a;
    }
    a.decision = std::move(normal);
    return a;
  }

  bool google() const { return p_->profile.kind == profile_kind::google; }
  bool microsoft() const { return p_->profile.kind == profile_kind::microsoft; }
  const std::string& host() const { return p_->profile.hostname; }

  server_reply gsmtp(server_reply r) const {
    add_gsmtp_suffix(r, gsmtp_id_);
    return r;
  }

  server_reply greeting(wall_clock::time_point now) const {
    switch (p_->profile.kind) {
      case profile_kind::microsoft:
        // "220 SC1PR80CA0174.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 27 Mar 2023 18:17:53
        // +0000"
        return reply(220, "", host() + " " + p_->profile.texts.greeting + " at " + format_rfc5322(now));
      case profile_kind::google:
        // "220 smtp.gmail.com ESMTP <id> - gsmtp"
        return reply(220, "", host() + " " + p_->profile.texts.greeting + " " + gsmtp_id_ + " - gsmtp");
      case profile_kind::generic:
        break;
    }
    return reply(220, "", host() + " " + p_->profile.texts.greeting);
  }

  // ---- AUTH ----

  server_decision authenticate(const smtp::server_request& request, wall_clock::time_point now) {
    if (!request.credentials) return refuse_token(auth_refusal::malformed, now, false);
    const sasl::server_credentials& creds = *request.credentials;
    const bool oauth = sasl::is_oauth(creds.kind);
    if (!oauth) return refuse_password(creds, now);

    const auto v = p_->tokens.validate(creds.secret.expose(), now);
    if (!v.token) return refuse_token(from_problem(v.problem.value_or(token_problem::malformed)), now, true);
    const validated_token& tok = *v.token;
    const smtp_profile& prof = p_->profile;

    const client* cl = p_->dir.find_client_by_id(tok.client_id);
    if (cl == nullptr) return refuse_token(auth_refusal::unknown_client, now, true);

    // Audience: one of the profile's, or (none configured) the client's own id (Google) or, for a
    // standards-only provider, the issuer itself (RFC 9068 tokens without a resource indicator).
    const bool generic = prof.kind == profile_kind::generic;
    const bool audience_ok =
        prof.accepted_audiences.empty()
            ? std::find(tok.audiences.begin(), tok.audiences.end(), tok.client_id) != tok.audiences.end() ||
                  (generic &&
                   std::find(tok.audiences.begin(), tok.audiences.end(), p_->tokens.issuer()) != tok.audiences.end())
            : contains_any(tok.audiences, prof.accepted_audiences);
    if (!audience_ok) return refuse_token(auth_refusal::wrong_audience, now, true);

    std::string mailbox_address;
    if (tok.user) {
      // Delegated: the scope, and the SASL user is the token's user (OAUTHBEARER may leave a= out).
      if (!contains_any(tok.scopes, prof.delegated_scopes)) return refuse_token(auth_refusal::missing_scope, now, true);
      if (!creds.user.empty() && !iequals(creds.user, *tok.user)) {
        return refuse_token(auth_refusal::wrong_user, now, true);
      }
      mailbox_address = lower(*tok.user);
    } else {
      // App-only: the role, a service principal, and a mailbox permission for the SASL user.
      // (A standards-only provider puts a client-credentials grant's permission into `scope`.)
      if (!contains_any(tok.roles, prof.app_roles) && !(generic && contains_any(tok.scopes, prof.app_roles))) {
        return refuse_token(auth_refusal::missing_scope, now, true);
      }
      if (!cl->service_principal) return refuse_token(auth_refusal::no_service_principal, now, true);
      if (creds.user.empty()) return refuse_token(auth_refusal::wrong_user, now, true);
      const bool permitted = std::any_of(cl->mailbox_permissions.begin(), cl->mailbox_permissions.end(),
                                         [&](const std::string& m) { return iequals(m, creds.user); });
      if (!permitted) return refuse_token(auth_refusal::no_mailbox_permission, now, true);
      mailbox_address = lower(creds.user);
    }

    const mailbox* box = p_->dir.find_mailbox(mailbox_address);
    if (box == nullptr) return refuse_token(auth_refusal::unknown_mailbox, now, true);
    if (!box->smtp_auth_enabled) return refuse_disabled();
    if (prof.refuse_tokens_expiring_within.count() > 0 && tok.expires_at - now <= prof.refuse_tokens_expiring_within) {
      return refuse_token(auth_refusal::expiring_soon, now, true);
    }
    auto& state = p_->state_of(mailbox_address);
    if (prof.concurrent_connections_per_mailbox > 0 && state.connections >= prof.concurrent_connections_per_mailbox) {
      ++p_->auth_failures[std::string(name_of(auth_refusal::concurrency))];
      return server_decision::refuse(concurrency_reply(), google());
    }

    release_slot();
    ++state.connections;
    mailbox_ = mailbox_address;
    client_id_ = tok.client_id;
    mechanism_ = std::string(sasl::to_string(creds.kind));
    ++p_->auth_successes;
    return server_decision::ok();
  }

  server_decision refuse_token(auth_refusal why, wall_clock::time_point now, bool oauth) {
    ++p_->auth_failures[std::string(name_of(why))];
    server_decision d;
    switch (p_->profile.kind) {
      case profile_kind::microsoft:
        // "535 5.7.3 Authentication unsuccessful [VI1PR0902CA0036.eurprd09.prod.outlook.com 2024-03-20T10:27:56.998Z
        // 08DC48BEE95C08E5]"
        d = server_decision::refuse(
            reply(535, "5.7.3",
                  "Authentication unsuccessful [" + host() + " " + format_rfc3339_ms(now) + " " + p_->hex(16) + "]"));
        break;
      case profile_kind::google:
        d = server_decision::refuse(google_bad_credentials());
        break;
      case profile_kind::generic:
        d = server_decision::refuse(reply(535, "5.7.8", "Authentication credentials invalid"));
        break;
    }
    if (oauth && p_->profile.oauth_error_challenge) d.error_challenge_json = google_error_challenge;
    return d;
  }

  server_reply google_bad_credentials() const {
    // 535-5.7.8 Username and Password not accepted. For more information, go to
    // 535 5.7.8  https://support.google.com/mail/?p=BadCredentials <id> - gsmtp
    return gsmtp(reply_lines(535, "5.7.8",
                             {"Username and Password not accepted. For more information, go to",
                              " https://support.google.com/mail/?p=BadCredentials"}));
  }

  server_decision refuse_disabled() {
    ++p_->auth_failures[std::string(name_of(auth_refusal::smtp_auth_disabled))];
    switch (p_->profile.kind) {
      case profile_kind::microsoft:
        return server_decision::refuse(reply(
            535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox."));
      case profile_kind::google: {
        // Gmail has no per-mailbox switch; an account that may not use SMTP gets the usual 535.
        auto d = server_decision::refuse(google_bad_credentials());
        if (p_->profile.oauth_error_challenge) d.error_challenge_json = google_error_challenge;
        return d;
      }
      case profile_kind::generic:
        break;
    }
    return server_decision::refuse(
        reply(535, "5.7.8", "Authentication credentials invalid: SMTP AUTH is disabled for this mailbox"));
  }

  server_decision refuse_password(const sasl::server_credentials& creds, wall_clock::time_point now) {
    const smtp_profile& prof = p_->profile;
    if (prof.accept_passwords) {
      // The sandbox keeps no passwords: any non-empty password of an enabled mailbox is taken.
      const mailbox* box = creds.secret.empty() ? nullptr : p_->dir.find_mailbox(creds.user);
      const bool authz_ok = creds.authzid.empty() || iequals(creds.authzid, creds.user);
      if (box != nullptr && authz_ok && box->smtp_auth_enabled) {
        auto& state = p_->state_of(lower(box->address));
        if (prof.concurrent_connections_per_mailbox > 0 &&
            state.connections >= prof.concurrent_connections_per_mailbox) {
          ++p_->auth_failures[std::string(name_of(auth_refusal::concurrency))];
          return server_decision::refuse(concurrency_reply(), google());
        }
        release_slot();
        ++state.connections;
        mailbox_ = lower(box->address);
        client_id_.clear();
        mechanism_ = std::string(sasl::to_string(creds.kind));
        ++p_->auth_successes;
        return server_decision::ok();
      }
      if (box != nullptr && !box->smtp_auth_enabled) return refuse_disabled();
      return refuse_token(auth_refusal::password_refused, now, false);
    }
    ++p_->auth_failures[std::string(name_of(auth_refusal::password_refused))];
    switch (prof.kind) {
      case profile_kind::microsoft:
        return server_decision::refuse(
            reply(535, "5.7.139", "Authentication unsuccessful, basic authentication is disabled."));
      case profile_kind::google:
        // 534-5.7.9 Application-specific password required. For more information, go to
        // 534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor <id> - gsmtp
        return server_decision::refuse(gsmtp(reply_lines(534, "5.7.9",
                                                         {"Application-specific password required. For more "
                                                          "information, go to",
                                                          " https://support.google.com/mail/?p=InvalidSecondFactor"})));
      case profile_kind::generic:
        break;
    }
    return server_decision::refuse(
        reply(535, "5.7.8", "Authentication credentials invalid: passwords are not accepted, use OAuth 2.0"));
  }

  server_reply concurrency_reply() const {
    switch (p_->profile.kind) {
      case profile_kind::microsoft:
        return reply(432, "4.3.2", "STOREDRV.ClientSubmit; sender thread limit exceeded");
      case profile_kind::google:
        return gsmtp(reply(421, "4.7.0", "Try again later, closing connection."));
      case profile_kind::generic:
        break;
    }
    return reply(454, "4.7.0", "Too many concurrent connections for this mailbox, try again later");
  }

  void release_slot() {
    if (mailbox_.empty()) return;
    auto it = p_->mailboxes.find(mailbox_);
    if (it != p_->mailboxes.end() && it->second.connections > 0) --it->second.connections;
    mailbox_.clear();
  }

  // ---- MAIL, RCPT, DATA ----

  server_decision mail(wall_clock::time_point now) {
    rcpts_ = 0;
    const smtp_profile& prof = p_->profile;
    if (!mailbox_.empty()) {
      auto& state = p_->state_of(mailbox_);
      p_->prune(state, now);
      if (prof.messages_per_minute > 0 && state.minute.size() >= prof.messages_per_minute) {
        p_->count_refusal(mailbox_, "messages_per_minute");
        switch (prof.kind) {
          case profile_kind::microsoft:
            return server_decision::refuse(reply(451, "4.7.500", "Server busy. Please try again later."));
          case profile_kind::google:
            return server_decision::refuse(gsmtp(reply(421, "4.7.0", "Try again later, closing connection.")), true);
          case profile_kind::generic:
            break;
        }
        return server_decision::refuse(
            reply(451, "4.7.0", "Too many messages per minute from this mailbox, try again later"));
      }
      // Gmail refuses at MAIL once the day's quota is used up; Exchange only after the final dot.
      if (prof.kind == profile_kind::google && prof.recipients_per_day > 0 &&
          state.day_total >= prof.recipients_per_day) {
        p_->count_refusal(mailbox_, "recipients_per_day");
        return server_decision::refuse(daily_quota_reply());
      }
    }
    switch (prof.kind) {
      case profile_kind::microsoft:
        return accept_with(reply(250, "2.1.0", "Sender OK"));
      case profile_kind::google:
        return accept_with(gsmtp(reply(250, "2.1.0", "OK")));
      case profile_kind::generic:
        break;
    }
    return server_decision::ok();
  }

  server_decision rcpt() {
    const smtp_profile& prof = p_->profile;
    if (prof.recipients_per_message > 0 && rcpts_ >= prof.recipients_per_message) {
      p_->count_refusal(mailbox_, "recipients_per_message");
      server_reply r = prof.texts.too_many_recipients;
      if (google()) add_gsmtp_suffix(r, gsmtp_id_);
      return server_decision::refuse(std::move(r));
    }
    ++rcpts_;
    switch (prof.kind) {
      case profile_kind::microsoft:
        return accept_with(reply(250, "2.1.5", "Recipient OK"));
      case profile_kind::google:
        return accept_with(gsmtp(reply(250, "2.1.5", "OK")));
      case profile_kind::generic:
        break;
    }
    return server_decision::ok();
  }

  server_decision data() {
    switch (p_->profile.kind) {
      case profile_kind::microsoft:
        return accept_with(reply(354, "", "Start mail input; end with <CRLF>.<CRLF>"));
      case profile_kind::google:
        return accept_with(gsmtp(reply(354, "", "Go ahead")));
      case profile_kind::generic:
        break;
    }
    return server_decision::ok();
  }

  static server_decision accept_with(server_reply r) {
    server_decision d;
    d.reply = std::move(r);
    return d;
  }

  server_reply daily_quota_reply() const {
    switch (p_->profile.kind) {
      case profile_kind::microsoft:
        return reply(554, "5.2.0",
                     "STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due "
                     "to a permanent exception with message [BeginDiagnosticData]Cannot submit message. "
                     "16.55847:C4150000[EndDiagnosticData] [Hostname=" +
                         host() + "]");
      case profile_kind::google:
        // 550-5.4.5 Daily user sending limit exceeded. For more information, go to
        // 550 5.4.5  https://support.google.com/a/answer/166852 <id> - gsmtp
        return gsmtp(reply_lines(550, "5.4.5",
                                 {"Daily user sending limit exceeded. For more information, go to",
                                  " https://support.google.com/a/answer/166852"}));
      case profile_kind::generic:
        break;
    }
    return reply(554, "5.7.0", "Daily recipient limit reached for this mailbox");
  }

  // ---- after the final dot ----

  server_decision deliver(smtp::received_message message, wall_clock::time_point now) {
    const smtp_profile& prof = p_->profile;
    if (prof.enforce_send_as && !mailbox_.empty()) {
      if (auto denied = send_as_denied(message)) {
        p_->count_refusal(mailbox_, "send_as");
        return server_decision::refuse(std::move(*denied));
      }
    }
    const std::size_t n = message.rcpt_to.size();
    if (!mailbox_.empty() && prof.recipients_per_day > 0) {
      auto& state = p_->state_of(mailbox_);
      p_->prune(state, now);
      if (state.day_total + n > prof.recipients_per_day) {
        p_->count_refusal(mailbox_, "recipients_per_day");
        return server_decision::refuse(daily_quota_reply());
      }
    }
    captured_envelope envelope;
    envelope.profile = std::string(to_string(prof.kind));
    envelope.mailbox = mailbox_;
    envelope.mechanism = mechanism_;
    envelope.client_id = client_id_;
    envelope.tls = message.tls;
    core::result<std::int64_t> id = p_->sink ? p_->sink(message, envelope) : core::result<std::int64_t>(0);
    if (!id) {
      p_->count_refusal(mailbox_, "capture_failed");
      switch (prof.kind) {
        case profile_kind::google:
          return server_decision::refuse(gsmtp(reply(451, "4.3.0", "Mail server temporarily rejected message.")));
        default:
          return server_decision::refuse(reply(451, "4.3.0", "Temporary server error. Please try again later"));
      }
    }
    if (!mailbox_.empty()) {
      auto& state = p_->state_of(mailbox_);
      state.minute.push_back(now);
      state.day.emplace_back(now, n);
      state.day_total += n;
      ++state.accepted;
    }
    switch (prof.kind) {
      case profile_kind::microsoft:
        // "250 2.0.0 OK <id> [Hostname=...]"
        return accept_with(
            reply(250, "2.0.0", fmt::format("OK <{}{:08X}@{}> [Hostname={}]", p_->hex(16), *id, host(), host())));
      case profile_kind::google: {
        // "250 2.0.0 OK  1711234567 <id> - gsmtp"
        const auto ts = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        return accept_with(reply(250, "2.0.0", fmt::format("OK  {} {} - gsmtp", ts, gsmtp_id_)));
      }
      case profile_kind::generic:
        break;
    }
    return accept_with(reply(250, "2.0.0", fmt::format("Ok: queued as {}", *id)));
  }

  // The first sender (MAIL FROM, then each From address) the mailbox may not use, as the reply.
  std::optional<server_reply> send_as_denied(const smtp::received_message& message) const {
    std::vector<std::string> senders;
    if (!message.mail_from.empty()) senders.push_back(message.mail_from);
    const message_fields fields = parse_message_fields(message.content);
    for (const auto& f : fields.from) senders.push_back(f);
    if (fields.has_from && fields.from.empty()) {
      // A From field without an address GMime can read: not a sender anybody may use.
      for (const auto& [name, value] : fields.headers) {
        if (iequals(name, "From")) {
          senders.push_back(value.empty() ? std::string("<>") : value);
          break;
        }
      }
    }
    for (const auto& s : senders) {
      if (p_->dir.may_send_as(mailbox_, s)) continue;
      switch (p_->profile.kind) {
        case profile_kind::microsoft:
          return reply(554, "5.2.252",
                       "SendAsDenied; " + mailbox_ + " not allowed to send as " + s +
                           "; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to "
                           "process message due to a permanent exception with message [BeginDiagnosticData]Cannot "
                           "submit message. 0.35250:0A006A85, 1.36674:0A000000, 1.61250:00000000, "
                           "1.45378:02000000, 1.44866:A0210000, 16.55847:34120000[EndDiagnosticData] [Hostname=" +
                           host() + "]");
        case profile_kind::google:
          return gsmtp(reply(550, "5.7.1", "The sender " + s + " is not an address of the authenticated user."));
        case profile_kind::generic:
          break;
      }
      return reply(550, "5.7.1", "Sender address " + s + " is not owned by the authenticated user " + mailbox_);
    }
    return std::nullopt;
  }

  std::shared_ptr<detail::policy_state> p_;
  std::string gsmtp_id_;
  std::string mailbox_;  // authenticated mailbox, lower-case; empty before AUTH
  std::string client_id_;
  std::string mechanism_;
  std::size_t rcpts_ = 0;  // accepted RCPTs of the current transaction
};

}  // namespace

smtp_policy::smtp_policy(smtp_profile profile, const directory& dir, const token_authority& tokens,
                         fault_registry& faults, capture_sink sink)
    : impl_(std::make_shared<impl>(std::move(profile), dir, tokens, faults, std::move(sink))) {}

smtp_policy::~smtp_policy() = default;

const smtp_profile& smtp_policy::profile() const noexcept { return impl_->profile; }
smtp_profile& smtp_policy::mutable_profile() noexcept { return impl_->profile; }

smtp::server_options smtp_policy::session_options(bool implicit_tls, bool tls_available,
                                                  const std::string& client_address) const {
  const smtp_profile& prof = impl_->profile;
  smtp::server_options o;
  o.hostname = prof.hostname;
  o.client_address = client_address;
  o.implicit_tls = implicit_tls;
  o.starttls_available = tls_available && !implicit_tls;
  o.require_tls_for_auth = prof.require_tls_for_auth;
  o.require_auth = true;
  o.auth_mechanisms = prof.mechanisms;
  o.pipelining = prof.pipelining;
  o.dsn = prof.dsn;
  o.eight_bit_mime = true;
  o.smtputf8 = true;
  o.enhanced_status_codes = true;
  o.max_message_octets = prof.max_message_octets;
  o.max_recipients = prof.recipients_per_message == 0 ? std::size_t{100000} : prof.recipients_per_message;
  o.texts = prof.texts;
  if (prof.kind == profile_kind::google) {
    const std::string id = impl_->gsmtp_id();
    impl_->next_gsmtp_id = id;
    for (server_reply* r : {&o.texts.auth_cancelled,
                            &o.texts.auth_malformed,
                            &o.texts.auth_needs_tls,
                            &o.texts.auth_line_too_long,
                            &o.texts.not_authenticated,
                            &o.texts.ehlo_first,
                            &o.texts.bare_line_end,
                            &o.texts.too_many_recipients,
                            &o.texts.message_too_big,
                            &o.texts.line_too_long,
                            &o.texts.syntax_error,
                            &o.texts.unknown_command,
                            &o.texts.bad_sequence,
                            &o.texts.timeout,
                            &o.texts.too_many_errors,
                            &o.texts.closing,
                            &o.texts.ok,
                            &o.texts.mail_ok,
                            &o.texts.rcpt_ok,
                            &o.texts.data_go_ahead,
                            &o.texts.helo_syntax,
                            &o.texts.mail_syntax,
                            &o.texts.rcpt_syntax,
                            &o.texts.auth_syntax,
                            &o.texts.no_arguments,
                            &o.texts.argument_syntax,
                            &o.texts.unsupported_parameter,
                            &o.texts.needs_smtputf8,
                            &o.texts.nested_mail,
                            &o.texts.need_mail,
                            &o.texts.no_recipients,
                            &o.texts.auth_not_enabled,
                            &o.texts.already_authenticated,
                            &o.texts.auth_in_transaction,
                            &o.texts.auth_unsupported,
                            &o.texts.auth_failed,
                            &o.texts.tls_already_active,
                            &o.texts.not_implemented,
                            &o.texts.refused,
                            &o.texts.service_unavailable,
                            &o.texts.message_refused}) {
      add_gsmtp_suffix(*r, id);
    }
  }
  return o;
}

std::unique_ptr<smtp_policy::connection> smtp_policy::open() { return std::make_unique<connection_impl>(impl_); }

boost::json::object smtp_policy::counters() const {
  boost::json::object mailboxes;
  for (const auto& [address, m] : impl_->mailboxes) {
    mailboxes[address] = boost::json::object{
        {"accepted", m.accepted},
        {"refused", m.refused},
        {"connections", m.connections},
        {"messages_last_minute", m.minute.size()},
        {"recipients_last_24h", m.day_total},
    };
  }
  boost::json::object failures;
  for (const auto& [reason, n] : impl_->auth_failures) failures[reason] = n;
  boost::json::object refusals;
  for (const auto& [reason, n] : impl_->refusals) refusals[reason] = n;
  return {
      {"profile", to_string(impl_->profile.kind)}, {"connections_open", impl_->connections_open},
      {"auth_successes", impl_->auth_successes},   {"auth_failures", std::move(failures)},
      {"refusals", std::move(refusals)},           {"faults_fired", impl_->faults_fired},
      {"mailboxes", std::move(mailboxes)},
  };
}

void smtp_policy::reset_quotas() {
  for (auto& [address, m] : impl_->mailboxes) {
    m.minute.clear();
    m.day.clear();
    m.day_total = 0;
  }
}

}  // namespace oauthmail::sandbox
