// The network diagnoses: DNS, TCP, greeting, TLS and certificate, EHLO — each failure named with
// its fix and exit code, and diagnose_connection() walking them in wire order.
#include <gtest/gtest.h>
#include <sysexits.h>

#include "doctor/diagnose.hpp"
#include "unit/doctor/helpers.hpp"

namespace oauthmail::doctor {
namespace {

using namespace testing;

bool has(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }
bool has_fact(const finding& f, std::string_view needle) {
  return std::any_of(f.facts.begin(), f.facts.end(), [&](const std::string& l) { return has(l, needle); });
}

const auto now = oauth::wall_clock::now();

// --- DNS ---

TEST(DoctorDns, AnAddressNeedsNoLookup) {
  dns_facts d;
  d.host = "127.0.0.1";
  d.literal = true;
  auto f = diagnose_dns(d, microsoft_app_only());
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_TRUE(has(f.detail, "IP address")) << f.detail;
}

TEST(DoctorDns, AnswerIsListedWithItsTime) {
  auto f = diagnose_dns(good_starttls_probe().dns, microsoft_app_only());
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_TRUE(has(f.detail, "52.97.1.2, 2603:1026::2")) << f.detail;
  EXPECT_TRUE(has(f.detail, "12 ms")) << f.detail;
}

TEST(DoctorDns, UnknownHostIsNoHostWithTheProvidersServer) {
  auto a = microsoft_app_only();
  a.host = "smtp.office365.con";
  dns_facts d;
  d.host = a.host;
  d.error = "Host not found (authoritative)";
  d.definite = true;
  auto f = diagnose_dns(d, a);
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_EQ(f.exit_code, EX_NOHOST);
  EXPECT_TRUE(has(f.detail, "does not exist")) << f.detail;
  EXPECT_TRUE(has(f.fix, "smtp.office365.com:587")) << f.fix;
}

TEST(DoctorDns, TemporaryFailuresAndTimeoutsAreTempfail) {
  dns_facts d;
  d.host = "smtp.gmail.com";
  d.error = "Host not found (non-authoritative), try again later";
  auto f = diagnose_dns(d, google_service_account());
  EXPECT_EQ(f.exit_code, EX_TEMPFAIL);
  d.error.reset();
  d.timed_out = true;
  f = diagnose_dns(d, google_service_account());
  EXPECT_EQ(f.exit_code, EX_TEMPFAIL);
  EXPECT_TRUE(has(f.detail, "timed out after 20 s")) << f.detail;
  EXPECT_TRUE(has(f.fix, "resolv")) << f.fix;
}

// --- TCP ---

probe_report tcp_only(std::vector<connect_attempt> attempts) {
  probe_report p;
  p.tcp.port = 587;
  p.tcp.attempts = std::move(attempts);
  return p;
}

TEST(DoctorTcp, ConnectedListsEarlierFailedAddresses) {
  auto p = tcp_only({{"[::1]:587", connect_outcome::refused, "Connection refused", 100us},
                     {"127.0.0.1:587", connect_outcome::connected, "", 300us}});
  auto f = diagnose_tcp(p, microsoft_app_only());
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_TRUE(has(f.detail, "127.0.0.1:587")) << f.detail;
  EXPECT_TRUE(has(f.detail, "0.3 ms")) << f.detail;
  EXPECT_TRUE(has_fact(f, "[::1]:587: refused")) << f.facts.front();
}

TEST(DoctorTcp, RefusedMeansWrongPortOrServerDown) {
  auto a = microsoft_app_only();
  a.port = 25;
  auto p = tcp_only({{"52.97.1.2:25", connect_outcome::refused, "Connection refused", 1ms}});
  auto f = diagnose_tcp(p, a);
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_EQ(f.exit_code, EX_UNAVAILABLE);
  EXPECT_TRUE(has(f.detail, "refused the connection")) << f.detail;
  EXPECT_TRUE(has(f.fix, "587 (STARTTLS) or 465 (implicit TLS)")) << f.fix;
  EXPECT_TRUE(has(f.fix, "smtp.office365.com:587")) << f.fix;
}

TEST(DoctorTcp, TimeoutPointsAtABlockedPort) {
  auto p = tcp_only({{"142.250.1.1:587", connect_outcome::timed_out, "no answer", 20s}});
  auto f = diagnose_tcp(p, google_service_account());
  EXPECT_EQ(f.exit_code, EX_TEMPFAIL);
  EXPECT_TRUE(has(f.detail, "dropped, not refused")) << f.detail;
  EXPECT_TRUE(has(f.fix, "blocked")) << f.fix;
  EXPECT_TRUE(has(f.fix, "nc -vz smtp.gmail.com 587")) << f.fix;
  EXPECT_TRUE(has(f.fix, "465")) << f.fix;  // Gmail's alternative
  // Not offered for Microsoft (no documented 465).
  auto m = diagnose_tcp(p, microsoft_app_only());
  EXPECT_FALSE(has(m.fix, "465")) << m.fix;
}

TEST(DoctorTcp, UnreachableNetwork) {
  auto p = tcp_only({{"[2603:1026::2]:587", connect_outcome::unreachable, "Network is unreachable", 1ms}});
  auto f = diagnose_tcp(p, microsoft_app_only());
  EXPECT_EQ(f.exit_code, EX_TEMPFAIL);
  EXPECT_TRUE(has(f.detail, "no route")) << f.detail;
  EXPECT_TRUE(has(f.fix, "IPv6")) << f.fix;
}

// --- greeting ---

TEST(DoctorGreeting, PassesWithTheGreeting) {
  auto f = diagnose_greeting(good_starttls_probe(), microsoft_app_only());
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_TRUE(has(f.detail, "220 SC1PR80CA0174")) << f.detail;
}

TEST(DoctorGreeting, NoGreetingOn465MeansImplicitTls) {
  auto a = google_service_account();
  a.port = 465;
  probe_report p = tcp_only({{"142.250.1.1:465", connect_outcome::connected, "", 1ms}});
  p.session.failure = session_failure(smtp::session_errc::timeout, "No reply", core::failure_class::transient);
  p.session.failed_at = smtp::stage::greeting;
  auto f = diagnose_greeting(p, a);
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_EQ(f.exit_code, EX_TEMPFAIL);
  EXPECT_TRUE(has(f.fix, "smtp.tls = \"implicit\"")) << f.fix;
  EXPECT_TRUE(has(f.fix, "port 465 expects TLS")) << f.fix;
}

TEST(DoctorGreeting, RefusedSessionIsExplained) {
  probe_report p = tcp_only({{"192.0.2.1:587", connect_outcome::connected, "", 1ms}});
  p.session.greeting = reply("554 5.7.1 Service unavailable; client host blocked");
  p.session.failure = session_failure(smtp::session_errc::rejected, "refused", core::failure_class::permanent);
  p.session.failed_at = smtp::stage::greeting;
  auto f = diagnose_greeting(p, microsoft_app_only());
  EXPECT_EQ(f.exit_code, EX_UNAVAILABLE);
  EXPECT_TRUE(has(f.detail, "554 5.7.1 Service unavailable")) << f.detail;
  p.session.greeting = reply("421 4.3.2 Service not available");
  EXPECT_EQ(diagnose_greeting(p, microsoft_app_only()).exit_code, EX_TEMPFAIL);
}

TEST(DoctorGreeting, EhloRefusedBeforeTlsBelongsToTheGreeting) {
  probe_report p = tcp_only({{"192.0.2.1:587", connect_outcome::connected, "", 1ms}});
  p.session.greeting = reply("220 mail.example.com ESMTP");
  p.session.ehlo = reply("550 5.7.1 Go away");
  p.session.failure = session_failure(smtp::session_errc::rejected, "refused", core::failure_class::permanent);
  p.session.failed_at = smtp::stage::ehlo;
  p.session.tls_active_at_failure = false;
  auto f = diagnose_greeting(p, microsoft_app_only());
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_TRUE(has(f.detail, "refused EHLO")) << f.detail;
}

// --- TLS ---

probe_report tls_failure(certificate_problem problem, long code, std::string text) {
  probe_report p = good_starttls_probe();
  p.ehlo.after_tls.reset();
  p.session.ready = false;
  p.tls.established = false;
  p.tls.problem = problem;
  p.tls.verify_code = code;
  p.tls.verify_text = std::move(text);
  p.session.failure = session_failure(smtp::session_errc::tls_failed, "TLS failed");
  p.session.failed_at = smtp::stage::tls_handshake;
  return p;
}

TEST(DoctorTls, PassShowsProtocolCertificateAndTrust) {
  auto f = diagnose_tls(good_starttls_probe(), microsoft_app_only(), now);
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_TRUE(has(f.detail, "TLSv1.3 (TLS_AES_256_GCM_SHA384)")) << f.detail;
  EXPECT_TRUE(has(f.detail, "verified for smtp.office365.com")) << f.detail;
  EXPECT_TRUE(has_fact(f, "STARTTLS: 220 2.0.0 SMTP server ready"));
  EXPECT_TRUE(has_fact(f, "certificate: CN=outlook.com"));
  EXPECT_TRUE(has_fact(f, "issued by: CN=DigiCert"));
  EXPECT_TRUE(has_fact(f, "names: DNS:*.office365.com, DNS:outlook.com"));
  EXPECT_TRUE(has_fact(f, "the system's CA store"));
}

TEST(DoctorTls, UnknownCaSuggestsCaFile) {
  auto p = tls_failure(certificate_problem::unknown_ca, 20, "unable to get local issuer certificate");
  auto f = diagnose_tls(p, microsoft_app_only(), now);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_TRUE(has(f.detail, "not signed by a certificate authority this machine trusts")) << f.detail;
  EXPECT_TRUE(has(f.fix, "smtp.ca_file")) << f.fix;
  EXPECT_TRUE(has(f.fix, "--ca-file")) << f.fix;
  EXPECT_TRUE(has_fact(f, "OpenSSL: unable to get local issuer certificate"));
  EXPECT_TRUE(has_fact(f, "issued by: CN=DigiCert"));
  // With a CA file configured: that file is the suspect.
  p.tls.ca_file = "/etc/oauthmail/ca.pem";
  f = diagnose_tls(p, microsoft_app_only(), now);
  EXPECT_TRUE(has(f.detail, "not signed by a CA in smtp.ca_file (/etc/oauthmail/ca.pem)")) << f.detail;
  EXPECT_TRUE(has(f.fix, "issuer: CN=DigiCert")) << f.fix;
}

TEST(DoctorTls, ExpiredCertificateNamesTheDate) {
  auto p = tls_failure(certificate_problem::expired, 10, "certificate has expired");
  p.tls.certificate->not_after = now - std::chrono::hours(24 * 3);
  auto f = diagnose_tls(p, microsoft_app_only(), now);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_TRUE(has(f.detail, "has expired")) << f.detail;
  EXPECT_TRUE(has(f.detail, "3 days ago")) << f.detail;
  EXPECT_TRUE(has(f.fix, "renew")) << f.fix;
  EXPECT_TRUE(has(f.fix, "clock")) << f.fix;
}

TEST(DoctorTls, NotYetValidPointsAtTheClock) {
  auto p = tls_failure(certificate_problem::not_yet_valid, 9, "certificate is not yet valid");
  auto f = diagnose_tls(p, microsoft_app_only(), now);
  EXPECT_TRUE(has(f.detail, "not valid yet")) << f.detail;
  EXPECT_TRUE(has(f.fix, "clock")) << f.fix;
}

TEST(DoctorTls, WrongHostListsTheCertificatesNames) {
  auto a = microsoft_app_only();
  a.host = "mail.contoso.com";
  auto p = tls_failure(certificate_problem::wrong_host, 62, "hostname mismatch");
  p.tls.server_name = "mail.contoso.com";
  auto f = diagnose_tls(p, a, now);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_TRUE(has(f.detail, "not valid for mail.contoso.com: it names DNS:*.office365.com, DNS:outlook.com"))
      << f.detail;
  EXPECT_TRUE(has(f.fix, "smtp.host")) << f.fix;
  EXPECT_TRUE(has(f.fix, "smtp.office365.com:587")) << f.fix;
}

TEST(DoctorTls, ImplicitTlsOnAStarttlsPort) {
  auto a = google_service_account();
  a.tls = config::tls_setting::implicit;
  a.port = 587;
  auto p = tls_failure(certificate_problem::none, 0, "");
  p.tls.implicit = true;
  p.tls.certificate.reset();
  p.tls.handshake_error = "wrong version number (SSL routines)";
  auto f = diagnose_tls(p, a, now);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_TRUE(has(f.detail, "wrong version number")) << f.detail;
  EXPECT_TRUE(has(f.fix, "smtp.tls = \"starttls\"")) << f.fix;
}

TEST(DoctorTls, HandshakeTimeoutIsTemporary) {
  auto p = tls_failure(certificate_problem::none, 0, "");
  p.tls.timed_out = true;
  EXPECT_EQ(diagnose_tls(p, microsoft_app_only(), now).exit_code, EX_TEMPFAIL);
}

TEST(DoctorTls, NoStarttlsOffered) {
  probe_report p = good_starttls_probe();
  p.tls = tls_facts{};
  p.ehlo.after_tls.reset();
  p.ehlo.before_tls = caps("250-mx.example.com\r\n250-SIZE 1000\r\n250 8BITMIME");
  p.session.failure = session_failure(smtp::session_errc::tls_required, "The server does not offer STARTTLS");
  p.session.failed_at = smtp::stage::ehlo;
  auto a = microsoft_app_only();
  a.port = 25;
  auto f = diagnose_tls(p, a, now);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_EQ(f.detail, "The server does not offer STARTTLS.");
  EXPECT_TRUE(has(f.fix, "never sends a token without TLS")) << f.fix;
  EXPECT_TRUE(has(f.fix, "port 25")) << f.fix;
  EXPECT_TRUE(has_fact(f, "EHLO before TLS: no AUTH, SIZE 1000")) << f.facts.front();
  a.port = 465;
  EXPECT_TRUE(has(diagnose_tls(p, a, now).fix, "smtp.tls = \"implicit\""));
}

TEST(DoctorTls, StarttlsRefused) {
  probe_report p = good_starttls_probe();
  p.tls = tls_facts{};
  p.session.starttls = reply("454 4.7.0 TLS not available due to local problem");
  p.session.failure = session_failure(smtp::session_errc::tls_required, "refused");
  p.session.failed_at = smtp::stage::starttls;
  auto f = diagnose_tls(p, microsoft_app_only(), now);
  EXPECT_EQ(f.exit_code, EX_TEMPFAIL);
  EXPECT_TRUE(has(f.detail, "refused STARTTLS: 454 4.7.0")) << f.detail;
}

TEST(DoctorTls, UnreadableCaFile) {
  probe_report p = good_starttls_probe();
  p.tls = tls_facts{};
  p.tls.setup_error = "Cannot load the CA file \"/nope.pem\": No such file or directory";
  auto f = diagnose_tls(p, microsoft_app_only(), now);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_TRUE(has(f.detail, "/nope.pem")) << f.detail;
  EXPECT_TRUE(has(f.fix, "smtp.ca_file")) << f.fix;
}

TEST(DoctorTls, SkippedVerificationIsAWarningWithWhatItHides) {
  probe_report p = good_starttls_probe();
  p.tls.verification_enabled = false;
  p.tls.verify_code = 18;
  p.tls.verify_text = "self-signed certificate";
  auto f = diagnose_tls(p, microsoft_app_only(), now);
  EXPECT_EQ(f.status, verdict::warn);
  EXPECT_TRUE(has(f.detail, "NOT verified")) << f.detail;
  EXPECT_TRUE(has_fact(f, "it would be refused: self-signed certificate"));
  EXPECT_TRUE(has(f.fix, "remove tls_skip_verify")) << f.fix;
}

TEST(DoctorTls, CertificateExpiringSoonIsAWarning) {
  probe_report p = good_starttls_probe();
  p.tls.certificate->not_after = now + std::chrono::hours(24 * 5);
  auto f = diagnose_tls(p, microsoft_app_only(), now);
  EXPECT_EQ(f.status, verdict::warn);
  EXPECT_TRUE(has(f.detail, "expires")) << f.detail;
}

TEST(DoctorTls, PlaintextIsAWarning) {
  auto a = microsoft_app_only();
  a.tls = config::tls_setting::none;
  auto f = diagnose_tls(probe_report{}, a, now);
  EXPECT_EQ(f.status, verdict::warn);
  EXPECT_TRUE(has(f.detail, "unencrypted")) << f.detail;
}

// --- EHLO ---

TEST(DoctorEhlo, ListsBothAnswersAndTheMechanism) {
  auto f = diagnose_ehlo(good_starttls_probe(), microsoft_app_only());
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_EQ(f.detail, "AUTH LOGIN XOAUTH2 over TLS; XOAUTH2 will be used.");
  EXPECT_TRUE(has_fact(f, "before TLS: no AUTH, STARTTLS, SIZE 157286400 (150 MiB), PIPELINING, SMTPUTF8"));
  EXPECT_TRUE(has_fact(f, "over TLS: AUTH LOGIN XOAUTH2"));
  EXPECT_TRUE(has_fact(f, "only after STARTTLS"));
}

TEST(DoctorEhlo, OauthbearerAtMicrosoftIsNotOffered) {
  auto a = microsoft_app_only();
  a.mechanism = config::mechanism_setting::oauthbearer;
  a.mechanism_from_account = true;
  auto f = diagnose_ehlo(good_starttls_probe(), a);
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_EQ(f.detail, "The account uses OAUTHBEARER (smtp.mechanism), but the server offers AUTH LOGIN XOAUTH2.");
  EXPECT_TRUE(has(f.fix, "only XOAUTH2")) << f.fix;
  EXPECT_TRUE(has(f.fix, "smtp.mechanism = \"xoauth2\"")) << f.fix;
}

TEST(DoctorEhlo, ConfiguredMechanismMissingElsewhere) {
  auto a = google_service_account();
  a.mechanism = config::mechanism_setting::oauthbearer;
  a.mechanism_from_account = true;
  auto p = good_starttls_probe();
  p.ehlo.after_tls = caps("250-smtp.example.com\r\n250 AUTH PLAIN XOAUTH2");
  auto f = diagnose_ehlo(p, a);
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_TRUE(has(f.fix, "set smtp.mechanism to one the server offers")) << f.fix;
}

TEST(DoctorEhlo, NoAuthOverTls) {
  auto p = good_starttls_probe();
  p.ehlo.after_tls = caps("250-mx.example.com\r\n250 SIZE 1000");
  auto f = diagnose_ehlo(p, microsoft_app_only());
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_EQ(f.detail, "The server offers no AUTH after STARTTLS.");
  EXPECT_TRUE(has(f.fix, "not a mail submission service")) << f.fix;
}

TEST(DoctorEhlo, PasswordOnlyServer) {
  auto a = google_service_account();
  auto p = good_starttls_probe();
  p.ehlo.after_tls = caps("250-smtp.example.com\r\n250 AUTH PLAIN LOGIN");
  auto f = diagnose_ehlo(p, a);
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_TRUE(has(f.detail, "no OAuth2 mechanism (AUTH PLAIN LOGIN)")) << f.detail;
}

TEST(DoctorEhlo, AutomaticChoosesXoauth2ThenOauthbearer) {
  auto a = google_service_account();
  auto p = good_starttls_probe();
  p.ehlo.after_tls = caps("250-smtp.gmail.com\r\n250 AUTH LOGIN PLAIN OAUTHBEARER");
  EXPECT_EQ(diagnose_ehlo(p, a).detail, "AUTH LOGIN PLAIN OAUTHBEARER over TLS; OAUTHBEARER will be used.");
}

TEST(DoctorEhlo, EhloRefusedOverTls) {
  auto p = good_starttls_probe();
  p.ehlo.after_tls.reset();
  p.session.ready = false;
  p.session.ehlo = reply("554 5.7.1 Not now");
  p.session.failure = session_failure(smtp::session_errc::rejected, "refused", core::failure_class::permanent);
  p.session.failed_at = smtp::stage::ehlo;
  p.session.tls_active_at_failure = true;
  auto f = diagnose_ehlo(p, microsoft_app_only());
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_TRUE(has(f.detail, "refused EHLO after STARTTLS: 554 5.7.1")) << f.detail;
}

// --- the walk ---

TEST(DoctorConnection, AllPassInStarttlsOrder) {
  checklist c;
  EXPECT_TRUE(diagnose_connection(good_starttls_probe(), microsoft_app_only(), c));
  for (auto id : {step_id::dns, step_id::tcp, step_id::greeting, step_id::tls, step_id::ehlo}) {
    EXPECT_EQ(c.at(id).status, verdict::pass) << to_string(id);
  }
  EXPECT_EQ(c.at(step_id::token).status, verdict::not_checked);
}

TEST(DoctorConnection, StopsAtTheFirstBrokenLink) {
  // Refused: nothing after TCP is judged.
  checklist c;
  auto p = tcp_only({{"127.0.0.1:1", connect_outcome::refused, "Connection refused", 1ms}});
  p.dns.host = "127.0.0.1";
  p.dns.literal = true;
  EXPECT_FALSE(diagnose_connection(p, microsoft_app_only(), c));
  EXPECT_EQ(c.at(step_id::tcp).status, verdict::fail);
  EXPECT_EQ(c.at(step_id::greeting).status, verdict::not_checked);
  EXPECT_EQ(c.exit_code(), EX_UNAVAILABLE);
}

TEST(DoctorConnection, StarttlsCertificateFailureComesAfterTheGreeting) {
  checklist c;
  auto p = tls_failure(certificate_problem::unknown_ca, 19, "self-signed certificate in certificate chain");
  EXPECT_FALSE(diagnose_connection(p, microsoft_app_only(), c));
  EXPECT_EQ(c.at(step_id::greeting).status, verdict::pass);
  EXPECT_EQ(c.at(step_id::tls).status, verdict::fail);
  EXPECT_EQ(c.at(step_id::ehlo).status, verdict::not_checked);
}

TEST(DoctorConnection, ImplicitTlsFailureComesBeforeTheGreeting) {
  checklist c;
  c.use_tls_mode(config::tls_setting::implicit);
  auto a = google_service_account();
  a.tls = config::tls_setting::implicit;
  a.port = 465;
  auto p = tls_failure(certificate_problem::expired, 10, "certificate has expired");
  p.tls.implicit = true;
  p.session.greeting.reset();
  p.session.starttls.reset();
  EXPECT_FALSE(diagnose_connection(p, a, c));
  EXPECT_EQ(c.at(step_id::tls).status, verdict::fail);
  EXPECT_EQ(c.at(step_id::greeting).status, verdict::not_checked);
}

}  // namespace
}  // namespace oauthmail::doctor
