// Each mistake of providers.md §6 (and §1.4, §1.7, §2.3, §2.4) that check_scopes() must catch.
#include "oauth/scope_check.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "unit/oauth/helpers.hpp"

namespace oauthmail::oauth {
namespace {

using config::flow_kind;
using config::provider_kind;
using testing::account;

config::account with_scopes(provider_kind p, flow_kind f, std::vector<std::string> scopes) {
  auto a = account(p, f);
  if (f == flow_kind::client_credentials) a.tenant = "contoso.onmicrosoft.com";
  a.scopes = std::move(scopes);
  return a;
}

// True when some problem of `severity` has `needle` in its cause.
bool has(const std::vector<scope_problem>& ps, scope_severity severity, std::string_view needle) {
  return std::any_of(ps.begin(), ps.end(), [&](const scope_problem& p) {
    return p.severity == severity && p.cause.find(needle) != std::string::npos && !p.fix.empty();
  });
}

std::size_t errors(const std::vector<scope_problem>& ps) {
  return static_cast<std::size_t>(
      std::count_if(ps.begin(), ps.end(), [](const scope_problem& p) { return p.severity == scope_severity::error; }));
}

TEST(ScopeCheck, PresetDefaultsAreClean) {
  EXPECT_TRUE(check_scopes(account(provider_kind::microsoft, flow_kind::device_code)).empty());
  EXPECT_TRUE(check_scopes(account(provider_kind::microsoft, flow_kind::authorization_code)).empty());
  EXPECT_TRUE(check_scopes(with_scopes(provider_kind::microsoft, flow_kind::client_credentials, {})).empty());
  EXPECT_TRUE(check_scopes(account(provider_kind::outlook, flow_kind::device_code)).empty());
  EXPECT_TRUE(check_scopes(account(provider_kind::google, flow_kind::authorization_code)).empty());
  EXPECT_TRUE(check_scopes(account(provider_kind::google, flow_kind::service_account)).empty());
  EXPECT_TRUE(check_scopes(account(provider_kind::generic, flow_kind::client_credentials)).empty());
  // The Outlook host name is an accepted Exchange resource too.
  EXPECT_TRUE(check_scopes(with_scopes(provider_kind::microsoft, flow_kind::device_code,
                                       {"https://outlook.office365.com/SMTP.Send", "offline_access"}))
                  .empty());
}

TEST(ScopeCheck, GraphScopeForSmtp) {
  auto ps = check_scopes(with_scopes(provider_kind::microsoft, flow_kind::device_code,
                                     {"https://graph.microsoft.com/Mail.Send", "offline_access"}));
  EXPECT_TRUE(has(ps, scope_severity::error, "Microsoft Graph scope"));
  EXPECT_EQ(ps.front().scope, "https://graph.microsoft.com/Mail.Send");
  EXPECT_NE(ps.front().fix.find("https://outlook.office.com/SMTP.Send"), std::string::npos);
  auto bare =
      check_scopes(with_scopes(provider_kind::microsoft, flow_kind::device_code, {"Mail.Send", "offline_access"}));
  EXPECT_TRUE(has(bare, scope_severity::error, "Microsoft Graph scope"));
  auto app = check_scopes(
      with_scopes(provider_kind::microsoft, flow_kind::client_credentials, {"https://graph.microsoft.com/.default"}));
  EXPECT_TRUE(has(app, scope_severity::error, "Microsoft Graph scope"));
  EXPECT_NE(app.front().fix.find("https://outlook.office365.com/.default"), std::string::npos);
}

TEST(ScopeCheck, SmtpSendWithoutPrefix) {
  auto ps = check_scopes(
      with_scopes(provider_kind::microsoft, flow_kind::authorization_code, {"SMTP.Send", "offline_access"}));
  ASSERT_TRUE(has(ps, scope_severity::error, "without the https://outlook.office.com/ prefix"));
  EXPECT_NE(ps.front().fix.find("https://outlook.office.com/SMTP.Send"), std::string::npos);
}

TEST(ScopeCheck, AppOnlyWithoutDefault) {
  auto named = check_scopes(
      with_scopes(provider_kind::microsoft, flow_kind::client_credentials, {"https://outlook.office.com/SMTP.Send"}));
  EXPECT_TRUE(has(named, scope_severity::error, "AADSTS1002012"));
  EXPECT_NE(named.front().fix.find("https://outlook.office365.com/.default"), std::string::npos);
  auto other = check_scopes(with_scopes(provider_kind::microsoft, flow_kind::client_credentials,
                                        {"https://outlook.office365.com/SMTP.SendAsApp"}));
  EXPECT_TRUE(has(other, scope_severity::error, "application permission"));
  auto offline = check_scopes(with_scopes(provider_kind::microsoft, flow_kind::client_credentials,
                                          {"https://outlook.office365.com/.default", "offline_access"}));
  EXPECT_TRUE(has(offline, scope_severity::error, "refresh token"));
}

TEST(ScopeCheck, TwoResources) {
  auto ps = check_scopes(
      with_scopes(provider_kind::microsoft, flow_kind::device_code,
                  {"https://outlook.office.com/SMTP.Send", "https://graph.microsoft.com/User.Read", "offline_access"}));
  EXPECT_TRUE(has(ps, scope_severity::error, "AADSTS28000"));
  auto two_exchange =
      check_scopes(with_scopes(provider_kind::microsoft, flow_kind::device_code,
                               {"https://outlook.office.com/SMTP.Send",
                                "https://outlook.office365.com/IMAP.AccessAsUser.All", "offline_access"}));
  EXPECT_TRUE(has(two_exchange, scope_severity::error, "more than one resource"));
}

TEST(ScopeCheck, DefaultMixedWithNamedScopes) {
  auto ps = check_scopes(
      with_scopes(provider_kind::microsoft, flow_kind::device_code,
                  {"https://outlook.office.com/.default", "https://outlook.office.com/SMTP.Send", "offline_access"}));
  EXPECT_TRUE(has(ps, scope_severity::error, "/.default cannot be combined"));
}

TEST(ScopeCheck, PublicClientWithSecret) {
  auto device = account(provider_kind::microsoft, flow_kind::device_code);
  device.client_secret.reference = "env:SECRET";
  auto ps = check_scopes(device);
  EXPECT_TRUE(has(ps, scope_severity::error, "AADSTS700025"));
  EXPECT_EQ(ps.front().key, "client_secret");
  auto code = account(provider_kind::microsoft, flow_kind::authorization_code);
  code.client_secret.reference = "env:SECRET";
  auto warn = check_scopes(code);
  EXPECT_TRUE(has(warn, scope_severity::warning, "Web"));
  EXPECT_EQ(errors(warn), 0u);
  // Google desktop clients carry a secret: not a mistake there.
  auto google = account(provider_kind::google, flow_kind::authorization_code);
  google.client_secret.reference = "env:SECRET";
  EXPECT_TRUE(check_scopes(google).empty());
}

TEST(ScopeCheck, DelegatedCompleteness) {
  auto no_offline = check_scopes(
      with_scopes(provider_kind::microsoft, flow_kind::device_code, {"https://outlook.office.com/SMTP.Send"}));
  EXPECT_TRUE(has(no_offline, scope_severity::warning, "offline_access"));
  EXPECT_EQ(errors(no_offline), 0u);
  auto no_smtp = check_scopes(with_scopes(provider_kind::microsoft, flow_kind::device_code,
                                          {"https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"}));
  EXPECT_TRUE(has(no_smtp, scope_severity::error, "no SMTP.Send"));
  auto send_as_app = check_scopes(with_scopes(provider_kind::microsoft, flow_kind::device_code,
                                              {"https://outlook.office.com/SMTP.SendAsApp", "offline_access"}));
  EXPECT_TRUE(has(send_as_app, scope_severity::error, "application permission"));
}

TEST(ScopeCheck, OutlookAppOnly) {
  EXPECT_TRUE(has(check_scopes(account(provider_kind::outlook, flow_kind::client_credentials)), scope_severity::error,
                  "no app-only access"));
}

TEST(ScopeCheck, GoogleGmailSendForSmtp) {
  auto ps = check_scopes(with_scopes(provider_kind::google, flow_kind::authorization_code,
                                     {"https://www.googleapis.com/auth/gmail.send"}));
  EXPECT_TRUE(has(ps, scope_severity::error, "Gmail API scope"));
  EXPECT_TRUE(has(ps, scope_severity::error, "https://mail.google.com/ is missing"));
  EXPECT_NE(ps.front().fix.find("https://mail.google.com/"), std::string::npos);
}

TEST(ScopeCheck, GoogleDeviceFlowWarns) {
  auto ps = check_scopes(account(provider_kind::google, flow_kind::device_code));
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].severity, scope_severity::warning);
  EXPECT_EQ(ps[0].key, "flow");
  EXPECT_NE(ps[0].fix.find("authorization_code"), std::string::npos);
  EXPECT_TRUE(has(check_scopes(account(provider_kind::google, flow_kind::client_credentials)), scope_severity::error,
                  "no client-credentials grant"));
}

}  // namespace
}  // namespace oauthmail::oauth
