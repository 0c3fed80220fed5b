// What a network probe of an SMTP submission server found, as plain values: the DNS answer, each
// TCP connection attempt with its timing, the TLS handshake (protocol, cipher, the server's
// certificate, the exact verification result), the EHLO capabilities before and after STARTTLS,
// the greeting / STARTTLS / AUTH replies, and how the SMTP session ended. net::run_probe() fills
// them in (the only part that does I/O); doctor::diagnose_*() judge them (sans-I/O).
// Must not: hold a secret (no token, no AUTH payload: replies and capabilities only).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "oauth/token.hpp"
#include "sasl/mechanism.hpp"
#include "smtp/capabilities.hpp"
#include "smtp/classify.hpp"
#include "smtp/client_session.hpp"
#include "smtp/reply.hpp"

namespace oauthmail::doctor {

struct dns_facts {
  std::string host;
  bool literal = false;                // the host is an IP address: nothing to look up
  std::vector<std::string> addresses;  // the answer, in the order connections are tried
  std::optional<std::string> error;    // the resolver's words when the lookup failed
  bool definite = false;               // "host not found" / "no address" (not "try again")
  bool timed_out = false;
  std::chrono::microseconds took{0};
};

enum class connect_outcome { connected, refused, timed_out, unreachable, failed };
std::string_view to_string(connect_outcome o) noexcept;  // "connected", "refused", ...

struct connect_attempt {
  std::string endpoint;  // "127.0.0.1:587", "[::1]:587"
  connect_outcome outcome = connect_outcome::failed;
  std::string error;  // the system's words, when not connected
  std::chrono::microseconds took{0};
};

struct tcp_facts {
  std::uint16_t port = 0;
  std::vector<connect_attempt> attempts;
  const connect_attempt* connected() const noexcept;  // the attempt that connected, if any
};

// What is wrong with the server's certificate, from OpenSSL's verification result.
enum class certificate_problem { none, expired, not_yet_valid, unknown_ca, wrong_host, other };
std::string_view to_string(certificate_problem p) noexcept;  // "none", "expired", "unknown_ca", ...

struct certificate_facts {
  std::string subject;             // RFC 2253 one-line form: "CN=smtp.example.com,O=..."
  std::string issuer;              // the same for the issuer
  std::vector<std::string> names;  // subjectAltName entries: "DNS:smtp.example.com", "IP:127.0.0.1"
  oauth::wall_clock::time_point not_before{};
  oauth::wall_clock::time_point not_after{};
};

struct tls_facts {
  bool implicit = false;   // TLS from the first byte (465 style); else STARTTLS (or none)
  bool attempted = false;  // a handshake was started
  bool established = false;
  bool timed_out = false;  // the handshake did not finish in time
  std::string protocol;    // "TLSv1.3"
  std::string cipher;      // "TLS_AES_256_GCM_SHA384"
  std::optional<certificate_facts> certificate;
  bool verification_enabled = true;    // false with tls_skip_verify
  std::optional<std::string> ca_file;  // the trust anchors used instead of the system store
  std::string server_name;             // the name (or address) the certificate must be valid for
  long verify_code = 0;                // OpenSSL's X509_V_* result (0: verified or not checked)
  certificate_problem problem = certificate_problem::none;
  std::string verify_text;                 // OpenSSL's words for verify_code
  std::string handshake_error;             // the handshake's own error (e.g. "wrong version number")
  std::optional<std::string> setup_error;  // the TLS set-up failed (a CA file that cannot be loaded)
};

struct ehlo_facts {
  std::optional<smtp::capabilities> before_tls;  // the EHLO answer before STARTTLS (STARTTLS mode, or tls none)
  std::optional<smtp::capabilities> after_tls;   // the EHLO answer over TLS
};

// How the SMTP conversation went.
struct session_facts {
  bool ready = false;  // reached the point after EHLO (and AUTH when credentials were given)
  std::optional<core::error> failure;
  smtp::stage failed_at = smtp::stage::connect;  // the stage of the last reply awaited when it failed
  bool tls_active_at_failure = false;
  std::optional<smtp::reply> greeting;
  std::optional<smtp::reply> ehlo;  // the last EHLO (or HELO) reply
  std::optional<smtp::reply> starttls;
  std::optional<smtp::reply> auth;  // the final AUTH reply (235, or the refusal)
  std::optional<sasl::mechanism> mechanism;
  bool authenticated = false;
  std::optional<sasl::error_challenge> error_challenge;  // Google: the JSON 334 challenge before 535
};

struct probe_report {
  dns_facts dns;
  tcp_facts tcp;
  tls_facts tls;
  ehlo_facts ehlo;
  session_facts session;
  std::optional<smtp::message_result> message;  // the test message, when one was sent
};

}  // namespace oauthmail::doctor
