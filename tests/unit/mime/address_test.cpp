// mime::parse_address_list / parse_mailbox / format_mailbox: what parses, what is refused (with the
// offending text quoted), IDNA domains, non-ASCII local parts, and RFC 2047 names.
#include "mime/address.hpp"

#include <gtest/gtest.h>

#include "mime/errors.hpp"

namespace oauthmail::mime {
namespace {

TEST(Address, ParsesListsNamesAndGroups) {
  auto r = parse_address_list("Bob <bob@example.net>, \"Doe, Jane\" <jane@example.org>, carol@example.org", "--to");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].name, "Bob");
  EXPECT_EQ((*r)[1].name, "Doe, Jane");
  EXPECT_EQ((*r)[2].address, "carol@example.org");
  auto g = parse_address_list("team: a@example.com, b@example.com;", "--to");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->size(), 2u);
  auto encoded = parse_mailbox("=?UTF-8?B?SsO2cmc=?= <joerg@example.de>", "From");
  ASSERT_TRUE(encoded);
  EXPECT_EQ(encoded->name, "Jörg");
}

TEST(Address, RefusesWhatCannotBeSentWithTheTextQuoted) {
  for (const char* bad :
       {"bob@@example.com", "<broken", "root", "foo bar", "", "   ", "bob@example..com", "@example.com"}) {
    auto r = parse_address_list(bad, "--to");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find("--to"), std::string::npos) << r.error().message();
  }
  auto r = parse_address_list("root", "--cc");
  EXPECT_NE(r.error().message().find("\"root\""), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().code(), errc::bad_address);
  for (const char* injected : {"bob@example.com\r\nBcc: evil@example.com", "Bob\n <bob@example.com>", "a@b.c\x01"}) {
    auto i = parse_address_list(injected, "--to");
    ASSERT_FALSE(i);
    EXPECT_EQ(i.error().code(), errc::header_injection);
  }
  EXPECT_FALSE(parse_address_list("\xff\xfe@example.com", "--to"));
  EXPECT_FALSE(parse_address_list(std::string(250, 'a') + "@example.com", "--to"));
  EXPECT_FALSE(parse_mailbox("a@example.com, b@example.com", "--from"));
}

TEST(Address, InternationalDomainsAndLocalParts) {
  auto idn = parse_mailbox("jorg@bücher.de", "--to");
  ASSERT_TRUE(idn);
  EXPECT_FALSE(idn->needs_utf8());
  EXPECT_EQ(idn->envelope(), "jorg@xn--bcher-kva.de");
  auto eai = parse_mailbox("jörg@bücher.de", "--to");
  ASSERT_TRUE(eai);
  EXPECT_TRUE(eai->needs_utf8());
  EXPECT_EQ(eai->envelope(), "jörg@bücher.de");
}

TEST(Address, FormatsEncodedOrUtf8) {
  mailbox m{"Jörg Müller", "joerg@example.de", "joerg@example.de"};
  EXPECT_EQ(format_mailbox(m, true), "=?UTF-8?b?SsO2cmcgTcO8bGxlcg==?= <joerg@example.de>");
  EXPECT_EQ(format_mailbox(m, false), "Jörg Müller <joerg@example.de>");
  mailbox quoted{"Doe, Jane", "jane@example.org", "jane@example.org"};
  EXPECT_EQ(format_mailbox(quoted, true), "\"Doe, Jane\" <jane@example.org>");
  EXPECT_EQ(format_address_list({m, quoted}, false),
            "Jörg Müller <joerg@example.de>, \"Doe, Jane\" <jane@example.org>");
}

}  // namespace
}  // namespace oauthmail::mime
