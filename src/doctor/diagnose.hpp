// The diagnoses of `oauthmail doctor`, sans I/O: from what was found (the configuration's
// problems, the secrets' checks, a network probe's facts, the token service's answer, the token's
// claims, the server's AUTH reply, the test message's replies) to a finding per step — what is
// wrong and what to do, in plain words, with the values of the account filled in (client id,
// mailbox) and the sysexits.h code of a failure:
//   78 EX_CONFIG       configuration, secrets, TLS (certificate, CA file, mode), EHLO (no STARTTLS,
//                      no AUTH, the configured mechanism not offered)
//   68 EX_NOHOST       the host name does not exist (DNS)
//   69 EX_UNAVAILABLE  connection refused; greeting refused permanently; the test message refused
//   75 EX_TEMPFAIL     time-outs, unreachable networks, temporary DNS failures, 4xx replies
//   76 EX_PROTOCOL     the server broke the protocol
//   77 EX_NOPERM       token acquisition refused, AUTH refused, the test message refused for a
//                      permission (SendAsDenied)
//   67 EX_NOUSER       the test message's recipient does not exist
// Provider knowledge: providers.md §1.7–1.9 (AADSTS codes, Exchange's 5.7.3 / 5.7.139 /
// SendAsDenied, matched on the sentence of the reply), §2.5–2.6 (Google service accounts and
// Gmail's replies), §6 (commonly gotten wrong); the token endpoint's explanations come from
// oauth::diagnose() through the token service, the reply explanations from smtp::classify_reply().
// Must not: do I/O, or put a secret into a finding (secrets are only inspected for their shape).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/result.hpp"
#include "core/secret.hpp"
#include "doctor/checklist.hpp"
#include "doctor/facts.hpp"
#include "oauth/jwt.hpp"
#include "oauth/presets.hpp"
#include "oauth/scope_check.hpp"
#include "oauth/token.hpp"

namespace oauthmail::doctor {

// What the diagnoses know about the account and its server (nothing secret).
struct account_view {
  std::string name;
  config::provider_kind provider = config::provider_kind::generic;
  config::flow_kind flow = config::flow_kind::client_credentials;
  std::string user;
  std::string client_id;
  std::string host;
  std::uint16_t port = 587;
  config::tls_setting tls = config::tls_setting::starttls;
  config::mechanism_setting mechanism = config::mechanism_setting::automatic;  // as configured or preset
  bool mechanism_from_account = false;                                         // smtp.mechanism is set in the account
  std::string preset_host;  // the provider's documented server (empty for generic)
  std::uint16_t preset_port = 0;
  std::optional<std::string> ca_file;
  bool skip_verify = false;
  std::chrono::milliseconds timeout{std::chrono::seconds(20)};
};

// The account as the diagnoses see it: the account's settings over the preset's.
account_view make_account_view(const config::account& account, const oauth::provider_endpoints& endpoints);

// --- configuration ------------------------------------------------------------------------------

struct configuration_facts {
  std::string path;
  std::vector<config::problem> problems;  // from loading the file
  std::string requested_account;          // the ACCOUNT argument (empty: the default)
  bool account_found = true;
  std::vector<std::string> account_names;
  std::optional<config::account> account;  // the chosen one (when found)
  bool chosen_by_default = false;
  std::vector<oauth::scope_problem> scope_problems;
  std::optional<std::string> provider_error;  // oauth::resolve_provider() refused the account
  std::vector<std::string> provider_warnings;
  std::optional<account_view> view;  // when the provider resolved
  // --send-test with --from: the account may not send as that address (allowed_senders).
  std::optional<std::string> refused_sender;
};
finding diagnose_configuration(const configuration_facts& facts);

// --- secrets ------------------------------------------------------------------------------------

struct secret_check {
  std::string key;                     // "client_secret", "service_account_key", "token_cache.key", ...
  std::string shown;                   // "file:/etc/oauthmail/secret" or "inline value"
  std::optional<std::string> error;    // cannot be read or is not usable (never quotes the value)
  std::optional<std::string> warning;  // usable, but probably wrong or soon expiring
  std::string info;                    // e.g. "service account sa@x.iam.gserviceaccount.com"
};
// Looks at a resolved secret's shape for its key (a certificate's dates, a key's format, a service
// account file, a client secret that is a secret *ID*). Never copies the value into the result.
secret_check inspect_secret(std::string key, std::string shown, const core::secret<std::string>& value,
                            const account_view& account, oauth::wall_clock::time_point now);
finding diagnose_secrets(const std::vector<secret_check>& checks);

// --- the network path ---------------------------------------------------------------------------

// Records dns, tcp, greeting, tls and ehlo from a probe without credentials; stops at the first
// failure. Returns false when one failed.
bool diagnose_connection(const probe_report& probe, const account_view& account, checklist& out);

finding diagnose_dns(const dns_facts& dns, const account_view& account);
finding diagnose_tcp(const probe_report& probe, const account_view& account);
finding diagnose_greeting(const probe_report& probe, const account_view& account);
finding diagnose_tls(const probe_report& probe, const account_view& account, oauth::wall_clock::time_point now);
finding diagnose_ehlo(const probe_report& probe, const account_view& account);

// --- the token ----------------------------------------------------------------------------------

// The token service's error (its message is "cause. Fix: fix. Provider said: ...", see
// oauth::grant_outcome::to_error()) as cause, provider's words and fix; exit 75 when transient.
finding diagnose_token_error(const core::error& e, const account_view& account);
finding diagnose_token_obtained(const oauth::token_set& tokens, const account_view& account,
                                oauth::wall_clock::time_point now);
// Audience, scopes or roles, user, expiry; warnings (never a failure: AUTH decides) for a token
// that cannot work for SMTP (oauth::smtp_suitability(), Google's scope, another user).
finding diagnose_token_contents(const oauth::token_facts& facts, const oauth::provider_endpoints& endpoints,
                                const account_view& account, oauth::wall_clock::time_point now);

// --- AUTH and the test message ------------------------------------------------------------------

// The outcome of a probe with credentials, at AUTH: 5.7.3 with the likely causes for delegated or
// app-only sending (scope, consent, service principal, mailbox permission, SMTP AUTH for the
// mailbox), 5.7.139 by its sentence, Gmail's 5.7.8, anything else through smtp::classify_reply().
// `token_warnings`: the token contents step warned (named as the first suspect).
finding diagnose_auth(const probe_report& probe, const account_view& account, bool token_warnings);
// The test message's outcome: delivered, or SendAsDenied (after the final dot) with the
// Add-RecipientPermission fix, or the refusal explained.
finding diagnose_send_test(const probe_report& probe, const account_view& account, std::string_view from,
                           std::string_view to);

// The test message: plain ASCII text with From, To, Subject, Date, Message-ID. `message_id` is the
// part before "@" (random, from the caller); the domain is the From address's.
std::string compose_test_message(std::string_view from, std::string_view to, std::string_view account,
                                 oauth::wall_clock::time_point now, std::string_view message_id);

// "2026-11-22 14:03 UTC (in 52 min)" / "(3 days ago)".
std::string describe_time(oauth::wall_clock::time_point t, oauth::wall_clock::time_point now);

}  // namespace oauthmail::doctor
