// The validator's small syntax checks: suggestions, mailboxes, durations, scopes, URLs, hosts.
#include "config/syntax.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string_view>

namespace oauthmail::config::syntax {
namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;

TEST(Syntax, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0U);
  EXPECT_EQ(edit_distance("abc", ""), 3U);
  EXPECT_EQ(edit_distance("tenant", "tenant"), 0U);
  EXPECT_EQ(edit_distance("tennant", "tenant"), 1U);
  EXPECT_EQ(edit_distance("clinet_id", "client_id"), 1U);  // adjacent swap counts once
  EXPECT_EQ(edit_distance("CLIENT_ID", "client_id"), 0U);  // case-insensitive
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3U);
}

TEST(Syntax, Closest) {
  constexpr std::array keys = {"name"sv, "client_id"sv, "client_secret"sv, "scopes"sv, "user"sv, "renew_margin"sv};
  EXPECT_EQ(closest("clientid", keys), "client_id");
  EXPECT_EQ(closest("scope", keys), "scopes");
  EXPECT_EQ(closest("usr", keys), "user");
  EXPECT_EQ(closest("secret", keys), "client_secret");  // contained in exactly one key
  EXPECT_EQ(closest("renewmargin", keys), "renew_margin");
  EXPECT_FALSE(closest("xyzzy", keys));
  EXPECT_FALSE(closest("", keys));
  EXPECT_FALSE(closest("client", keys));  // in two keys: no guess
  EXPECT_FALSE(closest("nm", keys));      // too short to guess far
}

TEST(Syntax, Mailboxes) {
  for (const auto good : {"alice@example.com", "a.b+tag@sub.example.co.uk", "x@localhost", "o'brien@example.ie",
                          "jörg@bücher.example", "_ops-1@example-mail.com"}) {
    EXPECT_TRUE(valid_mailbox(good)) << good;
  }
  for (const auto bad :
       {"", "alice", "@example.com", "alice@", "alice@@example.com", "a lice@example.com", "alice@exa mple.com",
        ".alice@example.com", "alice.@example.com", "al..ice@example.com", "Alice <alice@example.com>",
        "alice@-example.com", "alice@example..com", "alice@example.com.", "alice@[127.0.0.1]", "\"a b\"@example.com"}) {
    EXPECT_FALSE(valid_mailbox(bad)) << bad;
  }
  EXPECT_FALSE(valid_mailbox(std::string(65, 'a') + "@example.com"));
  EXPECT_TRUE(valid_mailbox(std::string(64, 'a') + "@example.com"));
}

TEST(Syntax, SenderPatterns) {
  EXPECT_TRUE(valid_sender_pattern("*@example.com"));
  EXPECT_TRUE(valid_sender_pattern("alerts@example.com"));
  EXPECT_FALSE(valid_sender_pattern("*@"));
  EXPECT_FALSE(valid_sender_pattern("*"));
  EXPECT_FALSE(valid_sender_pattern("*@*.example.com"));
  EXPECT_FALSE(valid_sender_pattern("*alerts@example.com"));
  const auto parts = split_mailbox("a@b@example.com");
  EXPECT_EQ(parts.local, "a@b");
  EXPECT_EQ(parts.domain, "example.com");
  EXPECT_TRUE(split_mailbox("nobody").local.empty());
}

TEST(Syntax, Durations) {
  EXPECT_EQ(parse_duration("90s"), 90s);
  EXPECT_EQ(parse_duration("10m"), 600s);
  EXPECT_EQ(parse_duration("1h"), 3600s);
  EXPECT_EQ(parse_duration("1h30m"), 5400s);
  EXPECT_EQ(parse_duration("1h1m1s"), 3661s);
  EXPECT_EQ(parse_duration("0s"), 0s);
  for (const auto bad : {"", "10", "m", "10 m", " 10m", "10m ", "1.5h", "-1m", "10M", "1d", "h1", "10mm", "1e3s",
                         "99999999999999999999s"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

TEST(Syntax, ScopeTokens) {
  EXPECT_TRUE(valid_scope_token("https://outlook.office.com/SMTP.Send"));
  EXPECT_TRUE(valid_scope_token("offline_access"));
  EXPECT_FALSE(valid_scope_token(""));
  EXPECT_FALSE(valid_scope_token("a b"));
  EXPECT_FALSE(valid_scope_token("a\"b"));
  EXPECT_FALSE(valid_scope_token("a\\b"));
  EXPECT_FALSE(valid_scope_token("ä"));
}

TEST(Syntax, EndpointUrls) {
  EXPECT_EQ(check_endpoint_url("https://login.microsoftonline.com/x/oauth2/v2.0/token"), url_verdict::ok);
  EXPECT_EQ(check_endpoint_url("HTTPS://example.com"), url_verdict::ok);
  EXPECT_EQ(check_endpoint_url("https://[2001:db8::1]:8443/t"), url_verdict::ok);
  EXPECT_EQ(check_endpoint_url("http://127.0.0.1:8080/token"), url_verdict::ok);
  EXPECT_EQ(check_endpoint_url("http://localhost/token"), url_verdict::ok);
  EXPECT_EQ(check_endpoint_url("http://[::1]:9/t"), url_verdict::ok);
  EXPECT_EQ(check_endpoint_url("http://example.com/token"), url_verdict::not_https);
  EXPECT_EQ(check_endpoint_url("http://127.0.0.1.evil.example/token"), url_verdict::not_https);
  EXPECT_EQ(check_endpoint_url("ftp://example.com/x"), url_verdict::not_https);
  EXPECT_EQ(check_endpoint_url("example.com/token"), url_verdict::malformed);
  EXPECT_EQ(check_endpoint_url("https://"), url_verdict::malformed);
  EXPECT_EQ(check_endpoint_url("https://user:pw@example.com/"), url_verdict::malformed);
  EXPECT_EQ(check_endpoint_url("https://exa mple.com/"), url_verdict::malformed);
  EXPECT_EQ(check_endpoint_url("https://[::1/"), url_verdict::malformed);
}

TEST(Syntax, Hosts) {
  for (const auto good : {"smtp.office365.com", "localhost", "127.0.0.1", "::1", "[::1]", "[2001:db8::25]"}) {
    EXPECT_TRUE(valid_host(good)) << good;
  }
  for (const auto bad : {"", "smtp.example.com:587", "smtps://smtp.example.com", "user@smtp.example.com",
                         "smtp example.com", "[::1", "smtp.example.com/"}) {
    EXPECT_FALSE(valid_host(bad)) << bad;
  }
}

TEST(Syntax, ControlCharacters) {
  EXPECT_FALSE(has_control_character("plain text"));
  EXPECT_TRUE(has_control_character("a\nb"));
  EXPECT_TRUE(has_control_character("a\tb"));
  EXPECT_TRUE(has_control_character(std::string_view("a\0b", 3)));
  EXPECT_TRUE(has_control_character("a\x7f"));
  EXPECT_FALSE(has_control_character("ünïcode"));
}

}  // namespace
}  // namespace oauthmail::config::syntax
