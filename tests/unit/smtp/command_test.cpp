// Command encoding: exact wire forms, DSN xtext, AUTH "=", and injection attempts (CR, LF, NUL and
// other control octets in every argument) that must be refused without echoing the value.
#include "smtp/command.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace oauthmail::smtp {
namespace {

using namespace std::string_literals;

// A produced command is exactly one line: printable or 8-bit octets, then one CR LF.
void expect_one_line(const std::string& line) {
  ASSERT_GE(line.size(), 2u);
  EXPECT_EQ(line.substr(line.size() - 2), "\r\n");
  for (std::size_t i = 0; i + 2 < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    EXPECT_FALSE(c < 0x20 || c == 0x7F) << "control octet at " << i << " in " << line;
  }
}

std::string ok(const core::result<std::string>& r) {
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  if (!r) return {};
  expect_one_line(*r);
  return *r;
}

void expect_refused(const core::result<std::string>& r, command_errc why, std::string_view must_not_contain = {}) {
  ASSERT_FALSE(r) << "accepted: " << *r;
  EXPECT_EQ(r.error().code(), make_error_code(why)) << r.error().message();
  EXPECT_EQ(r.error().classification(), core::failure_class::permanent);
  EXPECT_FALSE(r.error().message().empty());
  if (!must_not_contain.empty()) {
    EXPECT_EQ(r.error().message().find(must_not_contain), std::string::npos) << r.error().message();
  }
}

const std::vector<std::string> kControlOctets = {"\r"s, "\n"s, "\r\n"s, "\0"s, "\t"s, "\x01"s, "\x1b"s, "\x7f"s};

TEST(Command, FixedCommands) {
  EXPECT_EQ(command::data(), "DATA\r\n");
  EXPECT_EQ(command::rset(), "RSET\r\n");
  EXPECT_EQ(command::noop(), "NOOP\r\n");
  EXPECT_EQ(command::quit(), "QUIT\r\n");
  EXPECT_EQ(command::starttls(), "STARTTLS\r\n");
}

TEST(Command, EhloAndHelo) {
  EXPECT_EQ(ok(command::ehlo("client.example.com")), "EHLO client.example.com\r\n");
  EXPECT_EQ(ok(command::helo("client.example.com")), "HELO client.example.com\r\n");
  EXPECT_EQ(ok(command::ehlo("[192.0.2.1]")), "EHLO [192.0.2.1]\r\n");
  EXPECT_EQ(ok(command::ehlo("[IPv6:2001:db8::1]")), "EHLO [IPv6:2001:db8::1]\r\n");
  EXPECT_EQ(ok(command::ehlo(std::string(255, 'a'))), "EHLO " + std::string(255, 'a') + "\r\n");
  expect_refused(command::ehlo(""), command_errc::bad_argument);
  expect_refused(command::helo(""), command_errc::bad_argument);
  expect_refused(command::ehlo("two words"), command_errc::bad_argument);
  expect_refused(command::ehlo(std::string(256, 'a')), command_errc::bad_argument);
}

TEST(Command, EhloDomainInjection) {
  for (const auto& bad : kControlOctets) {
    expect_refused(command::ehlo("client" + bad + "example.com"), command_errc::forbidden_octet);
    expect_refused(command::helo(bad), command_errc::forbidden_octet);
  }
  expect_refused(command::ehlo("x\r\nMAIL FROM:<a@evil>"), command_errc::forbidden_octet);
  expect_refused(command::ehlo("x\nRSET"), command_errc::forbidden_octet);
}

TEST(Command, MailFrom) {
  EXPECT_EQ(ok(command::mail_from("sender@example.com")), "MAIL FROM:<sender@example.com>\r\n");
  EXPECT_EQ(ok(command::mail_from("")), "MAIL FROM:<>\r\n");  // null reverse path (bounces)
  EXPECT_EQ(ok(command::mail_from("\"john doe\"@example.com")), "MAIL FROM:<\"john doe\"@example.com>\r\n");
  EXPECT_EQ(ok(command::mail_from("\"a\\\" b\"@example.com")), "MAIL FROM:<\"a\\\" b\"@example.com>\r\n");
  EXPECT_EQ(ok(command::mail_from("CaseSensitive@Example.COM")), "MAIL FROM:<CaseSensitive@Example.COM>\r\n");
}

TEST(Command, MailParametersInOrder) {
  mail_parameters p;
  p.size = 123456;
  p.body = body_type::eight_bit_mime;
  p.smtputf8 = true;
  p.ret = dsn_return::headers;
  p.envid = "QQ314159";
  EXPECT_EQ(ok(command::mail_from("s@example.com", p)),
            "MAIL FROM:<s@example.com> SIZE=123456 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159\r\n");

  mail_parameters q;
  q.body = body_type::binary_mime;
  q.ret = dsn_return::full;
  q.size = 0;
  EXPECT_EQ(ok(command::mail_from("s@example.com", q)),
            "MAIL FROM:<s@example.com> SIZE=0 BODY=BINARYMIME RET=FULL\r\n");

  mail_parameters seven;
  seven.body = body_type::seven_bit;
  EXPECT_EQ(ok(command::mail_from("s@example.com", seven)), "MAIL FROM:<s@example.com>\r\n");
}

TEST(Command, EnvidIsXtextEncoded) {
  mail_parameters p;
  p.envid = "a+b=c d~!\"\xC3\xA9";
  EXPECT_EQ(ok(command::mail_from("s@example.com", p)), "MAIL FROM:<s@example.com> ENVID=a+2Bb+3Dc+20d~!\"+C3+A9\r\n");
  p.envid = std::string(100, 'x');
  EXPECT_TRUE(command::mail_from("s@example.com", p));
  p.envid = std::string(101, 'x');
  expect_refused(command::mail_from("s@example.com", p), command_errc::bad_argument);
  p.envid = "";
  expect_refused(command::mail_from("s@example.com", p), command_errc::bad_argument);
  for (const auto& bad : kControlOctets) {
    p.envid = "id" + bad + "RCPT TO:<x@evil>";
    expect_refused(command::mail_from("s@example.com", p), command_errc::forbidden_octet);
  }
}

TEST(Command, RcptTo) {
  EXPECT_EQ(ok(command::rcpt_to("rcpt@example.com")), "RCPT TO:<rcpt@example.com>\r\n");
  EXPECT_EQ(ok(command::rcpt_to("Postmaster")), "RCPT TO:<Postmaster>\r\n");
  EXPECT_EQ(ok(command::rcpt_to("j\xC3\xB6rg@b\xC3\xBC"
                                "cher.example")),
            "RCPT TO:<j\xC3\xB6rg@b\xC3\xBC"
            "cher.example>\r\n");
  expect_refused(command::rcpt_to(""), command_errc::bad_address);
}

TEST(Command, RcptDsnParameters) {
  rcpt_parameters p;
  p.notify = "success,Failure,DELAY";
  p.orcpt = "rcpt+tag@example.com";
  EXPECT_EQ(ok(command::rcpt_to("rcpt+tag@example.com", p)),
            "RCPT TO:<rcpt+tag@example.com> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;rcpt+2Btag@example.com\r\n");
  rcpt_parameters never;
  never.notify = "never";
  EXPECT_EQ(ok(command::rcpt_to("r@example.com", never)), "RCPT TO:<r@example.com> NOTIFY=NEVER\r\n");
  rcpt_parameters empty;
  empty.notify = "";
  EXPECT_EQ(ok(command::rcpt_to("r@example.com", empty)), "RCPT TO:<r@example.com>\r\n");

  for (const auto& bad : {"NEVER,SUCCESS"s, "SUCCESS,SUCCESS"s, "SUCCESS,"s, ",SUCCESS"s, "BOGUS"s, "SUCCESS FAILURE"s,
                          "SUCCESS;FAILURE"s}) {
    rcpt_parameters q;
    q.notify = bad;
    expect_refused(command::rcpt_to("r@example.com", q), command_errc::bad_argument);
  }
  rcpt_parameters orcpt_empty;
  orcpt_empty.orcpt = "";
  expect_refused(command::rcpt_to("r@example.com", orcpt_empty), command_errc::bad_argument);
  rcpt_parameters orcpt_8bit;
  orcpt_8bit.orcpt = "j\xC3\xB6rg@example.com";
  EXPECT_EQ(ok(command::rcpt_to("r@example.com", orcpt_8bit)),
            "RCPT TO:<r@example.com> ORCPT=rfc822;j+C3+B6rg@example.com\r\n");
  for (const auto& bad : kControlOctets) {
    rcpt_parameters q;
    q.notify = "SUCCESS" + bad;
    expect_refused(command::rcpt_to("r@example.com", q), command_errc::forbidden_octet);
    rcpt_parameters o;
    o.orcpt = "a@b" + bad + "DATA";
    expect_refused(command::rcpt_to("r@example.com", o), command_errc::forbidden_octet);
  }
}

TEST(Command, AddressInjectionIsRefused) {
  using encoder = std::function<core::result<std::string>(std::string_view)>;
  const std::vector<std::pair<std::string, encoder>> encoders = {
      {"mail_from", [](std::string_view a) { return command::mail_from(a); }},
      {"rcpt_to", [](std::string_view a) { return command::rcpt_to(a); }},
  };
  for (const auto& [name, encode] : encoders) {
    for (const auto& bad : kControlOctets) {
      expect_refused(encode("user" + bad + "@example.com"), command_errc::forbidden_octet);
      expect_refused(encode(bad), command_errc::forbidden_octet);
      expect_refused(encode("user@example.com" + bad), command_errc::forbidden_octet);
      expect_refused(encode("\"quoted" + bad + "\"@example.com"), command_errc::forbidden_octet);
    }
    expect_refused(encode("a@example.com>\r\nRCPT TO:<victim@example.net"), command_errc::forbidden_octet);
    expect_refused(encode("a@example.com>\nDATA"), command_errc::forbidden_octet);
    expect_refused(encode("a@example.com> SIZE=1"), command_errc::bad_address);
    expect_refused(encode("<a@example.com>"), command_errc::bad_address);
    expect_refused(encode("a@example.com>"), command_errc::bad_address);
    expect_refused(encode("a b@example.com"), command_errc::bad_address);
    expect_refused(encode("a@example.com NOTIFY=NEVER"), command_errc::bad_address);
    expect_refused(encode("\"unterminated@example.com"), command_errc::bad_address);
    expect_refused(encode("\"ends in backslash\\"), command_errc::bad_address);
    expect_refused(encode("\"a\" b@example.com"), command_errc::bad_address);
  }
}

TEST(Command, AuthWithAndWithoutInitialResponse) {
  const std::string google =
      "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZ"
      "Mjl0Q2cBAQ==";
  EXPECT_EQ(ok(command::auth("XOAUTH2", google)), "AUTH XOAUTH2 " + google + "\r\n");
  EXPECT_EQ(ok(command::auth("xoauth2", std::nullopt)), "AUTH XOAUTH2\r\n");  // providers.md §1.2: upper-case
  EXPECT_EQ(ok(command::auth("OAUTHBEARER", std::string_view{})), "AUTH OAUTHBEARER =\r\n");
  EXPECT_EQ(ok(command::auth("PLAIN", "")), "AUTH PLAIN =\r\n");
  EXPECT_EQ(ok(command::auth("PLAIN-CLIENTTOKEN", "AQ==")), "AUTH PLAIN-CLIENTTOKEN AQ==\r\n");
  EXPECT_EQ(ok(command::auth("GSS_API", std::nullopt)), "AUTH GSS_API\r\n");
  // RFC 4954 §4: a long initial response is allowed (servers take >= 12288 octets for AUTH).
  EXPECT_TRUE(command::auth("XOAUTH2", std::string(8000, 'A')));
}

TEST(Command, AuthRefusals) {
  expect_refused(command::auth("", std::nullopt), command_errc::bad_argument);
  expect_refused(command::auth("X OAUTH2", std::nullopt), command_errc::bad_argument);
  expect_refused(command::auth("XOAUTH2=", std::nullopt), command_errc::bad_argument);
  expect_refused(command::auth(std::string(21, 'A'), std::nullopt), command_errc::bad_argument);
  EXPECT_TRUE(command::auth(std::string(20, 'A'), std::nullopt));
  for (const auto& bad : kControlOctets) {
    expect_refused(command::auth("XOAUTH2" + bad, std::nullopt), command_errc::forbidden_octet);
    expect_refused(command::auth(bad + "PLAIN", "AQ=="), command_errc::forbidden_octet);
  }
  expect_refused(command::auth("XOAUTH2\r\nMAIL FROM:<a@evil>", std::nullopt), command_errc::forbidden_octet);
}

TEST(Command, AuthInitialResponseIsNeverEchoed) {
  const std::string secretish = "c2VjcmV0LXRva2VuLXZhbHVl";
  for (const auto& bad : kControlOctets) {
    expect_refused(command::auth("XOAUTH2", secretish + bad + "QUIT"), command_errc::forbidden_octet, secretish);
  }
  expect_refused(command::auth("XOAUTH2", secretish + " extra"), command_errc::bad_argument, secretish);
  expect_refused(command::auth("XOAUTH2",
                               "user=me\x01"
                               "auth=Bearer tok"),
                 command_errc::forbidden_octet, "tok");
  expect_refused(command::auth("XOAUTH2", "not*base64"), command_errc::bad_argument, "not*base64");
}

TEST(Command, SaslResponse) {
  EXPECT_EQ(ok(command::sasl_response("")), "\r\n");  // Gmail's error challenge gets an empty line
  EXPECT_EQ(ok(command::sasl_response("AQ==")), "AQ==\r\n");
  EXPECT_EQ(ok(command::sasl_response("*")), "*\r\n");  // abort
  expect_refused(command::sasl_response("**"), command_errc::bad_argument);
  expect_refused(command::sasl_response("AQ== "), command_errc::bad_argument);
  for (const auto& bad : kControlOctets) {
    expect_refused(command::sasl_response("dG9rZW4" + bad + "QUIT"), command_errc::forbidden_octet, "dG9rZW4");
  }
}

TEST(Command, ErrorMessagesNameTheOctet) {
  auto r = command::rcpt_to("a\r\nb@example.com");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("CR"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("recipient"), std::string::npos) << r.error().message();
  auto n = command::mail_from("a\0b@example.com"s);
  ASSERT_FALSE(n);
  EXPECT_NE(n.error().message().find("NUL"), std::string::npos) << n.error().message();
}

TEST(Command, NeedsSmtpUtf8) {
  EXPECT_FALSE(needs_smtputf8("plain@example.com"));
  EXPECT_FALSE(needs_smtputf8(""));
  EXPECT_TRUE(needs_smtputf8("j\xC3\xB6rg@example.com"));
  EXPECT_TRUE(needs_smtputf8("user@\xE4\xBE\x8B\xE5\xAD\x90.example"));
  EXPECT_FALSE(needs_smtputf8("\x7f"));
}

TEST(Command, ErrorCategory) {
  EXPECT_STREQ(command_category().name(), "oauthmail.smtp.command");
  const std::error_code ec = command_errc::bad_address;
  EXPECT_EQ(ec.category(), command_category());
  for (int i = 1; i <= 3; ++i) EXPECT_FALSE(command_category().message(i).empty());
}

// Every byte value in every argument position: either refused, or one clean line.
TEST(Command, EveryOctetInEveryArgument) {
  for (int c = 0; c < 256; ++c) {
    const std::string s = "a" + std::string(1, static_cast<char>(c)) + "b";
    const bool control = c < 0x20 || c == 0x7F;
    for (const auto& r : {command::ehlo(s), command::helo(s), command::mail_from(s), command::rcpt_to(s),
                          command::auth(s, std::nullopt), command::auth("PLAIN", s), command::sasl_response(s)}) {
      if (r) {
        EXPECT_FALSE(control) << c;
        expect_one_line(*r);
      } else if (control) {
        EXPECT_EQ(r.error().code(), make_error_code(command_errc::forbidden_octet)) << c;
      }
    }
    mail_parameters mp;
    mp.envid = s;
    rcpt_parameters rp;
    rp.orcpt = s;
    for (const auto& r : {command::mail_from("x@y", mp), command::rcpt_to("x@y", rp)}) {
      EXPECT_EQ(r.has_value(), !control) << c;
      if (r) expect_one_line(*r);
    }
  }
}

}  // namespace
}  // namespace oauthmail::smtp
