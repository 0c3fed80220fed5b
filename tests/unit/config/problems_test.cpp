// Invalid configuration files: one test per kind of mistake, each checking the key path, the
// position, the message and the example; then a file with several mistakes that must all be
// reported at once, in file order.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "unit/config/helpers.hpp"

namespace oauthmail::config::test {
namespace {

// A valid Outlook.com account; `extra` lines are appended inside the [[account]] table.
std::string outlook(const std::string& extra = "") {
  return "[[account]]\n"
         "name = \"personal\"\n"
         "provider = \"outlook\"\n"
         "flow = \"device_code\"\n"
         "client_id = \"11111111-2222-3333-4444-555555555555\"\n" +
         extra;
}

// A valid Microsoft 365 app-only account (lines 1-8); `extra` is appended.
std::string m365_app(const std::string& extra = "") {
  return "[[account]]\n"
         "name = \"app\"\n"
         "provider = \"microsoft\"\n"
         "flow = \"client_credentials\"\n"
         "tenant = \"contoso.onmicrosoft.com\"\n"
         "client_id = \"11111111-2222-3333-4444-555555555555\"\n"
         "client_secret = \"env:SECRET\"\n"
         "user = \"app@contoso.com\"\n" +
         extra;
}

TEST(Baseline, HelpersAreValid) {
  EXPECT_TRUE(check(outlook()).config) << all_problems(check(outlook()));
  EXPECT_TRUE(check(m365_app()).config) << all_problems(check(m365_app()));
}

// ---- TOML syntax ---------------------------------------------------------------------------------

TEST(Problems, TomlSyntaxErrorHasItsPosition) {
  const auto r = check("[[account]]\nname = \"a\"\nprovider = \"outlook\n");
  ASSERT_EQ(r.problems.size(), 1U) << all_problems(r);
  const problem& p = r.problems.front();
  EXPECT_EQ(p.where.file, test_path);
  EXPECT_EQ(p.where.line, 3);
  EXPECT_GT(p.where.column, 1);
  EXPECT_NE(p.message.find("not valid TOML"), std::string::npos) << p.message;
  EXPECT_FALSE(r.config);
}

TEST(Problems, TomlSyntaxErrorNeverQuotesAValue) {
  // toml++ quotes the number it cannot represent; a numeric secret must not reach the message.
  const auto big = check(outlook("client_secret = 98765432109876543210987\n"));
  ASSERT_EQ(big.problems.size(), 1U);
  EXPECT_EQ(big.problems[0].where.line, 6);
  EXPECT_EQ(all_problems(big).find("98765432109876543210987"), std::string::npos) << all_problems(big);
  const auto word = check(outlook("client_secret = tru3-S3cret\n"));
  ASSERT_EQ(word.problems.size(), 1U);
  EXPECT_EQ(all_problems(word).find("S3cret"), std::string::npos) << all_problems(word);
  const auto boolean = check(outlook("client_secret = truSECRETVALUE\n"));
  EXPECT_EQ(all_problems(boolean).find("SECRET"), std::string::npos) << all_problems(boolean);
}

TEST(Problems, TomlDuplicateKeyIsASyntaxError) {
  const auto r = check(outlook("user = \"a@outlook.com\"\nuser = \"b@outlook.com\"\n"));
  ASSERT_EQ(r.problems.size(), 1U);
  EXPECT_EQ(r.problems[0].where.line, 7);
  EXPECT_NE(r.problems[0].message.find("'user'"), std::string::npos) << r.problems[0].message;  // a known key stays
}

// ---- unknown keys --------------------------------------------------------------------------------

TEST(Problems, UnknownKeyWithSuggestion) {
  const auto r = check(outlook("clientid = \"x\"\n"));
  // clientid is unknown, and client_id is present: one problem.
  const problem p = only_problem(r, "account[0].clientid", "did you mean \"client_id\"?");
  EXPECT_EQ(p.where.line, 6);
  EXPECT_EQ(p.where.column, 1);
  EXPECT_EQ(p.example, R"(client_id = "11111111-2222-3333-4444-555555555555")");

  only_problem(check(outlook("scope = [\"x\"]\n")), "account[0].scope", "did you mean \"scopes\"?");
  only_problem(check(outlook("tennant = \"x\"\n")), "account[0].tennant", "did you mean \"tenant\"?");
  only_problem(check(outlook("renewmargin = 5\n")), "account[0].renewmargin", "did you mean \"renew_margin\"?");
  only_problem(check(outlook("secret = \"env:X\"\n")), "account[0].secret", "did you mean \"client_secret\"?");
  only_problem(check("defualt_account = \"personal\"\n" + outlook()), "defualt_account",
               "did you mean \"default_account\"?");
}

TEST(Problems, UnknownKeyWithoutSuggestionListsTheKeys) {
  const problem p = only_problem(check(outlook("xyzzy = \"blue\"\n")), "account[0].xyzzy", "unknown key");
  EXPECT_NE(p.message.find("client_id"), std::string::npos) << p.message;
  EXPECT_EQ(p.message.find("did you mean"), std::string::npos) << p.message;
}

TEST(Problems, UnknownKeysInEveryTable) {
  only_problem(check(outlook("[account.smtp]\nhots = \"smtp.example.com\"\n")), "account[0].smtp.hots",
               "did you mean \"host\"?");
  only_problem(check("[token_cache]\npaht = \"/x\"\n" + outlook()), "token_cache.paht", "did you mean \"path\"?");
  const auto r = check("[accounts]\nname = \"a\"\n" + outlook());
  only_problem(r, "accounts", "did you mean \"account\"?");
}

TEST(Problems, KeysInTheWrongTable) {
  // An SMTP key directly in the account.
  const problem host =
      only_problem(check(outlook("host = \"smtp.example.com\"\n")), "account[0].host", "[account.smtp]");
  EXPECT_EQ(host.where.line, 6);
  // An account key after the [account.smtp] header: TOML puts it into smtp.
  const problem user = only_problem(check(outlook("[account.smtp]\nport = 587\nuser = \"a@outlook.com\"\n")),
                                    "account[0].smtp.user", "move it above the [account.smtp] header");
  EXPECT_EQ(user.where.line, 8);
  // An account key before any [[account]].
  only_problem(check("name = \"x\"\n" + outlook()), "name", "after an [[account]] header");
}

// ---- types ---------------------------------------------------------------------------------------

TEST(Problems, WrongTypes) {
  only_problem(check(outlook("keep_alive = \"yes\"\n")), "account[0].keep_alive",
               "expected true or false, found a string");
  only_problem(check(outlook("scopes = \"https://outlook.office.com/SMTP.Send\"\n")), "account[0].scopes",
               "expected an array of strings, found a string");
  const problem element = only_problem(check(outlook("scopes = [\"a\", 1]\n")), "account[0].scopes[1]",
                                       "expected a string, found an integer");
  EXPECT_EQ(element.where.line, 6);
  EXPECT_EQ(element.where.column, 16);
  only_problem(check(outlook("[account.smtp]\nport = \"587\"\n")), "account[0].smtp.port",
               "expected an integer from 1 to 65535, found a string");
  only_problem(check(outlook("renew_margin = 1.5\n")), "account[0].renew_margin", "found a floating-point number");
  only_problem(check(outlook("smtp = \"smtp.example.com\"\n")), "account[0].smtp", "expected a table");
  only_problem(check("default_account = 1\n" + outlook()), "default_account", "expected a string, found an integer");
  only_problem(check(outlook("user = 2024-01-01\n")), "account[0].user", "found a date");
}

TEST(Problems, WrongTypeOfASecretNeverEchoesIt) {
  const problem p =
      only_problem(check(outlook("client_secret = 8675309123\n")), "account[0].client_secret", "expected a string");
  EXPECT_EQ(p.to_string().find("8675309123"), std::string::npos) << p.to_string();
}

TEST(Problems, EmptyStrings) {
  only_problem(check(outlook("user = \"\"\n")), "account[0].user", "is empty");
  only_problem(check(outlook("client_secret = \"\"\n")), "account[0].client_secret", "is empty");
  only_problem(check(outlook("scopes = []\n")), "account[0].scopes", "empty array");
}

TEST(Problems, EnumsWithSuggestions) {
  const std::string text =
      "[[account]]\nname = \"a\"\nprovider = \"microsft\"\nflow = \"device_code\"\n"
      "tenant = \"organizations\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n";
  const problem p = only_problem(check(text), "account[0].provider", "did you mean \"microsoft\"?");
  EXPECT_EQ(p.example, R"(provider = "microsoft")");
  EXPECT_EQ(p.where.line, 3);
  EXPECT_EQ(p.where.column, 12);
  only_problem(check(outlook("[account.smtp]\ntls = \"startls\"\n")), "account[0].smtp.tls",
               "did you mean \"starttls\"?");
  only_problem(check(outlook("[account.smtp]\nmechanism = \"plain\"\n")), "account[0].smtp.mechanism",
               "\"auto\", \"xoauth2\", \"oauthbearer\"");
  only_problem(check(m365_app("cloud = \"gov\"\n")), "account[0].cloud", "one of \"global\", \"usgov\", \"china\"");
  // Case matters: a near miss is reported, not guessed.
  only_problem(check("[[account]]\nname = \"a\"\nprovider = \"Outlook\"\nflow = \"device_code\"\n"
                     "client_id = \"11111111-2222-3333-4444-555555555555\"\n"),
               "account[0].provider", "did you mean \"outlook\"?");
}

// ---- structure -----------------------------------------------------------------------------------

TEST(Problems, SingleBracketAccount) {
  const auto r = check("[account]\nname = \"a\"\n");
  only_problem(r, "account", "write [[account]] (double brackets)");
}

TEST(Problems, DoubleBracketTokenCache) {
  only_problem(check("[[token_cache]]\npath = \"/x\"\n" + outlook()), "token_cache", "write [token_cache]");
}

TEST(Problems, NoAccount) {
  const auto empty = check("");
  ASSERT_EQ(empty.problems.size(), 1U);
  EXPECT_EQ(empty.problems[0].key, "account");
  EXPECT_EQ(empty.problems[0].where.line, 0);
  EXPECT_NE(empty.problems[0].message.find("no account"), std::string::npos);
  only_problem(check("account = []\n"), "account", "no account");
  only_problem(check("account = [1]\n"), "account[0]", "expected a table");
}

// ---- required keys -------------------------------------------------------------------------------

TEST(Problems, MissingKeysAreReportedAtTheAccountHeader) {
  const auto r = check("default_account = \"x\"\n\n[[account]]\nprovider = \"outlook\"\nflow = \"device_code\"\n");
  ASSERT_EQ(problems_for(r, "account[0].name").size(), 1U) << all_problems(r);
  const problem name = problems_for(r, "account[0].name").front();
  EXPECT_EQ(name.where.line, 3);
  EXPECT_EQ(name.where.column, 1);
  EXPECT_NE(name.message.find("missing name"), std::string::npos);
  const auto client_id = problems_for(r, "account[0].client_id");
  ASSERT_EQ(client_id.size(), 1U) << all_problems(r);
  EXPECT_NE(client_id[0].message.find("Application (client) ID"), std::string::npos) << client_id[0].message;
  EXPECT_EQ(client_id[0].example, R"(client_id = "11111111-2222-3333-4444-555555555555")");
  EXPECT_EQ(problems_for(r, "default_account").size(), 1U) << all_problems(r);
  EXPECT_EQ(r.problems.size(), 3U) << all_problems(r);
}

TEST(Problems, MissingProviderAndFlow) {
  const auto r = check("[[account]]\nname = \"a\"\nclient_id = \"x\"\n");
  EXPECT_EQ(problems_for(r, "account[0].provider").size(), 1U) << all_problems(r);
  EXPECT_EQ(problems_for(r, "account[0].flow").size(), 1U) << all_problems(r);
  EXPECT_NE(problems_for(r, "account[0].provider")[0].message.find("\"microsoft\", \"outlook\""), std::string::npos);
  EXPECT_EQ(r.problems.size(), 2U) << all_problems(r);
}

TEST(Problems, MicrosoftNeedsATenant) {
  const auto r = check(
      "[[account]]\nname = \"a\"\nprovider = \"microsoft\"\nflow = \"device_code\"\n"
      "client_id = \"11111111-2222-3333-4444-555555555555\"\n");
  const problem p = only_problem(r, "account[0].tenant", "missing tenant");
  EXPECT_NE(p.message.find("organizations"), std::string::npos);
  EXPECT_EQ(p.example, R"(tenant = "contoso.onmicrosoft.com")");
}

TEST(Problems, ClientCredentialsNeedCredentials) {
  const std::string base =
      "[[account]]\nname = \"a\"\nprovider = \"microsoft\"\nflow = \"client_credentials\"\n"
      "tenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n"
      "user = \"a@contoso.com\"\n";
  only_problem(check(base), "account[0].client_secret", "client_certificate and client_private_key");
  only_problem(check(base + "client_certificate = \"file:/c.pem\"\n"), "account[0].client_certificate",
               "needs client_private_key");
  only_problem(check(base + "client_private_key = \"file:/k.pem\"\n"), "account[0].client_private_key",
               "needs client_certificate");
  only_problem(check(base + "client_secret = \"env:S\"\nclient_certificate = \"file:/c.pem\"\n"
                            "client_private_key = \"file:/k.pem\"\n"),
               "account[0].client_secret", "not both");
  EXPECT_TRUE(check(base + "client_certificate = \"file:/c.pem\"\nclient_private_key = \"file:/k.pem\"\n").config);
}

TEST(Problems, AppOnlyNeedsAMailbox) {
  const std::string text =
      "[[account]]\nname = \"a\"\nprovider = \"microsoft\"\nflow = \"client_credentials\"\n"
      "tenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n"
      "client_secret = \"env:S\"\n";
  only_problem(check(text), "account[0].user", "names no mailbox");
  EXPECT_TRUE(check(text + "allowed_senders = [\"*@contoso.com\"]\n").config);
}

TEST(Problems, ServiceAccountNeedsKeyAndUser) {
  const auto r = check(
      "[[account]]\nname = \"sa\"\nprovider = \"google\"\nflow = \"service_account\"\n"
      "client_id = \"1234567890\"\n");
  EXPECT_EQ(problems_for(r, "account[0].service_account_key").size(), 1U) << all_problems(r);
  EXPECT_EQ(problems_for(r, "account[0].user").size(), 1U) << all_problems(r);
  EXPECT_NE(problems_for(r, "account[0].user")[0].message.find("domain-wide delegation"), std::string::npos);
  EXPECT_EQ(r.problems.size(), 2U) << all_problems(r);
}

TEST(Problems, ServiceAccountKeysAndOtherCredentials) {
  const std::string sa =
      "[[account]]\nname = \"sa\"\nprovider = \"google\"\nflow = \"service_account\"\n"
      "client_id = \"1234567890\"\nservice_account_key = \"file:/sa.json\"\nuser = \"a@example.com\"\n";
  EXPECT_TRUE(check(sa).config) << all_problems(check(sa));
  only_problem(check(sa + "client_secret = \"env:S\"\n"), "account[0].client_secret", "not used with flow");
  only_problem(check(outlook("service_account_key = \"file:/sa.json\"\n")), "account[0].service_account_key",
               "used only with flow \"service_account\"");
}

TEST(Problems, GoogleAuthorizationCodeNeedsTheClientSecret) {
  only_problem(check("[[account]]\nname = \"g\"\nprovider = \"google\"\nflow = \"authorization_code\"\n"
                     "client_id = \"1-x.apps.googleusercontent.com\"\nuser = \"a@gmail.com\"\n"),
               "account[0].client_secret", "even with PKCE");
}

TEST(Problems, GenericNeedsEndpoints) {
  const std::string base =
      "[[account]]\nname = \"g\"\nprovider = \"generic\"\nclient_id = \"x\"\n"
      "user = \"a@example.org\"\nsmtp = { host = \"smtp.example.org\" }\n";
  only_problem(check(base + "flow = \"device_code\"\ndevice_authorization_endpoint = \"https://i/d\"\n"),
               "account[0].token_endpoint", "issuer");
  only_problem(check(base + "flow = \"authorization_code\"\ntoken_endpoint = \"https://i/t\"\n"),
               "account[0].authorization_endpoint", "or issuer");
  only_problem(check(base + "flow = \"device_code\"\ntoken_endpoint = \"https://i/t\"\n"),
               "account[0].device_authorization_endpoint", "RFC 8628");
  const auto none = check(base + "flow = \"authorization_code\"\n");
  EXPECT_EQ(none.problems.size(), 2U) << all_problems(none);
  EXPECT_TRUE(check(base + "flow = \"device_code\"\nissuer = \"https://idp.example.org\"\n").config);
}

TEST(Problems, GenericNeedsAnSmtpServer) {
  const std::string base =
      "[[account]]\nname = \"g\"\nprovider = \"generic\"\nclient_id = \"x\"\nflow = \"device_code\"\n"
      "user = \"a@example.org\"\nissuer = \"https://idp.example.org\"\n";
  const problem p = only_problem(check(base), "account[0].smtp.host", "no default SMTP server");
  EXPECT_EQ(p.where.line, 1);
  only_problem(check(base + "[account.smtp]\nport = 587\n"), "account[0].smtp.host", "no default SMTP server");
  EXPECT_TRUE(check(base + "[account.smtp]\nhost = \"smtp.example.org\"\n").config);
}

// ---- provider and flow ---------------------------------------------------------------------------

TEST(Problems, FlowsAProviderDoesNotHave) {
  const auto with = [](const std::string& provider, const std::string& flow, const std::string& extra = "") {
    return check("[[account]]\nname = \"a\"\nprovider = \"" + provider + "\"\nflow = \"" + flow + "\"\n" +
                 "client_id = \"11111111-2222-3333-4444-555555555555\"\nuser = \"a@example.com\"\n" + extra);
  };
  only_problem(with("outlook", "client_credentials", "client_secret = \"env:S\"\n"), "account[0].flow",
               "no app-only access");
  only_problem(with("google", "client_credentials", "client_secret = \"env:S\"\n"), "account[0].flow",
               "no client-credentials grant");
  // Probably refused by Google (its device flow does not list the Gmail scope): oauth::check_scopes()
  // warns; the file itself is valid.
  EXPECT_TRUE(with("google", "device_code").config);
  only_problem(with("microsoft", "service_account", "tenant = \"contoso.com\"\nservice_account_key = \"file:/k\"\n"),
               "account[0].flow", "service_account is Google's");
  only_problem(with("generic", "service_account",
                    "issuer = \"https://i.example\"\nservice_account_key = \"file:/k\"\nsmtp = { host = \"h\" }\n"),
               "account[0].flow", "JWT bearer");
}

TEST(Problems, TenantAndCloudMisuse) {
  only_problem(check(outlook("tenant = \"organizations\"\n")), "account[0].tenant", "\"consumers\" tenant");
  only_problem(check("[[account]]\nname = \"g\"\nprovider = \"google\"\nflow = \"service_account\"\n"
                     "client_id = \"1\"\nservice_account_key = \"file:/k\"\nuser = \"a@example.com\"\n"
                     "tenant = \"example.com\"\n"),
               "account[0].tenant", "used only with provider \"microsoft\" or \"outlook\"");
  const std::string app = m365_app();
  std::string common = app;
  common.replace(common.find("contoso.onmicrosoft.com"), 23, "organizations");
  only_problem(check(common), "account[0].tenant", "only by your own tenant");
  only_problem(check(m365_app("").replace(m365_app().find("contoso.onmicrosoft.com"), 23, "not a tenant!")),
               "account[0].tenant", "is not a tenant");
  only_problem(check(outlook("cloud = \"china\"\n")), "account[0].cloud", "only in the global cloud");
}

TEST(Problems, MicrosoftClientIdMustBeAGuid) {
  std::string text = outlook();
  text.replace(text.find("11111111-2222-3333-4444-555555555555"), 36, "my-app");
  only_problem(check(text), "account[0].client_id", "is not a GUID");
}

TEST(Problems, KeepAliveWithoutRefreshTokens) {
  only_problem(check(m365_app("keep_alive = true\n")), "account[0].keep_alive", "has none");
  EXPECT_TRUE(check(m365_app("keep_alive = false\n")).config);
}

// ---- values --------------------------------------------------------------------------------------

TEST(Problems, DuplicateAccountNames) {
  const auto r = check(outlook() + "\n" + outlook());
  const problem p = only_problem(r, "account[1].name", "already used on line 2");
  EXPECT_EQ(p.where.line, 8);
}

TEST(Problems, InvalidAccountName) {
  std::string text = outlook();
  text.replace(text.find("personal"), 8, "my work");
  only_problem(check(text), "account[0].name", "not a valid account name");
}

TEST(Problems, BadMailAddresses) {
  only_problem(check(outlook("user = \"alice\"\n")), "account[0].user", "is not a mail address");
  only_problem(check(outlook("user = \"Alice <alice@example.com>\"\n")), "account[0].user", "without a display name");
  const auto r = check(outlook("allowed_senders = [\"ok@example.com\", \"bad@\", \"*@\"]\n"));
  ASSERT_EQ(r.problems.size(), 2U) << all_problems(r);
  const auto bad = problems_for(r, "account[0].allowed_senders[1]");
  ASSERT_EQ(bad.size(), 1U) << all_problems(r);
  EXPECT_NE(bad[0].message.find("\"bad@\" is neither"), std::string::npos);
  EXPECT_EQ(bad[0].where.line, 6);
  EXPECT_EQ(bad[0].where.column, 38);
  EXPECT_EQ(problems_for(r, "account[0].allowed_senders[2]").size(), 1U) << all_problems(r);
  only_problem(check(outlook("allowed_senders = [\"*\"]\n")), "account[0].allowed_senders[0]", "send as anyone");
  only_problem(check(outlook("allowed_senders = [\"*@*\"]\n")), "account[0].allowed_senders[0]", "send as anyone");
  only_problem(check(outlook("allowed_senders = [\"*@exa mple.com\"]\n")), "account[0].allowed_senders[0]",
               "neither a mail address");
}

TEST(Problems, DefaultAccountMustNameAnAccount) {
  const problem p = only_problem(check("default_account = \"persnal\"\n" + outlook()), "default_account",
                                 "did you mean \"personal\"?");
  EXPECT_EQ(p.where.line, 1);
  EXPECT_EQ(p.example, R"(default_account = "personal")");
  EXPECT_NE(p.message.find("(accounts: personal)"), std::string::npos) << p.message;
}

TEST(Problems, PortRange) {
  for (const std::string port : {"0", "65536", "-25", "100000"}) {
    only_problem(check(outlook("[account.smtp]\nhost = \"smtp.example.com\"\nport = " + port + "\n")),
                 "account[0].smtp.port", "from 1 to 65535");
  }
  EXPECT_TRUE(check(outlook("[account.smtp]\nhost = \"smtp.example.com\"\nport = 65535\n")).config);
  EXPECT_TRUE(check(outlook("[account.smtp]\nhost = \"smtp.example.com\"\nport = 1\n")).config);
}

TEST(Problems, RenewMarginBounds) {
  for (const std::string v : {"0", "-5", "86401", "\"0s\"", "\"25h\"", "\"24h1s\""}) {
    only_problem(check(outlook("renew_margin = " + v + "\n")), "account[0].renew_margin", "out of range");
  }
  for (const std::string v : {"\"10 min\"", "\"10\"", "\"m\"", "\"1.5h\"", "\"-1m\"", "\"10M\""}) {
    only_problem(check(outlook("renew_margin = " + v + "\n")), "account[0].renew_margin", "is not a duration");
  }
}

TEST(Problems, Scopes) {
  only_problem(check(outlook("scopes = [\"https://outlook.office.com/SMTP.Send offline_access\"]\n")),
               "account[0].scopes[0]", "one scope per array element");
  only_problem(check(outlook("scopes = [\"offline_access\", \"offline_access\"]\n")), "account[0].scopes[1]",
               "listed twice");
  only_problem(check(outlook("scopes = [\"a\\\\b\"]\n")), "account[0].scopes[0]", "is not a scope");
}

TEST(Problems, ScopeExamplesFitTheProviderAndFlow) {
  EXPECT_EQ(only_problem(check(m365_app("scopes = \"x\"\n")), "account[0].scopes", "expected an array").example,
            R"(scopes = ["https://outlook.office365.com/.default"])");
  EXPECT_EQ(only_problem(check(outlook("scopes = \"x\"\n")), "account[0].scopes", "expected an array").example,
            R"(scopes = ["https://outlook.office.com/SMTP.Send", "offline_access"])");
  EXPECT_EQ(only_problem(check("[[account]]\nname = \"g\"\nprovider = \"google\"\nflow = \"service_account\"\n"
                               "client_id = \"1\"\nservice_account_key = \"file:/k\"\nuser = \"a@example.com\"\n"
                               "scopes = [\"\"]\n"),
                         "account[0].scopes[0]", "is empty")
                .example,
            R"(scopes = ["https://mail.google.com/"])");
}

TEST(Problems, EndpointsMustBeHttps) {
  only_problem(check(m365_app("token_endpoint = \"http://login.example.com/token\"\n")), "account[0].token_endpoint",
               "not an https:// URL");
  only_problem(check(m365_app("issuer = \"login.example.com\"\n")), "account[0].issuer", "is not a URL");
  only_problem(check(m365_app("revocation_endpoint = \"ftp://x/y\"\n")), "account[0].revocation_endpoint",
               "not an https:// URL");
}

TEST(Problems, SmtpSettings) {
  only_problem(check(outlook("[account.smtp]\nhost = \"smtp.example.com:587\"\n")), "account[0].smtp.host",
               "put the port into port = N");
  only_problem(check(outlook("[account.smtp]\nhost = \"smtps://smtp.example.com\"\n")), "account[0].smtp.host",
               "not a host name");
  only_problem(check(outlook("[account.smtp]\nhost = \"localhost\"\ntls = \"none\"\n")), "account[0].smtp.tls",
               "allow_plaintext_auth = true");
  only_problem(check(outlook("[account.smtp]\nca_file = \"certs/ca.pem\"\n")), "account[0].smtp.ca_file",
               "relative path");
  // Exchange Online facts, unless the server is overridden.
  only_problem(check(outlook("[account.smtp]\nmechanism = \"oauthbearer\"\n")), "account[0].smtp.mechanism",
               "only XOAUTH2");
  only_problem(check(m365_app("[account.smtp]\nport = 465\n")), "account[0].smtp.port", "port 465");
  only_problem(check(m365_app("[account.smtp]\ntls = \"implicit\"\n")), "account[0].smtp.tls", "STARTTLS only");
  EXPECT_TRUE(
      check(m365_app(
                "[account.smtp]\nhost = \"127.0.0.1\"\nport = 465\ntls = \"implicit\"\nmechanism = \"oauthbearer\"\n"))
          .config);
}

TEST(Problems, Port465NeedsImplicitTls) {
  const std::string host = "[account.smtp]\nhost = \"smtp.example.com\"\n";
  const problem p = only_problem(check(outlook(host + "port = 465\n")), "account[0].smtp.port", "RFC 8314");
  EXPECT_EQ(p.example, R"(tls = "implicit")");
  only_problem(check(outlook(host + "port = 465\ntls = \"starttls\"\n")), "account[0].smtp.tls", "RFC 8314");
  EXPECT_TRUE(check(outlook(host + "port = 465\ntls = \"implicit\"\n")).config);
  EXPECT_TRUE(check(outlook(host + "tls = \"implicit\"\n")).config);
  EXPECT_TRUE(check(outlook(host + "port = 2465\ntls = \"starttls\"\n")).config);
}

TEST(Problems, TokenCache) {
  only_problem(check("[token_cache]\npath = \"tokens\"\n" + outlook()), "token_cache.path", "relative path");
  only_problem(check("[token_cache]\nkey = \"file:key\"\n" + outlook()), "token_cache.key", "relative path");
  only_problem(check("token_cache = \"/x\"\n" + outlook()), "token_cache", "expected a table");
}

// ---- secrets -------------------------------------------------------------------------------------

TEST(Problems, MalformedReferences) {
  only_problem(check(outlook("client_secret = \"env:\"\n")), "account[0].client_secret", "env: needs the name");
  only_problem(check(outlook("client_secret = \"credential:a/b\"\n")), "account[0].client_secret",
               "credential: needs the name");
  only_problem(check(outlook("client_secret = \"vault:kv/smtp\"\n")), "account[0].client_secret", "not supported yet");
  only_problem(check(outlook("client_secret = \"fiel:/etc/oauthmail/s\"\n")), "account[0].client_secret",
               "did you mean \"file:\"?");
  only_problem(check(outlook("client_secret = \"nev:SECRET\"\n")), "account[0].client_secret",
               "did you mean \"env:\"?");
}

TEST(Problems, InlineSecretNeedsAPrivateFile) {
  const std::string text = outlook("client_secret = \"Xy7~inline.Secret-Value\"\n");
  const auto ok = check(text, 0600);
  ASSERT_TRUE(ok.config) << all_problems(ok);
  const account& a = ok.config->accounts.front();
  ASSERT_TRUE(a.client_secret.inline_value);
  EXPECT_EQ(a.client_secret.inline_value->expose(), "Xy7~inline.Secret-Value");
  EXPECT_TRUE(a.client_secret.reference.empty());
  EXPECT_EQ(a.client_secret.where.line, 6);
  EXPECT_TRUE(check(text, 0400).config);
  EXPECT_TRUE(check(text, 0700).config);

  for (const unsigned mode : {0644U, 0640U, 0604U, 0610U, 0601U}) {
    const auto r = check(text, mode);
    const problem p = only_problem(r, "account[0].client_secret", "inline secret in a file readable by others");
    EXPECT_NE(p.message.find("chmod 600 /etc/oauthmail/test.toml"), std::string::npos) << p.message;
    EXPECT_NE(p.message.find("file:PATH"), std::string::npos) << p.message;
    EXPECT_EQ(p.where.line, 6);
    EXPECT_EQ(all_problems(r).find("inline.Secret"), std::string::npos);
  }
  // References are fine in any (not writable) file.
  EXPECT_TRUE(check(outlook("client_secret = \"env:S\"\n"), 0644).config);
}

TEST(Problems, InlineMultiLinePemIsAccepted) {
  const auto r = check(m365_app().replace(m365_app().find("client_secret = \"env:SECRET\"\n"), 29,
                                          "client_certificate = \"\"\"\n-----BEGIN CERTIFICATE-----\nMIIB\n"
                                          "-----END CERTIFICATE-----\n\"\"\"\n"
                                          "client_private_key = '''\n-----BEGIN PRIVATE KEY-----\nMIIE\n"
                                          "-----END PRIVATE KEY-----\n'''\n"));
  const account& a = only_account(r);
  ASSERT_TRUE(a.client_private_key.inline_value);
  EXPECT_EQ(a.client_private_key.inline_value->expose(),
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
}

TEST(Problems, WritableConfigFile) {
  for (const unsigned mode : {0666U, 0620U, 0602U}) {
    const auto r = check(outlook(), mode);
    ASSERT_EQ(r.problems.size(), 1U) << all_problems(r);
    EXPECT_EQ(r.problems[0].where.line, 0);
    EXPECT_NE(r.problems[0].message.find("writable by group or others"), std::string::npos);
    EXPECT_NE(r.problems[0].message.find("chmod go-w /etc/oauthmail/test.toml"), std::string::npos);
  }
}

TEST(Problems, SecretsAreNeverEchoed) {
  // Every way a secret can be misplaced in a file; none of the known strings may appear in any
  // message or example.
  const std::vector<std::string> secrets = {"SeCr3t-inline-value", "ya29.a0AfB_TOKEN", "8675309867530986753",
                                            "p4ss:w0rd-with-colon", "Q~client.secret~Z"};
  const std::string text =
      "default_account = \"personal\"\n"
      "[token_cache]\n"
      "key = \"SeCr3t-inline-value\"\n" +
      outlook(
          "client_secret = \"env:ya29.a0AfB_TOKEN\"\n"
          "client_certificate = \"p4ss:w0rd-with-colon\"\n"
          "client_private_key = 8675309867530986753\n"
          "service_account_key = \"Q~client.secret~Z\"\n"
          "scopes = [\"SeCr3t-inline-value\", 1]\n");
  const auto r = check(text, 0644);
  EXPECT_GE(r.problems.size(), 6U) << all_problems(r);
  std::string everything;
  for (const auto& p : r.problems) everything += p.to_string() + "\n" + p.example + "\n" + p.key + "\n";
  for (const auto& s : secrets) {
    if (s == "SeCr3t-inline-value") continue;  // also used as a (non-secret) scope below
    EXPECT_EQ(everything.find(s), std::string::npos) << s << " leaked:\n" << everything;
  }
  // The inline token_cache.key is never echoed; the scope of the same text is not a secret.
  for (const auto& p : problems_for(r, "token_cache.key")) {
    EXPECT_EQ(p.to_string().find("SeCr3t"), std::string::npos) << p.to_string();
  }
  // A file that parses to nothing: toml++'s own message must not carry the value either.
  for (const auto& s : secrets) {
    const auto broken = check(outlook("client_secret = " + s + "\n"), 0600);
    EXPECT_EQ(all_problems(broken).find(s), std::string::npos) << all_problems(broken);
  }
}

// ---- every problem at once -----------------------------------------------------------------------

TEST(Problems, EveryProblemAtOnceInFileOrder) {
  const std::string text =
      "default_account = \"nobody\"\n"                           // 1: names no account
      "\n"                                                       // 2
      "[[account]]\n"                                            // 3
      "name = \"work\"\n"                                        // 4
      "provider = \"microsoft\"\n"                               // 5
      "flow = \"client_credentials\"\n"                          // 6
      "tenant = \"contoso.onmicrosoft.com\"\n"                   // 7
      "client_id = \"11111111-2222-3333-4444-555555555555\"\n"   // 8
      "client_secret = \"env:M365_SECRET\"\n"                    // 9
      "user = \"noreply@contoso\"\n"                             // 10
      "scopes = \"https://outlook.office365.com/.default\"\n"    // 11: not an array
      "renew_margin = \"2d\"\n"                                  // 12: not a duration
      "\n"                                                       // 13
      "[account.smtp]\n"                                         // 14
      "port = 99999\n"                                           // 15: out of range
      "\n"                                                       // 16
      "[[account]]\n"                                            // 17
      "name = \"work\"\n"                                        // 18: duplicate
      "provider = \"outlook\"\n"                                 // 19
      "flow = \"device_code\"\n"                                 // 20
      "client_id = \"11111111-2222-3333-4444-555555555555\"\n";  // 21
  const auto r = check(text);
  ASSERT_EQ(r.problems.size(), 5U) << all_problems(r);
  EXPECT_FALSE(r.config);
  const std::vector<std::pair<int, std::string>> expected = {{1, "default_account"},
                                                             {11, "account[0].scopes"},
                                                             {12, "account[0].renew_margin"},
                                                             {15, "account[0].smtp.port"},
                                                             {18, "account[1].name"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(r.problems[i].where.line, expected[i].first) << r.problems[i].to_string();
    EXPECT_EQ(r.problems[i].key, expected[i].second) << r.problems[i].to_string();
    EXPECT_FALSE(r.problems[i].example.empty()) << r.problems[i].to_string();
  }
}

TEST(Problems, ManyAccountsManyProblems) {
  std::string text;
  for (int i = 0; i < 4; ++i) {
    text += "[[account]]\nname = \"a" + std::to_string(i) + "\"\nprovider = \"outlook\"\nflow = \"device_code\"\n" +
            "client_id = \"11111111-2222-3333-4444-555555555555\"\nuser = \"bad" + std::to_string(i) + "\"\n";
  }
  const auto r = check(text);
  ASSERT_EQ(r.problems.size(), 4U) << all_problems(r);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.problems[static_cast<std::size_t>(i)].key, "account[" + std::to_string(i) + "].user");
    EXPECT_EQ(r.problems[static_cast<std::size_t>(i)].where.line, 6 * i + 6);
  }
}

// ---- formatting ----------------------------------------------------------------------------------

TEST(ProblemText, Format) {
  const problem p{{"config.toml", 12, 3},
                  "account[2].scopes",
                  "expected an array of strings, found a string",
                  R"(scopes = ["https://outlook.office.com/SMTP.Send", "offline_access"])"};
  EXPECT_EQ(p.to_string(),
            "config.toml:12:3: account[2].scopes: expected an array of strings, found a string (example: scopes = "
            "[\"https://outlook.office.com/SMTP.Send\", \"offline_access\"])");
  const problem whole{{"c.toml", 0, 0}, "", "the configuration file does not exist", ""};
  EXPECT_EQ(whole.to_string(), "c.toml: the configuration file does not exist");
}

}  // namespace
}  // namespace oauthmail::config::test
