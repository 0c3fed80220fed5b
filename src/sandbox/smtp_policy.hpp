// The sandbox SMTP server's behaviour per provider profile: what it advertises, how it judges
// tokens and senders, its limits, and the exact reply strings of ../shared/reference/providers.md.
// It answers the questions of smtp::server_session (sans-I/O, `now` passed in) and applies the
// fault plan at each step.
//
// microsoft  587 STARTTLS; EHLO as smtp.office365.com (SIZE 157286400, PIPELINING, DSN,
//            ENHANCEDSTATUSCODES, STARTTLS, 8BITMIME, SMTPUTF8; after TLS `AUTH LOGIN XOAUTH2`);
//            535 5.7.3 Authentication unsuccessful [host] for a bad, expired, wrong-audience,
//            wrong-scope or wrong-mailbox token (straight 535, no JSON challenge); 535 5.7.139 for a
//            mailbox with SMTP AUTH disabled; optional refusal of tokens expiring within N seconds
//            (the high-volume endpoint); 30 messages per minute per mailbox (451 4.7.500 Server
//            busy); 432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded beyond 3
//            concurrent authenticated connections of one mailbox; 554 5.2.252 SendAsDenied after
//            the final dot when the From header or MAIL FROM is not the mailbox or a Send As
//            address; 10,000 recipients per day (554 5.2.0 ...SubmissionQuotaExceededException);
//            500 recipients per message.
// google     465 implicit TLS and 587 STARTTLS; `AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN
//            OAUTHBEARER XOAUTH`-like list (the ones we implement: LOGIN PLAIN XOAUTH2 OAUTHBEARER);
//            a refused token gets the base64 JSON 334 challenge
//            {"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"} then
//            535-5.7.8 Username and Password not accepted...; 100 recipients per message
//            (452 4.5.3 Your message has too many recipients.); password logins get 534 5.7.9.
//            Every error reply ends in "<session id> - gsmtp". Gmail does not refuse a foreign
//            From (it rewrites it), so enforce_send_as is off; 10,000 recipients per day
//            (550 5.4.5 Daily user sending limit exceeded.); a rate limit, when set, answers
//            421 4.7.0 Try again later, closing connection.
// generic    every behaviour above is a setting (smtp_profile fields); RFC-plain texts.
//
// A token is judged in this order (the first failure answers): signature, issuer, expiry and
// revocation (token_authority::validate); the client is in the directory; the audience is one of
// accepted_audiences (empty: the token's own client id, as Google's); delegated tokens carry one
// of delegated_scopes and are for the SASL user (OAUTHBEARER may omit it); app-only tokens carry
// one of app_roles, their client has a service principal and a mailbox permission for the SASL
// user; the mailbox exists; its SMTP AUTH is enabled; the token does not expire within
// refuse_tokens_expiring_within; the mailbox has fewer than concurrent_connections_per_mailbox
// authenticated connections. The greeting is the policy's reply to the connect request (it
// carries the date of `now`). The message rate is counted per accepted message in a rolling
// minute; recipients per day in a rolling 24 hours.
// Must not: touch sockets, clocks or files (captures go through capture_sink); log tokens.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/directory.hpp"
#include "sandbox/faults.hpp"
#include "sandbox/tokens.hpp"
#include "smtp/server_session.hpp"

namespace oauthmail::sandbox {

struct smtp_profile {
  profile_kind kind = profile_kind::microsoft;
  std::string hostname;  // shown in greeting/EHLO/535 texts, e.g. "SN2PR00CA0018.sandbox.outlook.test"
  smtp::server_texts texts;
  std::vector<sasl::mechanism> mechanisms;  // offered after TLS
  bool pipelining = true;
  bool dsn = true;
  std::uint64_t max_message_octets = 157286400;
  std::size_t recipients_per_message = 500;
  std::size_t recipients_per_day = 10000;                 // 0 = unlimited
  std::size_t messages_per_minute = 30;                   // per mailbox; 0 = unlimited
  std::size_t concurrent_connections_per_mailbox = 3;     // 0 = unlimited
  std::chrono::seconds refuse_tokens_expiring_within{0};  // 0 = off (HVE behaviour when > 0)
  bool oauth_error_challenge = false;                     // google: JSON 334 before the 535
  bool enforce_send_as = true;                            // SendAsDenied after the final dot
  bool accept_passwords = false;  // PLAIN/LOGIN: refused unless set; then any non-empty password of an enabled mailbox
  bool require_tls_for_auth = true;             // AUTH offered and accepted only over TLS
  std::vector<std::string> accepted_audiences;  // a token must carry one of these; empty: its client id (Google)
  std::vector<std::string> delegated_scopes;    // any one suffices ("SMTP.Send", "https://mail.google.com/")
  std::vector<std::string> app_roles;           // any one suffices ("SMTP.SendAsApp")
};
// The profile with the provider's defaults.
smtp_profile make_profile(profile_kind kind);

// Receives accepted messages (the capture store in production, a vector in tests).
struct captured_envelope {
  std::string profile;
  std::string mailbox;    // authenticated user
  std::string mechanism;  // "XOAUTH2"
  std::string client_id;  // of the token
  bool tls = false;
};
using capture_sink = std::function<core::result<std::int64_t>(const smtp::received_message&, const captured_envelope&)>;

// What the driver does with a request: the decision, possibly after a delay, or drop the connection.
struct policy_answer {
  smtp::server_decision decision;
  std::chrono::milliseconds delay{0};
  bool drop = false;  // close the connection without a reply (fault)
};

class smtp_policy {
 public:
  smtp_policy(smtp_profile profile, const directory& dir, const token_authority& tokens, fault_registry& faults,
              capture_sink sink);
  ~smtp_policy();

  const smtp_profile& profile() const noexcept;
  smtp_profile& mutable_profile() noexcept;  // the HTTP API changes limits at run time
  // Session options for a new connection (implicit_tls: port 465 listener). Call it just before
  // open() for the same connection: Google's replies carry one session id, made here.
  smtp::server_options session_options(bool implicit_tls, bool tls_available, const std::string& client_address) const;

  // One per connection; releases its concurrency slot when destroyed.
  class connection {
   public:
    virtual ~connection() = default;
    // Answers `request`. For kind `message`, it takes the message from `session`.
    virtual policy_answer decide(const smtp::server_request& request, smtp::server_session& session,
                                 wall_clock::time_point now) = 0;
    // Kind `message` with the message already taken from the session (decide() calls it after
    // session.take_message(); tests call it directly).
    virtual policy_answer decide_message(smtp::received_message message, wall_clock::time_point now) = 0;
    // Faults that act outside a request (starttls, quit, rset): the driver asks before those replies.
    virtual std::optional<smtp_fault> fault_at(smtp_step step) = 0;
  };
  std::unique_ptr<connection> open();

  // Counters for the HTTP API: messages accepted/refused per mailbox, auth failures by reason.
  boost::json::object counters() const;
  void reset_quotas();  // forget rate and daily counters

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace oauthmail::sandbox
