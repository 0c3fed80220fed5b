// Provider presets for each provider, cloud and flow; overrides; discovery (RFC 8414 / OpenID).
#include "oauth/presets.hpp"

#include <gtest/gtest.h>

#include "oauth/errors.hpp"
#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using config::flow_kind;
using config::microsoft_cloud;
using config::provider_kind;
using testing::account;
using testing::response;

TEST(Presets, Names) {
  EXPECT_EQ(provider_name(provider_kind::google), "google");
  EXPECT_EQ(flow_name(flow_kind::device_code), "device_code");
  EXPECT_TRUE(is_delegated(flow_kind::authorization_code));
  EXPECT_FALSE(is_delegated(flow_kind::service_account));
}

TEST(Presets, MicrosoftDelegatedGlobal) {
  auto e = resolve_provider(account(provider_kind::microsoft, flow_kind::device_code));
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->tenant, "organizations");
  EXPECT_EQ(e->authorization_endpoint, "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize");
  EXPECT_EQ(e->token_endpoint, "https://login.microsoftonline.com/organizations/oauth2/v2.0/token");
  EXPECT_EQ(e->device_authorization_endpoint, "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode");
  EXPECT_TRUE(e->revocation_endpoint.empty());
  EXPECT_EQ(e->scopes, (std::vector<std::string>{"https://outlook.office.com/SMTP.Send", "offline_access"}));
  EXPECT_EQ(e->smtp.host, "smtp.office365.com");
  EXPECT_EQ(e->smtp.port, 587);
  EXPECT_EQ(e->smtp.tls, config::tls_setting::starttls);
  EXPECT_EQ(e->smtp.mechanism, config::mechanism_setting::xoauth2);
  EXPECT_TRUE(e->refresh_sends_scope);
  EXPECT_TRUE(e->rotates_refresh_tokens);
  EXPECT_FALSE(e->needs_discovery);
  EXPECT_EQ(e->loopback_host, "localhost");
  EXPECT_TRUE(e->warnings.empty());
}

TEST(Presets, MicrosoftAppOnlyNeedsTenant) {
  auto a = account(provider_kind::microsoft, flow_kind::client_credentials);
  auto missing = resolve_provider(a);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().classification(), core::failure_class::needs_human);
  EXPECT_NE(missing.error().message().find("tenant"), std::string::npos);
  a.tenant = "organizations";
  EXPECT_FALSE(resolve_provider(a));
  a.tenant = "contoso.onmicrosoft.com";
  auto e = resolve_provider(a);
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->token_endpoint, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
  EXPECT_EQ(e->scopes, std::vector<std::string>{"https://outlook.office365.com/.default"});
  a.tenant = "bad/tenant";
  EXPECT_FALSE(resolve_provider(a));
}

TEST(Presets, MicrosoftClouds) {
  auto a = account(provider_kind::microsoft, flow_kind::client_credentials);
  a.tenant = "11112222-3333-4444-5555-666677778888";
  a.cloud = microsoft_cloud::us_government;
  auto us = resolve_provider(a);
  ASSERT_TRUE(us);
  EXPECT_EQ(us->token_endpoint,
            "https://login.microsoftonline.us/11112222-3333-4444-5555-666677778888/oauth2/v2.0/token");
  EXPECT_EQ(us->scopes, std::vector<std::string>{"https://outlook.office365.us/.default"});
  EXPECT_EQ(us->smtp.host, "smtp.office365.us");
  a.cloud = microsoft_cloud::china;
  auto cn = resolve_provider(a);
  ASSERT_TRUE(cn);
  EXPECT_EQ(cn->authority, "https://login.partner.microsoftonline.cn/11112222-3333-4444-5555-666677778888");
  EXPECT_EQ(cn->scopes, std::vector<std::string>{"https://partner.outlook.cn/.default"});
  EXPECT_EQ(cn->smtp.host, "smtp.partner.outlook.cn");
  auto d = account(provider_kind::microsoft, flow_kind::authorization_code);
  d.cloud = microsoft_cloud::china;
  auto cnd = resolve_provider(d);
  ASSERT_TRUE(cnd);
  EXPECT_EQ(cnd->scopes, (std::vector<std::string>{"https://partner.outlook.cn/SMTP.Send", "offline_access"}));
}

TEST(Presets, MicrosoftRefusesServiceAccountAndWarnsAbout465) {
  EXPECT_FALSE(resolve_provider(account(provider_kind::microsoft, flow_kind::service_account)));
  auto a = account(provider_kind::microsoft, flow_kind::device_code);
  a.smtp.tls = config::tls_setting::implicit;
  auto e = resolve_provider(a);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->smtp.port, 465);
  ASSERT_EQ(e->warnings.size(), 1u);
  EXPECT_NE(e->warnings[0].find("587"), std::string::npos);
}

TEST(Presets, OutlookConsumer) {
  auto e = resolve_provider(account(provider_kind::outlook, flow_kind::device_code));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->tenant, "consumers");
  EXPECT_EQ(e->token_endpoint, "https://login.microsoftonline.com/consumers/oauth2/v2.0/token");
  EXPECT_EQ(e->smtp.host, "smtp-mail.outlook.com");
  EXPECT_EQ(e->smtp.port, 587);
  EXPECT_EQ(e->scopes, (std::vector<std::string>{"https://outlook.office.com/SMTP.Send", "offline_access"}));
  auto app = resolve_provider(account(provider_kind::outlook, flow_kind::client_credentials));
  ASSERT_FALSE(app);
  EXPECT_EQ(app.error().code(), make_error_code(oauth_errc::unsupported));
  auto us = account(provider_kind::outlook, flow_kind::device_code);
  us.cloud = microsoft_cloud::us_government;
  EXPECT_FALSE(resolve_provider(us));
}

TEST(Presets, Google) {
  auto e = resolve_provider(account(provider_kind::google, flow_kind::authorization_code));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->authorization_endpoint, "https://accounts.google.com/o/oauth2/v2/auth");
  EXPECT_EQ(e->token_endpoint, "https://oauth2.googleapis.com/token");
  EXPECT_EQ(e->device_authorization_endpoint, "https://oauth2.googleapis.com/device/code");
  EXPECT_EQ(e->revocation_endpoint, "https://oauth2.googleapis.com/revoke");
  EXPECT_EQ(e->scopes, std::vector<std::string>{"https://mail.google.com/"});
  EXPECT_EQ(e->smtp.host, "smtp.gmail.com");
  EXPECT_EQ(e->smtp.port, 587);
  EXPECT_TRUE(e->public_client_sends_secret);
  EXPECT_FALSE(e->refresh_sends_scope);
  EXPECT_EQ(e->authorize_extra.size(), 2u);
  EXPECT_TRUE(e->warnings.empty());

  auto implicit = account(provider_kind::google, flow_kind::service_account);
  implicit.smtp.tls = config::tls_setting::implicit;
  auto sa = resolve_provider(implicit);
  ASSERT_TRUE(sa);
  EXPECT_EQ(sa->smtp.port, 465);
  EXPECT_TRUE(sa->warnings.empty());

  auto device = resolve_provider(account(provider_kind::google, flow_kind::device_code));
  ASSERT_TRUE(device);
  ASSERT_EQ(device->warnings.size(), 1u);
  EXPECT_NE(device->warnings[0].find("device flow"), std::string::npos);

  EXPECT_FALSE(resolve_provider(account(provider_kind::google, flow_kind::client_credentials)));
}

TEST(Presets, OverridesWin) {
  auto a = account(provider_kind::microsoft, flow_kind::device_code);
  a.token_endpoint = "http://127.0.0.1:9000/token";
  a.device_authorization_endpoint = "http://127.0.0.1:9000/device";
  a.scopes = {"https://outlook.office.com/SMTP.Send"};
  a.smtp.host = "127.0.0.1";
  a.smtp.port = 2525;
  a.smtp.tls = config::tls_setting::none;
  auto e = resolve_provider(a);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->token_endpoint, "http://127.0.0.1:9000/token");
  EXPECT_EQ(e->device_authorization_endpoint, "http://127.0.0.1:9000/device");
  EXPECT_EQ(e->scopes, std::vector<std::string>{"https://outlook.office.com/SMTP.Send"});
  EXPECT_EQ(e->default_scopes.size(), 2u);
  EXPECT_EQ(e->smtp.host, "127.0.0.1");
  EXPECT_EQ(e->smtp.port, 2525);
  EXPECT_EQ(e->smtp.tls, config::tls_setting::none);
}

TEST(Presets, Generic) {
  auto a = account(provider_kind::generic, flow_kind::client_credentials);
  auto nothing = resolve_provider(a);
  ASSERT_FALSE(nothing);
  EXPECT_NE(nothing.error().message().find("issuer"), std::string::npos);
  a.issuer = "https://id.example.com";
  EXPECT_FALSE(resolve_provider(a));  // no SMTP host
  a.smtp.host = "mail.example.com";
  auto e = resolve_provider(a);
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_TRUE(e->needs_discovery);
  EXPECT_EQ(e->smtp.mechanism, config::mechanism_setting::automatic);
  a.token_endpoint = "https://id.example.com/token";
  auto explicit_ep = resolve_provider(a);
  ASSERT_TRUE(explicit_ep);
  EXPECT_FALSE(explicit_ep->needs_discovery);
  a.flow = flow_kind::device_code;  // the device endpoint is still missing
  EXPECT_TRUE(resolve_provider(a)->needs_discovery);
  a.flow = flow_kind::service_account;
  EXPECT_FALSE(resolve_provider(a));
}

TEST(Discovery, Urls) {
  EXPECT_EQ(discovery_url("https://example.com/issuer1", discovery_document::oauth_authorization_server).value(),
            "https://example.com/.well-known/oauth-authorization-server/issuer1");
  EXPECT_EQ(discovery_url("https://example.com", discovery_document::oauth_authorization_server).value(),
            "https://example.com/.well-known/oauth-authorization-server");
  EXPECT_EQ(discovery_url("https://example.com/", discovery_document::oauth_authorization_server).value(),
            "https://example.com/.well-known/oauth-authorization-server");
  EXPECT_EQ(discovery_url("https://example.com/issuer1/", discovery_document::openid_configuration).value(),
            "https://example.com/issuer1/.well-known/openid-configuration");
  EXPECT_EQ(discovery_url("http://127.0.0.1:3000", discovery_document::openid_configuration).value(),
            "http://127.0.0.1:3000/.well-known/openid-configuration");
  EXPECT_FALSE(discovery_url("example.com", discovery_document::openid_configuration));
  EXPECT_FALSE(discovery_url("", discovery_document::openid_configuration));
  EXPECT_FALSE(discovery_url("https://example.com/?a=b", discovery_document::openid_configuration));
  auto r = discovery_request("https://example.com", discovery_document::openid_configuration);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->method, "GET");
  EXPECT_TRUE(r->body.empty());
}

constexpr std::string_view metadata = R"({
  "issuer": "https://id.example.com",
  "authorization_endpoint": "https://id.example.com/auth",
  "token_endpoint": "https://id.example.com/token",
  "device_authorization_endpoint": "https://id.example.com/device",
  "revocation_endpoint": "https://id.example.com/revoke",
  "jwks_uri": "https://id.example.com/jwks",
  "response_types_supported": ["code"],
  "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                            "urn:ietf:params:oauth:grant-type:device_code"],
  "code_challenge_methods_supported": ["S256"],
  "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"]
})";

TEST(Discovery, ParseAndApply) {
  auto m = parse_discovery(response(200, std::string(metadata)), "https://id.example.com/");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->token_endpoint, "https://id.example.com/token");
  EXPECT_EQ(m->code_challenge_methods_supported, std::vector<std::string>{"S256"});
  auto a = account(provider_kind::generic, flow_kind::device_code);
  a.issuer = "https://id.example.com";
  a.smtp.host = "mail.example.com";
  auto e = resolve_provider(a).value();
  ASSERT_TRUE(e.needs_discovery);
  ASSERT_TRUE(apply_discovery(e, *m));
  EXPECT_FALSE(e.needs_discovery);
  EXPECT_EQ(e.device_authorization_endpoint, "https://id.example.com/device");
  EXPECT_EQ(e.revocation_endpoint, "https://id.example.com/revoke");
  EXPECT_TRUE(e.warnings.empty());
}

TEST(Discovery, Refusals) {
  auto other = parse_discovery(response(200, std::string(metadata)), "https://evil.example.com");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), make_error_code(oauth_errc::discovery_failed));
  EXPECT_FALSE(parse_discovery(response(404, "nope"), "https://id.example.com"));
  EXPECT_FALSE(parse_discovery(response(200, "<html>"), "https://id.example.com"));
  EXPECT_FALSE(
      parse_discovery(response(200, R"x({"issuer":"https://id.example.com","token_endpoint":"javascript:alert(1)"})x"),
                      "https://id.example.com"));
  // The flow's endpoint must exist, and PKCE must offer S256.
  server_metadata m;
  m.issuer = "https://id.example.com";
  m.token_endpoint = "https://id.example.com/token";
  auto a = account(provider_kind::generic, flow_kind::device_code);
  a.issuer = m.issuer;
  a.smtp.host = "mail.example.com";
  auto e = resolve_provider(a).value();
  EXPECT_FALSE(apply_discovery(e, m));
  a.flow = flow_kind::authorization_code;
  auto code = resolve_provider(a).value();
  m.authorization_endpoint = "https://id.example.com/auth";
  m.code_challenge_methods_supported = {"plain"};
  EXPECT_FALSE(apply_discovery(code, m));
  m.code_challenge_methods_supported = {"plain", "S256"};
  m.grant_types_supported = {"client_credentials"};
  auto ok = resolve_provider(a).value();
  EXPECT_TRUE(apply_discovery(ok, m));
  ASSERT_EQ(ok.warnings.size(), 1u);  // authorization_code not listed
}

}  // namespace
}  // namespace oauthmail::oauth
