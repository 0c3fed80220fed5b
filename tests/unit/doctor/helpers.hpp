// Test support for the doctor unit tests: accounts as the diagnoses see them, SMTP replies parsed
// from text, and probe reports of the common shapes (a STARTTLS session up to EHLO).
#pragma once

#include <stdexcept>
#include <string>

#include "doctor/diagnose.hpp"
#include "doctor/facts.hpp"
#include "smtp/reply.hpp"

namespace oauthmail::doctor::testing {

using namespace std::chrono_literals;

inline smtp::reply reply(std::string text) {
  if (text.size() < 2 || text.substr(text.size() - 2) != "\r\n") text += "\r\n";
  smtp::reply_parser p;
  auto step = p.feed(text);
  if (!step || !step->parsed) throw std::runtime_error("not a complete reply: " + text);
  return *step->parsed;
}

inline account_view microsoft_app_only() {
  account_view a;
  a.name = "work";
  a.provider = config::provider_kind::microsoft;
  a.flow = config::flow_kind::client_credentials;
  a.user = "alerts@contoso.com";
  a.client_id = "00001111-aaaa-2222-bbbb-3333cccc4444";
  a.host = "smtp.office365.com";
  a.port = 587;
  a.tls = config::tls_setting::starttls;
  a.mechanism = config::mechanism_setting::xoauth2;
  a.preset_host = "smtp.office365.com";
  a.preset_port = 587;
  a.timeout = 20s;
  return a;
}

inline account_view microsoft_delegated() {
  account_view a = microsoft_app_only();
  a.flow = config::flow_kind::device_code;
  return a;
}

inline account_view google_service_account() {
  account_view a = microsoft_app_only();
  a.provider = config::provider_kind::google;
  a.flow = config::flow_kind::service_account;
  a.user = "alerts@example.com";
  a.client_id = "104335532453634511234";
  a.host = "smtp.gmail.com";
  a.mechanism = config::mechanism_setting::automatic;
  a.preset_host = "smtp.gmail.com";
  return a;
}

inline smtp::capabilities caps(const std::string& ehlo_reply) { return smtp::capabilities::parse(reply(ehlo_reply)); }

// A STARTTLS session that reached EHLO over TLS (Exchange Online's lists), no credentials.
inline probe_report good_starttls_probe() {
  probe_report p;
  p.dns.host = "smtp.office365.com";
  p.dns.addresses = {"52.97.1.2", "2603:1026::2"};
  p.dns.took = 12ms;
  p.tcp.port = 587;
  p.tcp.attempts.push_back({"52.97.1.2:587", connect_outcome::connected, "", 30ms});
  p.tls.attempted = true;
  p.tls.established = true;
  p.tls.protocol = "TLSv1.3";
  p.tls.cipher = "TLS_AES_256_GCM_SHA384";
  p.tls.server_name = "smtp.office365.com";
  certificate_facts c;
  c.subject = "CN=outlook.com,O=Microsoft Corporation";
  c.issuer = "CN=DigiCert Cloud Services CA-1";
  c.names = {"DNS:*.office365.com", "DNS:outlook.com"};
  c.not_before = oauth::wall_clock::now() - std::chrono::hours(24 * 30);
  c.not_after = oauth::wall_clock::now() + std::chrono::hours(24 * 200);
  p.tls.certificate = c;
  p.ehlo.before_tls = caps(
      "250-SC1PR80CA0174.outlook.office365.com Hello [192.0.2.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n"
      "250-STARTTLS\r\n250 SMTPUTF8\r\n");
  p.ehlo.after_tls = caps(
      "250-SY5P282CA0097.outlook.office365.com Hello [192.0.2.1]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n"
      "250-AUTH LOGIN XOAUTH2\r\n250 SMTPUTF8\r\n");
  p.session.ready = true;
  p.session.greeting = reply("220 SC1PR80CA0174.outlook.office365.com Microsoft ESMTP MAIL Service ready");
  p.session.starttls = reply("220 2.0.0 SMTP server ready");
  p.session.ehlo = reply("250-SY5P282CA0097.outlook.office365.com Hello\r\n250 AUTH LOGIN XOAUTH2");
  return p;
}

inline core::error session_failure(smtp::session_errc code, std::string message,
                                   core::failure_class cls = core::failure_class::needs_human) {
  return {smtp::make_error_code(code), std::move(message), cls};
}

}  // namespace oauthmail::doctor::testing
