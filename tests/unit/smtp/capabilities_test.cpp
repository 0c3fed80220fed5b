// EHLO capabilities from real captures (providers.md §1.2, §2.1, §2.2), parsed from the wire
// through the reply parser in every split, plus the odd forms servers send.
#include "smtp/capabilities.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/reply.hpp"

namespace oauthmail::smtp {
namespace {

reply parse_reply(std::string_view wire) {
  reply_parser p;
  auto r = p.feed(wire);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  if (!r || !r->parsed) {
    ADD_FAILURE() << "no complete reply in: " << wire;
    return {};
  }
  EXPECT_EQ(r->consumed, wire.size());
  return *r->parsed;
}

bool same(const capabilities& a, const capabilities& b) {
  return a.server_name == b.server_name && a.starttls == b.starttls && a.pipelining == b.pipelining &&
         a.eightbitmime == b.eightbitmime && a.smtputf8 == b.smtputf8 &&
         a.enhanced_status_codes == b.enhanced_status_codes && a.chunking == b.chunking &&
         a.binarymime == b.binarymime && a.dsn == b.dsn && a.size == b.size && a.auth == b.auth && a.other == b.other;
}

// Parses `wire` whole, in every 2-way split and byte by byte; all must give the same capabilities.
capabilities caps_from_wire(std::string_view wire) {
  capabilities whole = capabilities::parse(parse_reply(wire));
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    reply_parser p;
    std::optional<reply> got;
    for (std::string_view chunk : {wire.substr(0, cut), wire.substr(cut)}) {
      auto r = p.feed(chunk);
      EXPECT_TRUE(r);
      if (r && r->parsed) got = r->parsed;
    }
    EXPECT_TRUE(got && same(capabilities::parse(*got), whole)) << "split at " << cut;
  }
  reply_parser p;
  std::optional<reply> got;
  for (char c : wire) {
    auto r = p.feed(std::string_view(&c, 1));
    EXPECT_TRUE(r);
    if (r && r->parsed) got = r->parsed;
  }
  EXPECT_TRUE(got && same(capabilities::parse(*got), whole)) << "byte by byte";
  return whole;
}

TEST(Capabilities, Office365BeforeStartTls) {
  const capabilities c = caps_from_wire(
      "250-SC1PR80CA0174.outlook.office365.com Hello [xxx.xxx.xx.x]\r\n"
      "250-SIZE 157286400\r\n"
      "250-PIPELINING\r\n"
      "250-DSN\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250-STARTTLS\r\n"
      "250-8BITMIME\r\n"
      "250-BINARYMIME\r\n"
      "250-CHUNKING\r\n"
      "250 SMTPUTF8\r\n");
  EXPECT_EQ(c.server_name, "SC1PR80CA0174.outlook.office365.com");
  EXPECT_EQ(c.size, 157286400u);
  EXPECT_TRUE(c.pipelining);
  EXPECT_TRUE(c.dsn);
  EXPECT_TRUE(c.enhanced_status_codes);
  EXPECT_TRUE(c.starttls);
  EXPECT_TRUE(c.eightbitmime);
  EXPECT_TRUE(c.binarymime);
  EXPECT_TRUE(c.chunking);
  EXPECT_TRUE(c.smtputf8);
  EXPECT_TRUE(c.auth.empty());  // no AUTH before TLS
  EXPECT_FALSE(c.offers_auth("XOAUTH2"));
  EXPECT_TRUE(c.other.empty());
}

TEST(Capabilities, Office365AfterStartTls) {
  const capabilities c = caps_from_wire(
      "250-SY5P282CA0097.outlook.office365.com Hello [172.105.184.101]\r\n"
      "250-SIZE 157286400\r\n"
      "250-PIPELINING\r\n"
      "250-DSN\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250-AUTH LOGIN XOAUTH2\r\n"
      "250-8BITMIME\r\n"
      "250-BINARYMIME\r\n"
      "250-CHUNKING\r\n"
      "250 SMTPUTF8\r\n");
  EXPECT_EQ(c.server_name, "SY5P282CA0097.outlook.office365.com");
  EXPECT_FALSE(c.starttls);  // RFC 3207: not advertised after TLS
  EXPECT_EQ(c.auth, (std::vector<std::string>{"LOGIN", "XOAUTH2"}));
  EXPECT_TRUE(c.offers_auth("XOAUTH2"));
  EXPECT_TRUE(c.offers_auth("xoauth2"));
  EXPECT_TRUE(c.offers_auth("Login"));
  EXPECT_FALSE(c.offers_auth("OAUTHBEARER"));  // providers.md §1.2: Exchange Online has no OAUTHBEARER
  EXPECT_FALSE(c.offers_auth("PLAIN"));
  EXPECT_FALSE(c.offers_auth(""));
  EXPECT_FALSE(c.offers_auth("XOAUTH"));
  EXPECT_TRUE(c.pipelining);
  EXPECT_EQ(c.size, 157286400u);
}

TEST(Capabilities, GmailAfterTls) {
  const capabilities c = caps_from_wire(
      "250-smtp.gmail.com at your service, [209.132.188.80]\r\n"
      "250-SIZE 35882577\r\n"
      "250-8BITMIME\r\n"
      "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250-CHUNKING\r\n"
      "250 SMTPUTF8\r\n");
  EXPECT_EQ(c.server_name, "smtp.gmail.com");
  EXPECT_EQ(c.size, 35882577u);
  EXPECT_EQ(c.auth,
            (std::vector<std::string>{"LOGIN", "PLAIN", "XOAUTH2", "PLAIN-CLIENTTOKEN", "OAUTHBEARER", "XOAUTH"}));
  EXPECT_TRUE(c.offers_auth("OAUTHBEARER"));
  EXPECT_TRUE(c.offers_auth("XOAUTH2"));
  EXPECT_FALSE(c.pipelining);  // not advertised in this capture: must not pipeline
  EXPECT_FALSE(c.starttls);
  EXPECT_FALSE(c.dsn);
  EXPECT_FALSE(c.binarymime);
  EXPECT_TRUE(c.chunking);
  EXPECT_TRUE(c.eightbitmime);
  EXPECT_TRUE(c.enhanced_status_codes);
  EXPECT_TRUE(c.smtputf8);
  EXPECT_TRUE(c.other.empty());
}

TEST(Capabilities, GoogleDocumentationSample) {
  const capabilities c = caps_from_wire(
      "250-mx.google.com at your service, [172.31.135.47]\r\n"
      "250-SIZE 35651584\r\n"
      "250-8BITMIME\r\n"
      "250-AUTH LOGIN PLAIN XOAUTH XOAUTH2\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250 PIPELINING\r\n");
  EXPECT_EQ(c.server_name, "mx.google.com");
  EXPECT_EQ(c.size, 35651584u);
  EXPECT_EQ(c.auth, (std::vector<std::string>{"LOGIN", "PLAIN", "XOAUTH", "XOAUTH2"}));
  EXPECT_TRUE(c.pipelining);
  EXPECT_FALSE(c.chunking);
}

TEST(Capabilities, OldAuthEqualsFormAndDuplicates) {
  const capabilities c = caps_from_wire(
      "250-mail.example.org\r\n"
      "250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
      "250-AUTH=PLAIN LOGIN CRAM-MD5\r\n"
      "250 AUTH=XOAUTH2\r\n");
  EXPECT_EQ(c.auth, (std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"}));
  EXPECT_TRUE(c.other.empty());
}

TEST(Capabilities, KeywordsAreCaseInsensitiveAndMechanismsUpperCased) {
  const capabilities c = caps_from_wire(
      "250-localhost\r\n250-starttls\r\n250-Pipelining\r\n250-auth  login   xoauth2 \r\n250-size 1000\r\n"
      "250-8bitmime\r\n250-smtputf8\r\n250-EnhancedStatusCodes\r\n250-chunking\r\n250-binarymime\r\n250 dsn\r\n");
  EXPECT_EQ(c.server_name, "localhost");
  EXPECT_TRUE(c.starttls);
  EXPECT_TRUE(c.pipelining);
  EXPECT_EQ(c.auth, (std::vector<std::string>{"LOGIN", "XOAUTH2"}));
  EXPECT_EQ(c.size, 1000u);
  EXPECT_TRUE(c.eightbitmime && c.smtputf8 && c.enhanced_status_codes && c.chunking && c.binarymime && c.dsn);
  EXPECT_TRUE(c.other.empty());
}

TEST(Capabilities, SizeForms) {
  EXPECT_EQ(caps_from_wire("250-h\r\n250 SIZE\r\n").size, 0u);  // no declared limit
  EXPECT_EQ(caps_from_wire("250-h\r\n250 SIZE 0\r\n").size, 0u);
  EXPECT_EQ(caps_from_wire("250-h\r\n250 SIZE 18446744073709551615\r\n").size,
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(caps_from_wire("250-h\r\n250 SIZE 99999999999999999999999\r\n").size,
            std::numeric_limits<std::uint64_t>::max());
  const capabilities bad = caps_from_wire("250-h\r\n250 SIZE 10MB\r\n");
  EXPECT_FALSE(bad.size);
  EXPECT_EQ(bad.other, std::vector<std::string>{"SIZE 10MB"});
  EXPECT_FALSE(caps_from_wire("250-h\r\n250 SIZE -1\r\n").size);
  EXPECT_FALSE(caps_from_wire("250 h\r\n").size);  // not offered at all
}

TEST(Capabilities, UnknownKeywordsAreKeptAsReceived) {
  const capabilities c = caps_from_wire(
      "250-mail.example.com\r\n250-VRFY\r\n250-ETRN\r\n250-XCLIENT NAME ADDR\r\n250-X-EXPS GSSAPI NTLM\r\n"
      "250-DELIVERBY 300\r\n250-X-LINK2STATE\r\n250-XFOO=bar\r\n250 STARTTLS\r\n");
  EXPECT_EQ(c.other, (std::vector<std::string>{"VRFY", "ETRN", "XCLIENT NAME ADDR", "X-EXPS GSSAPI NTLM",
                                               "DELIVERBY 300", "X-LINK2STATE", "XFOO=bar"}));
  EXPECT_TRUE(c.starttls);
}

TEST(Capabilities, KeywordPrefixesAreNotKeywords) {
  const capabilities c = caps_from_wire("250-h\r\n250-STARTTLSX\r\n250-AUTHX PLAIN\r\n250 8BITMIMEX\r\n");
  EXPECT_FALSE(c.starttls);
  EXPECT_TRUE(c.auth.empty());
  EXPECT_FALSE(c.eightbitmime);
  EXPECT_EQ(c.other.size(), 3u);
}

TEST(Capabilities, InvalidMechanismNamesAreIgnored) {
  const capabilities c =
      caps_from_wire("250-h\r\n250 AUTH PLAIN X<Y> ABCDEFGHIJKLMNOPQRSTU XOAUTH2 \xC3\xA9 GSS_API\r\n");
  EXPECT_EQ(c.auth, (std::vector<std::string>{"PLAIN", "XOAUTH2", "GSS_API"}));
}

TEST(Capabilities, SingleLineReplyHasOnlyTheServerName) {
  const capabilities c = caps_from_wire("250 mail.example.com Hello\r\n");
  EXPECT_EQ(c.server_name, "mail.example.com");
  EXPECT_FALSE(c.starttls);
  EXPECT_TRUE(c.auth.empty());
}

TEST(Capabilities, NegativeReplyHasNoCapabilities) {
  const capabilities c = caps_from_wire("502-5.5.1 Unrecognized command\r\n502 5.5.1 STARTTLS\r\n");
  EXPECT_TRUE(c.server_name.empty());
  EXPECT_FALSE(c.starttls);
  EXPECT_TRUE(c.other.empty());
  EXPECT_TRUE(capabilities::parse(reply{}).server_name.empty());
}

TEST(Capabilities, EmptyAndBlankLinesAreSkipped) {
  const capabilities c = caps_from_wire("250-\r\n250-   \r\n250 PIPELINING\r\n");
  EXPECT_TRUE(c.server_name.empty());
  EXPECT_TRUE(c.pipelining);
  EXPECT_TRUE(c.other.empty());
}

TEST(Capabilities, LfOnlyEhloReply) {
  const capabilities c = caps_from_wire("250-h\n250-AUTH XOAUTH2\n250 STARTTLS\n");
  EXPECT_EQ(c.auth, std::vector<std::string>{"XOAUTH2"});
  EXPECT_TRUE(c.starttls);
}

}  // namespace
}  // namespace oauthmail::smtp
