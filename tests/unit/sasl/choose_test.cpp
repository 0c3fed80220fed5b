// choose(): configured mechanism must be offered (never a substitute); otherwise XOAUTH2 >
// OAUTHBEARER for tokens and PLAIN > LOGIN for passwords.
#include <gtest/gtest.h>

#include <vector>

#include "sasl/mechanism.hpp"

namespace oauthmail::sasl {
namespace {

using list = std::vector<std::string>;
constexpr auto bearer = credential_kind::bearer_token;
constexpr auto password = credential_kind::password;

core::result<mechanism> pick(const list& offered, credential_kind kind, std::optional<mechanism> configured = {}) {
  return choose(offered, kind, configured);
}

TEST(Names, RoundTripCaseInsensitive) {
  for (const auto m : {mechanism::xoauth2, mechanism::oauthbearer, mechanism::plain, mechanism::login}) {
    EXPECT_EQ(parse_mechanism(to_string(m)), m);
  }
  EXPECT_EQ(to_string(mechanism::xoauth2), "XOAUTH2");
  EXPECT_EQ(to_string(mechanism::oauthbearer), "OAUTHBEARER");
  EXPECT_EQ(parse_mechanism("xoauth2"), mechanism::xoauth2);
  EXPECT_EQ(parse_mechanism("OAuthBearer"), mechanism::oauthbearer);
  EXPECT_EQ(parse_mechanism("login"), mechanism::login);
  EXPECT_EQ(parse_mechanism("XOAUTH"), std::nullopt);  // Gmail's old OAuth 1 mechanism
  EXPECT_EQ(parse_mechanism("CRAM-MD5"), std::nullopt);
  EXPECT_EQ(parse_mechanism(""), std::nullopt);
  EXPECT_EQ(parse_mechanism(" PLAIN"), std::nullopt);
  EXPECT_TRUE(is_oauth(mechanism::xoauth2));
  EXPECT_TRUE(is_oauth(mechanism::oauthbearer));
  EXPECT_FALSE(is_oauth(mechanism::plain));
  EXPECT_FALSE(is_oauth(mechanism::login));
}

TEST(Category, Messages) {
  const std::error_code ec = sasl_errc::mechanism_not_offered;
  EXPECT_STREQ(ec.category().name(), "oauthmail.sasl");
  EXPECT_EQ(&ec.category(), &sasl_category());
  for (const auto e : {sasl_errc::unexpected_challenge, sasl_errc::bad_challenge, sasl_errc::mechanism_not_offered,
                       sasl_errc::no_common_mechanism, sasl_errc::bad_credentials_format}) {
    EXPECT_FALSE(make_error_code(e).message().empty());
    EXPECT_NE(make_error_code(e).message(), "unknown sasl error");
  }
  EXPECT_EQ(make_error_code(static_cast<sasl_errc>(99)).message(), "unknown sasl error");
}

TEST(Choose, BearerPrefersXoauth2ThenOauthbearer) {
  EXPECT_EQ(*pick({"LOGIN", "PLAIN", "XOAUTH", "XOAUTH2", "OAUTHBEARER"}, bearer), mechanism::xoauth2);  // Gmail
  EXPECT_EQ(*pick({"OAUTHBEARER", "XOAUTH2"}, bearer), mechanism::xoauth2);
  EXPECT_EQ(*pick({"PLAIN", "OAUTHBEARER"}, bearer), mechanism::oauthbearer);
  EXPECT_EQ(*pick({"xoauth2"}, bearer), mechanism::xoauth2);
}

TEST(Choose, PasswordPrefersPlainThenLogin) {
  EXPECT_EQ(*pick({"LOGIN", "PLAIN", "XOAUTH2"}, password), mechanism::plain);
  EXPECT_EQ(*pick({"LOGIN", "XOAUTH2"}, password), mechanism::login);
  EXPECT_EQ(*pick({"cram-md5", "login"}, password), mechanism::login);
}

TEST(Choose, ExchangeOnlineLoginXoauth2) {
  // smtp.office365.com: "250-AUTH LOGIN XOAUTH2", no OAUTHBEARER.
  EXPECT_EQ(*pick({"LOGIN", "XOAUTH2"}, bearer), mechanism::xoauth2);
  EXPECT_EQ(*pick({"LOGIN", "XOAUTH2"}, password), mechanism::login);
  EXPECT_EQ(*pick({"LOGIN XOAUTH2"}, bearer), mechanism::xoauth2);  // one unsplit entry
  EXPECT_EQ(*pick({"LOGIN", "XOAUTH2"}, bearer, mechanism::xoauth2), mechanism::xoauth2);
  auto ob = pick({"LOGIN", "XOAUTH2"}, bearer, mechanism::oauthbearer);
  ASSERT_FALSE(ob);
  EXPECT_EQ(ob.error().code(), sasl_errc::mechanism_not_offered);
  EXPECT_NE(ob.error().message().find("XOAUTH2"), std::string::npos) << ob.error().message();
}

TEST(Choose, ConfiguredXoauth2IsNeverReplacedByOauthbearer) {
  auto r = pick({"PLAIN", "OAUTHBEARER"}, bearer, mechanism::xoauth2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::mechanism_not_offered);
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  const std::string& msg = r.error().message();
  EXPECT_NE(msg.find("XOAUTH2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("AUTH PLAIN OAUTHBEARER"), std::string::npos) << msg;  // lists what is offered
}

TEST(Choose, ConfiguredMechanismMatchesCaseInsensitively) {
  EXPECT_EQ(*pick({"plain", "login"}, password, mechanism::login), mechanism::login);
  EXPECT_EQ(*pick({"oauthbearer"}, bearer, mechanism::oauthbearer), mechanism::oauthbearer);
}

TEST(Choose, ConfiguredPasswordMechanismWithTokenIsAllowed) {
  EXPECT_EQ(*pick({"PLAIN", "XOAUTH2"}, bearer, mechanism::plain), mechanism::plain);
}

TEST(Choose, ConfiguredOauthMechanismWithPasswordIsRefused) {
  auto r = pick({"XOAUTH2"}, password, mechanism::xoauth2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::bad_credentials_format);
}

TEST(Choose, ConfiguredButNotOffered) {
  auto r = pick({"LOGIN"}, password, mechanism::plain);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), sasl_errc::mechanism_not_offered);
  EXPECT_NE(r.error().message().find("AUTH LOGIN"), std::string::npos);
  auto none = pick({}, bearer, mechanism::xoauth2);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), sasl_errc::mechanism_not_offered);
  EXPECT_NE(none.error().message().find("no AUTH mechanism"), std::string::npos);
}

TEST(Choose, NoCommonMechanism) {
  auto token_only_passwords = pick({"PLAIN", "LOGIN"}, bearer);
  ASSERT_FALSE(token_only_passwords);
  EXPECT_EQ(token_only_passwords.error().code(), sasl_errc::no_common_mechanism);
  EXPECT_EQ(token_only_passwords.error().classification(), core::failure_class::needs_human);
  EXPECT_NE(token_only_passwords.error().message().find("AUTH PLAIN LOGIN"), std::string::npos);

  auto pw_only_oauth = pick({"XOAUTH2", "OAUTHBEARER"}, password);
  ASSERT_FALSE(pw_only_oauth);
  EXPECT_EQ(pw_only_oauth.error().code(), sasl_errc::no_common_mechanism);

  auto nothing = pick({}, password);
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code(), sasl_errc::no_common_mechanism);

  auto xoauth1 = pick({"XOAUTH", "CRAM-MD5"}, bearer);
  ASSERT_FALSE(xoauth1);
  EXPECT_EQ(xoauth1.error().code(), sasl_errc::no_common_mechanism);
}

TEST(Choose, OfferedNamesInMessagesAreSanitisedAndBounded) {
  list offered{std::string("EVIL\x1b[31m") + std::string(200, 'A')};
  for (int i = 0; i < 40; ++i) offered.push_back("X-" + std::to_string(i));
  auto r = pick(offered, bearer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message().find('\x1b'), std::string::npos);
  EXPECT_NE(r.error().message().find("EVIL?[31M"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find(std::string(41, 'A')), std::string::npos);
  EXPECT_NE(r.error().message().find(" ..."), std::string::npos);
  EXPECT_LT(r.error().message().size(), 1000u);
}

}  // namespace
}  // namespace oauthmail::sasl
