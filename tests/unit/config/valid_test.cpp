// Valid configuration files: every provider with every flow it supports, defaults, every optional
// key, and the values the loader hands to the rest of oauthmail.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "unit/config/helpers.hpp"

namespace oauthmail::config::test {
namespace {

using namespace std::chrono_literals;

TEST(ValidConfig, MicrosoftAppOnlyWithSecret) {
  const auto r = check(R"(
[[account]]
name = "m365-app"
provider = "microsoft"
flow = "client_credentials"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "env:M365_CLIENT_SECRET"
user = "noreply@contoso.com"
)");
  const account& a = only_account(r);
  EXPECT_EQ(a.name, "m365-app");
  EXPECT_EQ(a.provider, provider_kind::microsoft);
  EXPECT_EQ(a.flow, flow_kind::client_credentials);
  EXPECT_EQ(a.tenant, "contoso.onmicrosoft.com");
  EXPECT_EQ(a.cloud, microsoft_cloud::global);
  EXPECT_EQ(a.client_id, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(a.client_secret.reference, "env:M365_CLIENT_SECRET");
  EXPECT_FALSE(a.client_secret.inline_value);
  EXPECT_EQ(a.client_secret.where.line, 8);
  EXPECT_TRUE(a.client_certificate.empty());
  EXPECT_EQ(a.user, "noreply@contoso.com");
  EXPECT_TRUE(a.scopes.empty());
  EXPECT_EQ(a.renew_margin, 600s);
  EXPECT_FALSE(a.keep_alive);
  EXPECT_FALSE(a.smtp.host);
  EXPECT_EQ(a.smtp.mechanism, mechanism_setting::automatic);
  EXPECT_EQ(a.where.file, test_path);
  EXPECT_EQ(a.where.line, 2);
  EXPECT_EQ(r.config->path, test_path);
  EXPECT_FALSE(r.config->default_account);
}

TEST(ValidConfig, MicrosoftAppOnlyWithCertificate) {
  const auto r = check(R"(
[[account]]
name = "m365-cert"
provider = "microsoft"
flow = "client_credentials"
tenant = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
cloud = "usgov"
client_id = "11111111-2222-3333-4444-555555555555"
client_certificate = "file:/etc/oauthmail/m365.crt"
client_private_key = "credential:m365-key"
allowed_senders = ["alerts@contoso.com", "*@reports.contoso.com"]
)");
  const account& a = only_account(r);
  EXPECT_EQ(a.cloud, microsoft_cloud::us_government);
  EXPECT_EQ(a.client_certificate.reference, "file:/etc/oauthmail/m365.crt");
  EXPECT_EQ(a.client_private_key.reference, "credential:m365-key");
  EXPECT_TRUE(a.client_secret.empty());
  EXPECT_TRUE(a.user.empty());
  ASSERT_EQ(a.allowed_senders.size(), 2U);
  EXPECT_EQ(a.allowed_senders[1], "*@reports.contoso.com");
}

TEST(ValidConfig, MicrosoftDelegatedDeviceCode) {
  const auto r = check(R"(
[[account]]
name = "alice"
provider = "microsoft"
flow = "device_code"
tenant = "organizations"
client_id = "11111111-2222-3333-4444-555555555555"
user = "alice@contoso.com"
keep_alive = true
renew_margin = "15m"
)");
  const account& a = only_account(r);
  EXPECT_EQ(a.flow, flow_kind::device_code);
  EXPECT_EQ(a.tenant, "organizations");
  EXPECT_TRUE(a.keep_alive);
  EXPECT_EQ(a.renew_margin, 900s);
}

TEST(ValidConfig, MicrosoftDelegatedAuthorizationCodeChinaCloud) {
  const auto r = check(R"(
[[account]]
name = "cn"
provider = "microsoft"
flow = "authorization_code"
tenant = "contoso.partner.onmschina.cn"
cloud = "china"
client_id = "11111111-2222-3333-4444-555555555555"
user = "bob@contoso.partner.onmschina.cn"
)");
  EXPECT_EQ(only_account(r).cloud, microsoft_cloud::china);
}

TEST(ValidConfig, OutlookBothDelegatedFlows) {
  for (const std::string flow : {"device_code", "authorization_code"}) {
    const auto r = check(R"(
[[account]]
name = "personal"
provider = "outlook"
flow = ")" + flow + R"("
client_id = "11111111-2222-3333-4444-555555555555"
user = "someone@outlook.com"
)");
    const account& a = only_account(r);
    EXPECT_EQ(a.provider, provider_kind::outlook);
    EXPECT_EQ(to_string(a.flow), flow);
    EXPECT_FALSE(a.tenant);  // the preset's "consumers"
  }
  const auto with_tenant = check(R"(
[[account]]
name = "personal"
provider = "outlook"
flow = "device_code"
tenant = "consumers"
client_id = "11111111-2222-3333-4444-555555555555"
)");
  EXPECT_EQ(only_account(with_tenant).tenant, "consumers");
}

TEST(ValidConfig, GoogleUserWithAuthorizationCode) {
  const auto r = check(R"(
[[account]]
name = "gmail"
provider = "google"
flow = "authorization_code"
client_id = "123456789012-abcdefghijklmnop.apps.googleusercontent.com"
client_secret = "cmd:pass show google/oauthmail-client"
user = "someone@gmail.com"
scopes = ["https://mail.google.com/"]
)");
  const account& a = only_account(r);
  EXPECT_EQ(a.provider, provider_kind::google);
  EXPECT_EQ(a.client_secret.reference, "cmd:pass show google/oauthmail-client");
  ASSERT_EQ(a.scopes.size(), 1U);
  EXPECT_EQ(a.scopes[0], "https://mail.google.com/");
}

TEST(ValidConfig, GoogleServiceAccount) {
  const auto r = check(R"(
[[account]]
name = "workspace-robot"
provider = "google"
flow = "service_account"
client_id = "109876543210987654321"
service_account_key = "file:/etc/oauthmail/google-sa.json"
user = "reports@example.com"
allowed_senders = ["*@example.com"]
)");
  const account& a = only_account(r);
  EXPECT_EQ(a.flow, flow_kind::service_account);
  EXPECT_EQ(a.service_account_key.reference, "file:/etc/oauthmail/google-sa.json");
  EXPECT_EQ(a.user, "reports@example.com");
}

TEST(ValidConfig, GenericWithEndpointsForEveryFlow) {
  const auto r = check(R"(
[[account]]
name = "generic-cc"
provider = "generic"
flow = "client_credentials"
client_id = "oauthmail"
client_secret = "env:GENERIC_SECRET"
token_endpoint = "https://idp.example.net/oauth2/token"
user = "robot@example.net"
scopes = ["smtp"]
smtp = { host = "smtp.example.net" }

[[account]]
name = "generic-device"
provider = "generic"
flow = "device_code"
client_id = "oauthmail-device"
token_endpoint = "https://idp.example.net/oauth2/token"
device_authorization_endpoint = "https://idp.example.net/oauth2/device"
revocation_endpoint = "https://idp.example.net/oauth2/revoke"
user = "carol@example.net"
smtp = { host = "smtp.example.net" }

[[account]]
name = "generic-code"
provider = "generic"
flow = "authorization_code"
client_id = "oauthmail-desktop"
token_endpoint = "http://127.0.0.1:8080/token"
authorization_endpoint = "http://localhost:8080/auth"
user = "dave@example.net"
smtp = { host = "127.0.0.1", port = 2525 }

[[account]]
name = "generic-discovery"
provider = "generic"
flow = "authorization_code"
client_id = "oauthmail"
issuer = "https://idp.example.net"
user = "erin@example.net"
smtp = { host = "smtp.example.net" }
)");
  ASSERT_TRUE(r.config) << all_problems(r);
  ASSERT_EQ(r.config->accounts.size(), 4U);
  const auto& cc = r.config->accounts[0];
  EXPECT_EQ(cc.token_endpoint, "https://idp.example.net/oauth2/token");
  const auto& device = r.config->accounts[1];
  EXPECT_EQ(device.device_authorization_endpoint, "https://idp.example.net/oauth2/device");
  EXPECT_EQ(device.revocation_endpoint, "https://idp.example.net/oauth2/revoke");
  const auto& code = r.config->accounts[2];
  EXPECT_EQ(code.authorization_endpoint, "http://localhost:8080/auth");  // loopback may be plain http
  const auto& discovery = r.config->accounts[3];
  EXPECT_EQ(discovery.issuer, "https://idp.example.net");
  EXPECT_FALSE(discovery.token_endpoint);
  EXPECT_EQ(discovery.where.line, 34);
  EXPECT_EQ(discovery.location_of("issuer").line, 39);
  EXPECT_EQ(discovery.location_of("issuer").column, 10);
  EXPECT_EQ(discovery.location_of("smtp.host").line, 41);
  EXPECT_EQ(discovery.location_of("no-such-key").line, 34);  // the header
  EXPECT_EQ(cc.location_of("scopes[0]").line, 10);
  EXPECT_EQ(cc.location_of("scopes[0]").column, 11);
}

TEST(ValidConfig, EndpointOverridesAreAcceptedForPresets) {
  // E.g. the sandbox standing in for Microsoft 365.
  const auto r = check(R"(
[[account]]
name = "sandbox"
provider = "microsoft"
flow = "client_credentials"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "env:SECRET"
user = "a@contoso.com"
token_endpoint = "http://127.0.0.1:9000/contoso/oauth2/v2.0/token"
[account.smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
allow_plaintext_auth = true
mechanism = "oauthbearer"
)");
  const account& a = only_account(r);
  EXPECT_EQ(a.smtp.host, "127.0.0.1");
  EXPECT_EQ(a.smtp.port, 2525);
  EXPECT_EQ(a.smtp.tls, tls_setting::none);
  EXPECT_TRUE(a.smtp.allow_plaintext_auth);
  EXPECT_EQ(a.smtp.mechanism, mechanism_setting::oauthbearer);
}

TEST(ValidConfig, EverySmtpKey) {
  const auto r = check(R"(
[[account]]
name = "relay"
provider = "generic"
flow = "client_credentials"
client_id = "x"
client_secret = "env:X"
issuer = "https://idp.example.org"
user = "relay@example.org"

[account.smtp]
host = "smtp.example.org"
port = 465
tls = "implicit"
ca_file = "/etc/ssl/certs/internal-ca.pem"
tls_skip_verify = false
mechanism = "xoauth2"
)");
  const account& a = only_account(r);
  EXPECT_EQ(a.smtp.host, "smtp.example.org");
  EXPECT_EQ(a.smtp.port, 465);
  EXPECT_EQ(a.smtp.tls, tls_setting::implicit);
  EXPECT_EQ(a.smtp.ca_file, "/etc/ssl/certs/internal-ca.pem");
  EXPECT_FALSE(a.smtp.tls_skip_verify);
  EXPECT_EQ(a.smtp.mechanism, mechanism_setting::xoauth2);

  const auto inline_table = check(R"(
[[account]]
name = "relay"
provider = "generic"
flow = "client_credentials"
client_id = "x"
client_secret = "env:X"
issuer = "https://idp.example.org"
user = "relay@example.org"
smtp = { host = "[::1]", port = 587, tls_skip_verify = true }
)");
  EXPECT_EQ(only_account(inline_table).smtp.host, "[::1]");
  EXPECT_TRUE(only_account(inline_table).smtp.tls_skip_verify);
}

TEST(ValidConfig, TopLevelKeys) {
  const auto r = check(R"(default_account = "b"

[token_cache]
path = "/var/lib/oauthmail/tokens"
key = "file:/etc/oauthmail/token-cache.key"

[[account]]
name = "a"
provider = "outlook"
flow = "device_code"
client_id = "11111111-2222-3333-4444-555555555555"

[[account]]
name = "b"
provider = "outlook"
flow = "authorization_code"
client_id = "11111111-2222-3333-4444-555555555555"
)");
  ASSERT_TRUE(r.config) << all_problems(r);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(r.config->default_account, "b");
  EXPECT_EQ(r.config->token_cache.path, "/var/lib/oauthmail/tokens");
  EXPECT_EQ(r.config->token_cache.key.reference, "file:/etc/oauthmail/token-cache.key");
  EXPECT_EQ(r.config->token_cache.key.where.line, 5);
}

TEST(ValidConfig, RenewMarginForms) {
  const auto with = [](const std::string& value) {
    return check(R"(
[[account]]
name = "a"
provider = "outlook"
flow = "device_code"
client_id = "11111111-2222-3333-4444-555555555555"
renew_margin = )" +
                 value + "\n");
  };
  EXPECT_EQ(only_account(with("600")).renew_margin, 600s);
  EXPECT_EQ(only_account(with("1")).renew_margin, 1s);
  EXPECT_EQ(only_account(with("86400")).renew_margin, 86400s);
  EXPECT_EQ(only_account(with("\"90s\"")).renew_margin, 90s);
  EXPECT_EQ(only_account(with("\"10m\"")).renew_margin, 600s);
  EXPECT_EQ(only_account(with("\"1h\"")).renew_margin, 3600s);
  EXPECT_EQ(only_account(with("\"1h30m\"")).renew_margin, 5400s);
  EXPECT_EQ(only_account(with("\"24h\"")).renew_margin, 86400s);
}

TEST(ValidConfig, SecretSchemesAreNormalised) {
  const auto r = check(R"(
[[account]]
name = "a"
provider = "generic"
flow = "client_credentials"
client_id = "x"
client_secret = "ENV:SECRET"
token_endpoint = "https://idp.example.org/token"
user = "a@example.org"
smtp = { host = "smtp.example.org" }
)");
  EXPECT_EQ(only_account(r).client_secret.reference, "env:SECRET");
}

TEST(EnumNames, SpellingOfTheFile) {
  EXPECT_EQ(to_string(provider_kind::microsoft), "microsoft");
  EXPECT_EQ(to_string(provider_kind::outlook), "outlook");
  EXPECT_EQ(to_string(provider_kind::google), "google");
  EXPECT_EQ(to_string(provider_kind::generic), "generic");
  EXPECT_EQ(to_string(flow_kind::client_credentials), "client_credentials");
  EXPECT_EQ(to_string(flow_kind::device_code), "device_code");
  EXPECT_EQ(to_string(flow_kind::authorization_code), "authorization_code");
  EXPECT_EQ(to_string(flow_kind::service_account), "service_account");
  EXPECT_EQ(to_string(microsoft_cloud::global), "global");
  EXPECT_EQ(to_string(microsoft_cloud::us_government), "usgov");
  EXPECT_EQ(to_string(microsoft_cloud::china), "china");
  EXPECT_EQ(to_string(tls_setting::starttls), "starttls");
  EXPECT_EQ(to_string(tls_setting::implicit), "implicit");
  EXPECT_EQ(to_string(tls_setting::none), "none");
  EXPECT_EQ(to_string(mechanism_setting::automatic), "auto");
  EXPECT_EQ(to_string(mechanism_setting::xoauth2), "xoauth2");
  EXPECT_EQ(to_string(mechanism_setting::oauthbearer), "oauthbearer");
}

}  // namespace
}  // namespace oauthmail::config::test
