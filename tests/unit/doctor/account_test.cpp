// The account-side diagnoses: configuration, secrets (their shape, never their value), the token
// endpoint's errors (AADSTS and Google explanations through oauth::diagnose()), the token's
// contents, AUTH (5.7.3 causes per flow, 5.7.139 by its sentence, Gmail), the test message
// (SendAsDenied after the final dot), and the test message itself.
#include <gtest/gtest.h>
#include <sysexits.h>

#include "doctor/diagnose.hpp"
#include "oauth/responses.hpp"
#include "unit/doctor/helpers.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::doctor {
namespace {

using namespace testing;

bool has(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }
bool has_fact(const finding& f, std::string_view needle) {
  return std::any_of(f.facts.begin(), f.facts.end(), [&](const std::string& l) { return has(l, needle); });
}
std::string all_text(const finding& f) {
  std::string t = f.detail + "\n" + f.fix;
  for (const auto& l : f.facts) t += "\n" + l;
  return t;
}

const auto now = oauth::wall_clock::now();

config::account ms_account() {
  auto a = oauth::testing::account(config::provider_kind::microsoft, config::flow_kind::client_credentials);
  a.tenant = "contoso.onmicrosoft.com";
  a.client_secret.reference = "env:M365_SECRET";
  return a;
}

// --- configuration ---

configuration_facts good_config() {
  configuration_facts f;
  f.path = "/etc/oauthmail/config.toml";
  f.account = ms_account();
  f.account_names = {"work"};
  auto e = oauth::resolve_provider(*f.account);
  f.view = make_account_view(*f.account, *e);
  return f;
}

TEST(DoctorConfiguration, SummarisesTheAccountAndServer) {
  auto f = diagnose_configuration(good_config());
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_EQ(f.detail,
            "/etc/oauthmail/config.toml: account work (microsoft, client_credentials, user user@contoso.com) sends "
            "through smtp.office365.com:587 (STARTTLS, XOAUTH2).");
}

TEST(DoctorConfiguration, ProblemsOfTheFileAreListed) {
  auto c = good_config();
  for (int i = 0; i < 12; ++i) {
    config::problem p;
    p.where = {"/etc/oauthmail/config.toml", 3 + i, 1};
    p.key = "account[0].flow";
    p.message = "unknown flow";
    c.problems.push_back(p);
  }
  auto f = diagnose_configuration(c);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_EQ(f.detail, "/etc/oauthmail/config.toml has 12 problems.");
  ASSERT_EQ(f.facts.size(), 11u);
  EXPECT_TRUE(has(f.facts.front(), "config.toml:3:1: account[0].flow: unknown flow")) << f.facts.front();
  EXPECT_EQ(f.facts.back(), "... and 2 more");
  EXPECT_TRUE(has(f.fix, "oauthmail config check --config /etc/oauthmail/config.toml")) << f.fix;
}

TEST(DoctorConfiguration, UnknownAccountNamesTheOthers) {
  auto c = good_config();
  c.account.reset();
  c.account_found = false;
  c.requested_account = "wrok";
  c.account_names = {"work", "gmail"};
  auto f = diagnose_configuration(c);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_EQ(f.detail, "There is no account \"wrok\" in /etc/oauthmail/config.toml.");
  EXPECT_TRUE(has_fact(f, "accounts: work, gmail"));
}

TEST(DoctorConfiguration, ScopeErrorsStopHere) {
  auto c = good_config();
  c.account->scopes = {"https://graph.microsoft.com/.default"};
  c.scope_problems = oauth::check_scopes(*c.account);
  auto f = diagnose_configuration(c);
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_TRUE(has(f.detail, "Microsoft Graph scope")) << f.detail;
  EXPECT_TRUE(has(f.fix, "https://outlook.office365.com/.default")) << f.fix;
}

TEST(DoctorConfiguration, ProviderWarningsAreWarnings) {
  auto c = good_config();
  c.account->smtp.mechanism = config::mechanism_setting::oauthbearer;
  auto e = oauth::resolve_provider(*c.account);
  c.provider_warnings = e->warnings;
  c.view = make_account_view(*c.account, *e);
  auto f = diagnose_configuration(c);
  EXPECT_EQ(f.status, verdict::warn);
  EXPECT_TRUE(has_fact(f, "does not offer OAUTHBEARER")) << all_text(f);
  EXPECT_TRUE(c.view->mechanism_from_account);
  EXPECT_EQ(c.view->mechanism, config::mechanism_setting::oauthbearer);
}

TEST(DoctorConfiguration, ProviderRefusalAndRefusedSender) {
  auto c = good_config();
  c.provider_error = "app-only access needs the tenant";
  c.view.reset();
  auto f = diagnose_configuration(c);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_TRUE(has(f.detail, "App-only access needs the tenant.")) << f.detail;

  c = good_config();
  c.refused_sender = "ceo@contoso.com";
  f = diagnose_configuration(c);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_TRUE(has(f.detail, "may not send as ceo@contoso.com")) << f.detail;
  EXPECT_TRUE(has(f.fix, "allowed_senders")) << f.fix;
}

TEST(DoctorConfiguration, AccountViewTakesTheAccountOverThePreset) {
  auto a = ms_account();
  a.smtp.host = "127.0.0.1";
  a.smtp.port = 2525;
  a.smtp.ca_file = "/tmp/ca.pem";
  auto v = make_account_view(a, *oauth::resolve_provider(a));
  EXPECT_EQ(v.host, "127.0.0.1");
  EXPECT_EQ(v.port, 2525);
  EXPECT_EQ(v.preset_host, "smtp.office365.com");
  EXPECT_EQ(v.preset_port, 587);
  EXPECT_EQ(v.ca_file, "/tmp/ca.pem");
  EXPECT_EQ(v.mechanism, config::mechanism_setting::xoauth2);
  EXPECT_FALSE(v.mechanism_from_account);
}

// --- secrets ---

TEST(DoctorSecrets, NoneConfiguredIsFine) { EXPECT_EQ(diagnose_secrets({}).status, verdict::pass); }

TEST(DoctorSecrets, UnreadableReferenceFailsWithoutTheValue) {
  secret_check ok = inspect_secret("client_secret", "env:A", core::secret<std::string>("s3cr3t-value-xyz"),
                                   microsoft_app_only(), now);
  secret_check bad;
  bad.key = "token_cache.key";
  bad.shown = "file:/etc/oauthmail/key";
  bad.error = "file:/etc/oauthmail/key: group or others may read it; run chmod 600 /etc/oauthmail/key";
  auto f = diagnose_secrets({ok, bad});
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_EQ(f.exit_code, EX_CONFIG);
  EXPECT_TRUE(has(f.detail, "chmod 600")) << f.detail;
  EXPECT_TRUE(has_fact(f, "client_secret (env:A): readable (16 characters)"));
  EXPECT_TRUE(has_fact(f, "token_cache.key (file:/etc/oauthmail/key): cannot be used"));
  EXPECT_FALSE(has(all_text(f), "s3cr3t")) << all_text(f);
}

TEST(DoctorSecrets, SecretIdInsteadOfValueIsAWarning) {
  auto c =
      inspect_secret("client_secret", "file:/s", core::secret<std::string>("8f5a2d1c-3b4e-4f60-9a7b-1c2d3e4f5a6b\n"),
                     microsoft_app_only(), now);
  ASSERT_TRUE(c.warning);
  EXPECT_TRUE(has(*c.warning, "Secret ID")) << *c.warning;
  EXPECT_TRUE(has(*c.warning, "AADSTS7000215")) << *c.warning;
  auto f = diagnose_secrets({c});
  EXPECT_EQ(f.status, verdict::warn);
  EXPECT_FALSE(has(all_text(f), "8f5a2d1c")) << all_text(f);
  // Not for Google, whose secrets look different anyway.
  EXPECT_FALSE(inspect_secret("client_secret", "file:/s",
                              core::secret<std::string>("8f5a2d1c-3b4e-4f60-9a7b-1c2d3e4f5a6b"),
                              google_service_account(), now)
                   .warning);
}

TEST(DoctorSecrets, CertificateDatesAndKeys) {
  const auto& key = oauth::testing::shared_key();
  auto ok = inspect_secret("client_certificate", "file:/c.pem", core::secret<std::string>(key.certificate_pem),
                           microsoft_app_only(), now);
  EXPECT_FALSE(ok.error);
  EXPECT_FALSE(ok.warning);
  EXPECT_TRUE(has(ok.info, "CN=oauthmail test")) << ok.info;
  auto expired = oauth::testing::make_key(2048, -10 * 24 * 3600, 2);
  auto old = inspect_secret("client_certificate", "file:/old.pem", core::secret<std::string>(expired.certificate_pem),
                            microsoft_app_only(), now);
  ASSERT_TRUE(old.error);
  EXPECT_TRUE(has(*old.error, "expired")) << *old.error;
  auto soon = oauth::testing::make_key(2048, -3600, 10);
  auto s = inspect_secret("client_certificate", "file:/soon.pem", core::secret<std::string>(soon.certificate_pem),
                          microsoft_app_only(), now);
  ASSERT_TRUE(s.warning);
  EXPECT_TRUE(has(*s.warning, "expires")) << *s.warning;
  auto pk = inspect_secret("client_private_key", "file:/k.pem", core::secret<std::string>(key.private_pem),
                           microsoft_app_only(), now);
  EXPECT_FALSE(pk.error);
  EXPECT_EQ(pk.info, "RSA private key, 2048 bits");
  auto junk = inspect_secret("client_private_key", "file:/k.pem", core::secret<std::string>("not a key"),
                             microsoft_app_only(), now);
  ASSERT_TRUE(junk.error);
  EXPECT_FALSE(has(*junk.error, "not a key")) << *junk.error;
  auto sa = inspect_secret("service_account_key", "file:/sa.json", core::secret<std::string>("{\"type\":1}"),
                           google_service_account(), now);
  EXPECT_TRUE(sa.error);
}

// --- token ---

core::error token_error(int status, const std::string& body,
                        config::flow_kind flow = config::flow_kind::client_credentials,
                        config::provider_kind provider = config::provider_kind::microsoft) {
  oauth::diagnosis_context ctx;
  ctx.account = "work";
  ctx.provider = provider;
  ctx.flow = flow;
  auto o = oauth::evaluate_token_response(oauth::testing::response(status, body), now, {}, ctx);
  EXPECT_FALSE(o.ok());
  return o.to_error();
}

TEST(DoctorToken, WrongSecretValueIsExplained) {
  auto e = token_error(
      401,
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]})");
  auto f = diagnose_token_error(e, microsoft_app_only());
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_EQ(f.exit_code, EX_NOPERM);
  EXPECT_TRUE(has(f.detail, "secret ID was used instead of its value")) << f.detail;
  EXPECT_TRUE(has(f.fix, "Value (not the Secret ID)")) << f.fix;
  EXPECT_TRUE(has_fact(f, "AADSTS7000215")) << all_text(f);
  EXPECT_FALSE(has(f.detail, "Provider said")) << f.detail;
  EXPECT_FALSE(has(f.fix, "Provider said")) << f.fix;
}

TEST(DoctorToken, UnknownAppConsentAndScope) {
  auto f = diagnose_token_error(
      token_error(
          400,
          R"({"error":"unauthorized_client","error_description":"AADSTS700016: Application not found.","error_codes":[700016]})"),
      microsoft_app_only());
  EXPECT_TRUE(has(f.detail, "was not found in this tenant")) << f.detail;
  EXPECT_TRUE(has(f.fix, "client_id")) << f.fix;
  f = diagnose_token_error(
      token_error(400, R"({"error":"invalid_grant","error_description":"AADSTS65001: consent","error_codes":[65001]})",
                  config::flow_kind::device_code),
      microsoft_delegated());
  EXPECT_TRUE(has(f.detail, "consent is missing")) << f.detail;
  EXPECT_TRUE(has(f.fix, "oauthmail account login work")) << f.fix;
  f = diagnose_token_error(
      token_error(400,
                  R"({"error":"invalid_scope","error_description":"AADSTS70011: bad scope","error_codes":[70011]})"),
      microsoft_app_only());
  EXPECT_TRUE(has(f.detail, "scope is not valid")) << f.detail;
  EXPECT_TRUE(has(f.fix, "https://outlook.office365.com/.default")) << f.fix;
  f = diagnose_token_error(
      token_error(
          400,
          R"({"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named https://outlook.office365.con was not found","error_codes":[500011]})"),
      microsoft_app_only());
  EXPECT_TRUE(has(f.detail, "resource in the scope")) << f.detail;
}

TEST(DoctorToken, GoogleWithoutDomainWideDelegation) {
  auto e = token_error(
      401,
      R"({"error":"unauthorized_client","error_description":"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."})",
      config::flow_kind::service_account, config::provider_kind::google);
  auto f = diagnose_token_error(e, google_service_account());
  EXPECT_EQ(f.exit_code, EX_NOPERM);
  EXPECT_TRUE(has(f.detail, "Domain-wide delegation is not set up")) << f.detail;
  EXPECT_TRUE(has(f.fix, "Domain-wide delegation")) << f.fix;
}

TEST(DoctorToken, InvalidGrantMeansSignInAgain) {
  auto e =
      token_error(400, R"({"error":"invalid_grant","error_description":"AADSTS70008: expired","error_codes":[70008]})",
                  config::flow_kind::device_code);
  auto f = diagnose_token_error(e, microsoft_delegated());
  EXPECT_TRUE(has(f.fix, "oauthmail account login work")) << f.fix;
}

TEST(DoctorToken, NetworkFailuresAreTemporaryAndNotSignedInSaysLogin) {
  core::error net(std::make_error_code(std::errc::connection_refused),
                  "token request failed: Cannot connect to login.microsoftonline.com:443",
                  core::failure_class::transient);
  auto f = diagnose_token_error(net, microsoft_app_only());
  EXPECT_EQ(f.exit_code, EX_TEMPFAIL);
  EXPECT_TRUE(has(f.fix, "https_proxy")) << f.fix;
  core::error none(std::make_error_code(std::errc::invalid_argument),
                   "Account work has no sign-in yet (no refresh token). Run `oauthmail account login work` once.",
                   core::failure_class::needs_human);
  f = diagnose_token_error(none, microsoft_delegated());
  EXPECT_EQ(f.exit_code, EX_NOPERM);
  EXPECT_TRUE(has(f.fix, "oauthmail account login work")) << f.fix;
}

TEST(DoctorToken, ObtainedSaysUntilWhen) {
  oauth::token_set t;
  t.expires_at = now + std::chrono::minutes(59) + std::chrono::seconds(30);
  t.scopes = {"https://outlook.office365.com/.default"};
  auto f = diagnose_token_obtained(t, microsoft_app_only(), now);
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_TRUE(has(f.detail, "(in 59 min)")) << f.detail;
  EXPECT_TRUE(has_fact(f, "scope: https://outlook.office365.com/.default"));
}

// --- token contents ---

oauth::provider_endpoints endpoints_for(config::provider_kind p, config::flow_kind fl) {
  auto a = oauth::testing::account(p, fl);
  a.tenant = "contoso.onmicrosoft.com";
  return *oauth::resolve_provider(a);
}

oauth::token_facts jwt(std::vector<std::string> aud, std::vector<std::string> scp, std::vector<std::string> roles,
                       std::string user = {}) {
  oauth::token_facts f;
  f.format = oauth::token_format::jwt;
  f.audiences = std::move(aud);
  f.scopes = std::move(scp);
  f.roles = std::move(roles);
  f.user = std::move(user);
  f.expires_at = now + std::chrono::hours(1);
  return f;
}

TEST(DoctorTokenContents, RightTokensPass) {
  auto f =
      diagnose_token_contents(jwt({"https://outlook.office365.com"}, {}, {"SMTP.SendAsApp"}),
                              endpoints_for(config::provider_kind::microsoft, config::flow_kind::client_credentials),
                              microsoft_app_only(), now);
  EXPECT_EQ(f.status, verdict::pass) << all_text(f);
  EXPECT_TRUE(has(f.detail, "roles SMTP.SendAsApp")) << f.detail;
  EXPECT_TRUE(has_fact(f, "audience (aud): https://outlook.office365.com"));
  f = diagnose_token_contents(jwt({"https://outlook.office.com"}, {"SMTP.Send"}, {}, "alerts@contoso.com"),
                              endpoints_for(config::provider_kind::microsoft, config::flow_kind::device_code),
                              microsoft_delegated(), now);
  EXPECT_EQ(f.status, verdict::pass) << all_text(f);
}

TEST(DoctorTokenContents, GraphAudienceIsAWarning) {
  auto f = diagnose_token_contents(
      jwt({"00000003-0000-0000-c000-000000000000"}, {"Mail.Send"}, {}, "alerts@contoso.com"),
      endpoints_for(config::provider_kind::microsoft, config::flow_kind::device_code), microsoft_delegated(), now);
  EXPECT_EQ(f.status, verdict::warn);
  EXPECT_TRUE(has(f.detail, "Microsoft Graph")) << f.detail;
  EXPECT_TRUE(has(all_text(f), "no SMTP.Send scope")) << all_text(f);
}

TEST(DoctorTokenContents, AppOnlyWithoutTheRole) {
  auto f =
      diagnose_token_contents(jwt({"https://outlook.office365.com"}, {}, {}),
                              endpoints_for(config::provider_kind::microsoft, config::flow_kind::client_credentials),
                              microsoft_app_only(), now);
  EXPECT_EQ(f.status, verdict::warn);
  EXPECT_TRUE(has(f.detail, "SMTP.SendAsApp")) << f.detail;
}

TEST(DoctorTokenContents, AnotherUsersToken) {
  auto f = diagnose_token_contents(jwt({"https://outlook.office.com"}, {"SMTP.Send"}, {}, "bob@contoso.com"),
                                   endpoints_for(config::provider_kind::microsoft, config::flow_kind::device_code),
                                   microsoft_delegated(), now);
  EXPECT_EQ(f.status, verdict::warn);
  EXPECT_TRUE(has(f.detail, "belongs to bob@contoso.com, but the account sends as alerts@contoso.com")) << f.detail;
}

TEST(DoctorTokenContents, GoogleNeedsTheMailScope) {
  auto g = endpoints_for(config::provider_kind::google, config::flow_kind::authorization_code);
  auto f =
      diagnose_token_contents(jwt({"123"}, {"https://www.googleapis.com/auth/gmail.send"}, {}, "alerts@example.com"), g,
                              google_service_account(), now);
  EXPECT_EQ(f.status, verdict::warn);
  EXPECT_TRUE(has(f.detail, "https://mail.google.com/")) << f.detail;
  f = diagnose_token_contents(jwt({"123"}, {"https://mail.google.com/"}, {}, "alerts@example.com"), g,
                              google_service_account(), now);
  EXPECT_EQ(f.status, verdict::pass);
}

TEST(DoctorTokenContents, OpaqueTokensAreLeftToTheServer) {
  auto f = diagnose_token_contents(oauth::inspect_token("ya29.a0AfB_opaque"),
                                   endpoints_for(config::provider_kind::google, config::flow_kind::authorization_code),
                                   google_service_account(), now);
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_TRUE(has(f.detail, "opaque")) << f.detail;
}

// --- AUTH ---

probe_report auth_reply(const std::string& text) {
  probe_report p = good_starttls_probe();
  p.session.ready = false;
  p.session.mechanism = sasl::mechanism::xoauth2;
  p.session.auth = reply(text);
  p.session.failure =
      session_failure(smtp::session_errc::auth_failed, "Authentication failed", core::failure_class::token_rejected);
  p.session.failed_at = smtp::stage::auth;
  p.session.tls_active_at_failure = true;
  return p;
}

TEST(DoctorAuth, SuccessNamesTheMailboxAndMechanism) {
  probe_report p = good_starttls_probe();
  p.session.authenticated = true;
  p.session.mechanism = sasl::mechanism::xoauth2;
  p.session.auth = reply("235 2.7.0 Authentication successful");
  auto f = diagnose_auth(p, microsoft_app_only(), false);
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_EQ(f.detail, "Signed in as alerts@contoso.com with XOAUTH2: 235 2.7.0 Authentication successful.");
}

TEST(DoctorAuth, AppOnly_5_7_3_ListsTheExchangeSetup) {
  auto f = diagnose_auth(auth_reply("535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]"),
                         microsoft_app_only(), false);
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_EQ(f.exit_code, EX_NOPERM);
  EXPECT_TRUE(has(f.detail, "535 5.7.3 Authentication unsuccessful")) << f.detail;
  EXPECT_TRUE(has_fact(f, "app-only"));
  EXPECT_TRUE(has_fact(f, "1. the app has no SMTP.SendAsApp permission with admin consent"));
  EXPECT_TRUE(has_fact(f,
                       "New-ServicePrincipal -AppId 00001111-aaaa-2222-bbbb-3333cccc4444 -ObjectId <Object ID of the "
                       "Enterprise application>"));
  EXPECT_TRUE(has_fact(f, "Add-MailboxPermission -Identity alerts@contoso.com"));
  EXPECT_TRUE(has_fact(f, "Set-CASMailbox -Identity alerts@contoso.com -SmtpClientAuthenticationDisabled $false"));
  EXPECT_FALSE(has_fact(f, "the token itself"));
}

TEST(DoctorAuth, Delegated_5_7_3_ListsScopeUserConsent) {
  auto f = diagnose_auth(auth_reply("535 5.7.3 Authentication unsuccessful"), microsoft_delegated(), true);
  EXPECT_TRUE(has_fact(f, "delegated"));
  EXPECT_TRUE(has_fact(f, "1. the token itself"));  // the token contents step warned: first suspect
  EXPECT_TRUE(has_fact(f, "https://outlook.office.com/SMTP.Send"));
  EXPECT_TRUE(has_fact(f, "another user than alerts@contoso.com"));
  EXPECT_TRUE(has_fact(f, "consent is missing"));
  EXPECT_FALSE(has_fact(f, "New-ServicePrincipal"));
}

TEST(DoctorAuth, Reply_5_7_139_IsMatchedOnItsSentence) {
  struct {
    const char* reply;
    const char* cause;
  } cases[] = {
      {"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit "
       "https://aka.ms/smtp_auth_disabled for more information.",
       "disabled for the whole Microsoft 365 tenant"},
      {"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.",
       "disabled for this mailbox"},
      {"535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy",
       "security defaults"},
      {"535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated "
       "successfully. Contact your administrator.",
       "Conditional Access"},
  };
  for (const auto& c : cases) {
    auto f = diagnose_auth(auth_reply(c.reply), microsoft_app_only(), false);
    EXPECT_EQ(f.exit_code, EX_NOPERM) << c.reply;
    EXPECT_TRUE(has(f.detail, c.cause)) << f.detail;
    EXPECT_TRUE(has(f.detail, "5.7.139")) << f.detail;
    EXPECT_FALSE(has(f.fix, "<mailbox>")) << f.fix;
  }
  auto f = diagnose_auth(auth_reply(cases[1].reply), microsoft_app_only(), false);
  EXPECT_TRUE(has(f.fix, "Set-CASMailbox -Identity alerts@contoso.com -SmtpClientAuthenticationDisabled $false"))
      << f.fix;
}

TEST(DoctorAuth, GmailRefusalShowsTheChallenge) {
  auto p = auth_reply(
      "535-5.7.8 Username and Password not accepted. For more information, go to\r\n535 5.7.8  "
      "https://support.google.com/mail/?p=BadCredentials x - gsmtp");
  p.session.error_challenge = sasl::error_challenge{"400", "Bearer", "https://mail.google.com/", ""};
  auto f = diagnose_auth(p, google_service_account(), false);
  EXPECT_EQ(f.exit_code, EX_NOPERM);
  EXPECT_TRUE(has(f.detail, "Gmail refused the OAuth2 token")) << f.detail;
  EXPECT_TRUE(has_fact(f, "status 400, scope https://mail.google.com/"));
  EXPECT_TRUE(has(f.fix, "domain-wide delegation of client 104335532453634511234")) << f.fix;
}

TEST(DoctorAuth, ConnectionFailureBeforeAuth) {
  probe_report p;
  p.session.failure = session_failure(smtp::session_errc::connect_failed, "Cannot connect to x:587: refused",
                                      core::failure_class::transient);
  auto f = diagnose_auth(p, microsoft_app_only(), false);
  EXPECT_EQ(f.exit_code, EX_TEMPFAIL);
  EXPECT_TRUE(has(f.detail, "before AUTH")) << f.detail;
}

// --- test message ---

probe_report sent(smtp::message_result m) {
  probe_report p = good_starttls_probe();
  p.session.authenticated = true;
  p.message = std::move(m);
  return p;
}

TEST(DoctorSendTest, DeliveredSaysTheServersWords) {
  smtp::message_result m;
  m.recipients.push_back({"ops@contoso.com", reply("250 2.1.5 Recipient OK"), true});
  m.final_reply = reply("250 2.0.0 OK <id@host> [Hostname=x]");
  auto f = diagnose_send_test(sent(std::move(m)), microsoft_app_only(), "alerts@contoso.com", "ops@contoso.com");
  EXPECT_EQ(f.status, verdict::pass);
  EXPECT_TRUE(has(f.detail, "from alerts@contoso.com to ops@contoso.com: 250 2.0.0 OK")) << f.detail;
}

TEST(DoctorSendTest, SendAsDeniedAfterTheFinalDot) {
  smtp::message_result m;
  m.recipients.push_back({"ops@contoso.com", reply("250 2.1.5 Recipient OK"), true});
  m.final_reply = reply(
      "554 5.2.252 SendAsDenied; alerts@contoso.com not allowed to send as noreply@contoso.com; "
      "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied");
  m.failure = session_failure(smtp::session_errc::rejected, "refused", core::failure_class::needs_human);
  auto f = diagnose_send_test(sent(std::move(m)), microsoft_app_only(), "noreply@contoso.com", "ops@contoso.com");
  EXPECT_EQ(f.status, verdict::fail);
  EXPECT_EQ(f.exit_code, EX_NOPERM);
  EXPECT_TRUE(has(f.detail, "after its final dot")) << f.detail;
  EXPECT_TRUE(has(f.detail, "SendAsDenied")) << f.detail;
  EXPECT_TRUE(has(f.fix,
                  "Add-RecipientPermission -Identity noreply@contoso.com -Trustee alerts@contoso.com "
                  "-AccessRights SendAs"))
      << f.fix;
}

TEST(DoctorSendTest, UnknownRecipientAndTemporaryRefusals) {
  smtp::message_result m;
  m.recipients.push_back({"nobody@contoso.com", reply("550 5.1.1 User unknown"), false});
  m.failure = session_failure(smtp::session_errc::no_recipients, "none", core::failure_class::permanent);
  auto f = diagnose_send_test(sent(std::move(m)), microsoft_app_only(), "alerts@contoso.com", "nobody@contoso.com");
  EXPECT_EQ(f.exit_code, EX_NOUSER);
  EXPECT_TRUE(has(f.detail, "refused the recipient nobody@contoso.com: 550 5.1.1")) << f.detail;
  smtp::message_result busy;
  busy.mail_reply = reply("451 4.7.500 Server busy. Please try again later.");
  busy.failure = session_failure(smtp::session_errc::rejected, "busy", core::failure_class::transient);
  f = diagnose_send_test(sent(std::move(busy)), microsoft_app_only(), "alerts@contoso.com", "ops@contoso.com");
  EXPECT_EQ(f.exit_code, EX_TEMPFAIL);
}

TEST(DoctorSendTest, ComposedMessageIsPlainAsciiWithCrlf) {
  const auto t = oauth::wall_clock::time_point(std::chrono::seconds(1795370000));
  const std::string m = compose_test_message("alerts@contoso.com", "ops@contoso.com", "work", t, "abc-123");
  EXPECT_EQ(m.rfind("From: <alerts@contoso.com>\r\nTo: <ops@contoso.com>\r\n", 0), 0u) << m;
  EXPECT_TRUE(has(m, "\r\nSubject: oauthmail doctor test message\r\n")) << m;
  EXPECT_TRUE(has(m, "\r\nDate: Sun, 22 Nov 2026 ")) << m;
  EXPECT_TRUE(has(m, "\r\nMessage-ID: <abc-123@contoso.com>\r\n")) << m;
  EXPECT_TRUE(has(m, "\r\n\r\nThis message was sent by `oauthmail doctor` to check that account work")) << m;
  for (std::size_t i = 0; i < m.size(); ++i) {
    ASSERT_LT(static_cast<unsigned char>(m[i]), 0x80);
    if (m[i] == '\n') {
      ASSERT_TRUE(i > 0 && m[i - 1] == '\r');
    }
  }
}

}  // namespace
}  // namespace oauthmail::doctor
