// The sandbox directory: the ready-made identities of each profile, ids and secrets shaped like the
// provider's, keys that belong to their certificates, lookups, and the JSON round trip with
// messages that name the broken key.
#include "sandbox/directory.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "oauth/jwt.hpp"
#include "unit/sandbox/idp_support.hpp"

namespace oauthmail::sandbox {
namespace {

using test::material;

const std::regex guid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");

void expect_key_matches_certificate(const generated_directory& g, const client& c) {
  std::string pem;
  for (const auto& [name, key] : g.private_keys) {
    if (name == c.name) pem = key;
  }
  ASSERT_FALSE(pem.empty()) << c.name;
  EXPECT_NE(pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  auto key = oauth::signing_key::from_pem(core::secret<std::string>(pem));
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_TRUE(oauth::certificate_matches_key(c.certificate_pem, *key));
  EXPECT_TRUE(oauth::read_certificate(c.certificate_pem));
}

TEST(Directory, MicrosoftHasTheReadyMadeIdentities) {
  const auto& g = material(profile_kind::microsoft).gen;
  const directory& d = g.dir;
  EXPECT_EQ(d.profile, profile_kind::microsoft);
  EXPECT_EQ(d.domain, "contoso.test");
  EXPECT_TRUE(std::regex_match(d.tenant_id, guid)) << d.tenant_id;

  ASSERT_NE(d.find_mailbox("sender@contoso.test"), nullptr);
  EXPECT_TRUE(d.find_mailbox("sender@contoso.test")->smtp_auth_enabled);
  EXPECT_EQ(d.find_mailbox("sender@contoso.test")->send_as, std::vector<std::string>{"shared@contoso.test"});
  ASSERT_NE(d.find_mailbox("disabled@contoso.test"), nullptr);
  EXPECT_FALSE(d.find_mailbox("disabled@contoso.test")->smtp_auth_enabled);
  EXPECT_NE(d.find_mailbox("shared@contoso.test"), nullptr);
  EXPECT_NE(d.find_mailbox("other@contoso.test"), nullptr);

  const client* secret = d.find_client("app-secret");
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ(secret->kind, client_kind::secret);
  EXPECT_TRUE(std::regex_match(secret->client_id, guid));
  // Entra's secret values: "xxxNQ~" + 34 characters.
  EXPECT_TRUE(std::regex_match(secret->secret, std::regex("[A-Za-z0-9]{3}[0-9]Q~[A-Za-z0-9_.~-]{34}"))) << "format";
  EXPECT_TRUE(secret->service_principal);
  EXPECT_EQ(secret->mailbox_permissions, (std::vector<std::string>{"sender@contoso.test", "disabled@contoso.test"}));

  const client* cert = d.find_client("app-cert");
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(cert->kind, client_kind::certificate);
  EXPECT_TRUE(cert->secret.empty());
  expect_key_matches_certificate(g, *cert);

  const client* noperm = d.find_client("app-noperm");
  ASSERT_NE(noperm, nullptr);
  EXPECT_TRUE(noperm->mailbox_permissions.empty());
  EXPECT_FALSE(noperm->secret.empty());

  const client* pub = d.find_client("public");
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(pub->kind, client_kind::public_client);
  EXPECT_TRUE(pub->secret.empty());
  EXPECT_EQ(d.find_client("service-account"), nullptr);

  // Ids and secrets are all different.
  EXPECT_NE(secret->client_id, cert->client_id);
  EXPECT_NE(secret->secret, noperm->secret);
  EXPECT_EQ(d.find_client_by_id(pub->client_id), pub);
  EXPECT_EQ(d.find_client_by_id(""), nullptr);
}

TEST(Directory, GoogleHasGoogleShapedClientsAndAServiceAccount) {
  const auto& g = material(profile_kind::google).gen;
  const directory& d = g.dir;
  EXPECT_EQ(d.domain, "example.test");
  EXPECT_TRUE(std::regex_match(d.tenant_id, std::regex("C0[a-z0-9]{7}"))) << d.tenant_id;
  const client* web = d.find_client("app-secret");
  ASSERT_NE(web, nullptr);
  EXPECT_TRUE(
      std::regex_match(web->client_id, std::regex("[1-9][0-9]{11}-[a-z0-9]{32}\\.apps\\.googleusercontent\\.com")));
  EXPECT_TRUE(std::regex_match(web->secret, std::regex("GOCSPX-[A-Za-z0-9_-]{28}")));
  const client* pub = d.find_client("public");
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(pub->kind, client_kind::public_client);
  EXPECT_FALSE(pub->secret.empty());  // Desktop app clients get one
  EXPECT_EQ(d.find_client("app-cert"), nullptr);
  EXPECT_EQ(d.find_client("app-noperm"), nullptr);

  const client* sa = d.find_client("service-account");
  ASSERT_NE(sa, nullptr);
  EXPECT_EQ(sa->kind, client_kind::service_account);
  EXPECT_TRUE(std::regex_match(sa->client_id, std::regex("[1-9][0-9]{20}")));
  EXPECT_TRUE(std::regex_match(sa->service_account_email,
                               std::regex("sandbox-mailer@sandbox-[0-9]{6}\\.iam\\.gserviceaccount\\.com")));
  EXPECT_TRUE(std::regex_match(sa->key_id, std::regex("[0-9a-f]{40}")));
  EXPECT_TRUE(sa->domain_wide_delegation);
  expect_key_matches_certificate(g, *sa);
  EXPECT_EQ(d.find_service_account(sa->service_account_email), sa);
  std::string upper = sa->service_account_email;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(d.find_service_account(upper), sa);
  EXPECT_EQ(d.find_service_account("nobody@x.iam.gserviceaccount.com"), nullptr);

  // A second service account without domain-wide delegation (doctor's unauthorized_client case).
  const client* nodwd = d.find_client("service-account-nodwd");
  ASSERT_NE(nodwd, nullptr);
  EXPECT_EQ(nodwd->kind, client_kind::service_account);
  EXPECT_FALSE(nodwd->domain_wide_delegation);
  EXPECT_NE(nodwd->client_id, sa->client_id);
  EXPECT_TRUE(std::regex_match(nodwd->service_account_email,
                               std::regex("sandbox-nodwd@sandbox-[0-9]{6}\\.iam\\.gserviceaccount\\.com")));
  expect_key_matches_certificate(g, *nodwd);
  EXPECT_EQ(d.find_service_account(nodwd->service_account_email), nodwd);
}

TEST(Directory, GenericUsesGuidsAndRandomSecrets) {
  const directory& d = material(profile_kind::generic).gen.dir;
  EXPECT_EQ(d.domain, "example.test");
  EXPECT_TRUE(std::regex_match(d.tenant_id, guid));
  const client* secret = d.find_client("app-secret");
  ASSERT_NE(secret, nullptr);
  EXPECT_TRUE(std::regex_match(secret->secret, std::regex("[A-Za-z0-9_-]{43}")));
  EXPECT_NE(d.find_client("app-cert"), nullptr);
}

TEST(Directory, LookupsAreCaseInsensitiveAndSendAsFollowsTheList) {
  const directory& d = material(profile_kind::microsoft).gen.dir;
  EXPECT_NE(d.find_mailbox("SENDER@Contoso.Test"), nullptr);
  EXPECT_EQ(d.find_mailbox("nobody@contoso.test"), nullptr);
  EXPECT_TRUE(d.may_send_as("sender@contoso.test", "Sender@contoso.test"));
  EXPECT_TRUE(d.may_send_as("SENDER@contoso.test", "shared@CONTOSO.test"));
  EXPECT_FALSE(d.may_send_as("sender@contoso.test", "other@contoso.test"));
  EXPECT_FALSE(d.may_send_as("shared@contoso.test", "sender@contoso.test"));
  EXPECT_FALSE(d.may_send_as("nobody@contoso.test", "nobody@contoso.test"));
}

TEST(Directory, ProfileNames) {
  EXPECT_EQ(to_string(profile_kind::google), "google");
  EXPECT_EQ(parse_profile("Microsoft"), profile_kind::microsoft);
  EXPECT_EQ(parse_profile("generic"), profile_kind::generic);
  EXPECT_FALSE(parse_profile("yahoo"));
}

TEST(Directory, JsonRoundTrip) {
  for (const auto p : {profile_kind::microsoft, profile_kind::google, profile_kind::generic}) {
    const directory& d = material(p).gen.dir;
    auto back = directory_from_json(boost::json::value(to_json(d)));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->profile, d.profile);
    EXPECT_EQ(back->tenant_id, d.tenant_id);
    EXPECT_EQ(back->domain, d.domain);
    ASSERT_EQ(back->mailboxes.size(), d.mailboxes.size());
    for (std::size_t i = 0; i < d.mailboxes.size(); ++i) {
      EXPECT_EQ(back->mailboxes[i].address, d.mailboxes[i].address);
      EXPECT_EQ(back->mailboxes[i].display_name, d.mailboxes[i].display_name);
      EXPECT_EQ(back->mailboxes[i].smtp_auth_enabled, d.mailboxes[i].smtp_auth_enabled);
      EXPECT_EQ(back->mailboxes[i].send_as, d.mailboxes[i].send_as);
    }
    ASSERT_EQ(back->clients.size(), d.clients.size());
    for (std::size_t i = 0; i < d.clients.size(); ++i) {
      const auto& a = back->clients[i];
      const auto& b = d.clients[i];
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.client_id, b.client_id);
      EXPECT_EQ(a.kind, b.kind);
      EXPECT_EQ(a.secret, b.secret);
      EXPECT_EQ(a.certificate_pem, b.certificate_pem);
      EXPECT_EQ(a.service_account_email, b.service_account_email);
      EXPECT_EQ(a.key_id, b.key_id);
      EXPECT_EQ(a.service_principal, b.service_principal);
      EXPECT_EQ(a.mailbox_permissions, b.mailbox_permissions);
      EXPECT_EQ(a.domain_wide_delegation, b.domain_wide_delegation);
    }
  }
}

TEST(Directory, FromJsonNamesTheBrokenKey) {
  const auto base = to_json(material(profile_kind::microsoft).gen.dir);
  const auto error_of = [](boost::json::object o) {
    auto r = directory_from_json(boost::json::value(std::move(o)));
    EXPECT_FALSE(r);
    return r ? std::string() : r.error().message();
  };
  EXPECT_FALSE(directory_from_json(boost::json::value("text")));
  {
    auto o = base;
    o["profile"] = "yahoo";
    EXPECT_NE(error_of(o).find("profile"), std::string::npos);
  }
  {
    auto o = base;
    o["clients"].as_array()[1].as_object()["kind"] = "magic";
    EXPECT_NE(error_of(o).find("clients[1].kind"), std::string::npos);
  }
  {
    auto o = base;
    o["clients"].as_array()[0].as_object().erase("secret");
    EXPECT_NE(error_of(o).find("clients[0].secret: missing"), std::string::npos);
  }
  {
    auto o = base;
    o["clients"].as_array()[1].as_object()["client_id"] = o["clients"].as_array()[0].as_object()["client_id"];
    EXPECT_NE(error_of(o).find("clients[1].client_id: appears twice"), std::string::npos);
  }
  {
    auto o = base;
    o["mailboxes"].as_array()[2].as_object()["smtp_auth_enabled"] = "no";
    EXPECT_NE(error_of(o).find("mailboxes[2].smtp_auth_enabled"), std::string::npos);
  }
  {
    auto o = base;
    o["mailboxes"].as_array()[0].as_object()["address"] = "not-an-address";
    EXPECT_NE(error_of(o).find("mailboxes[0].address"), std::string::npos);
  }
  {
    auto o = base;
    o["version"] = 2;
    EXPECT_NE(error_of(o).find("version"), std::string::npos);
  }
}

}  // namespace
}  // namespace oauthmail::sandbox
