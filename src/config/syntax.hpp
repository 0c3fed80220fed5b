// Small syntax checks the configuration validator needs: "did you mean" suggestions by edit
// distance, mailbox and domain syntax, sender patterns, durations ("10m"), scope tokens, endpoint
// URLs and absolute paths. Pure functions on strings, shared with the tests.
// Must not: allocate beyond the strings they return, touch files or the network, or accept a
// value that is only almost right (a typo must be reported, not guessed).
// Follows: RFC 5321 §4.1.2 / RFC 5322 §3.4.1 dot-atom (mailboxes; UTF-8 allowed as in RFC 6531),
// RFC 1035 §2.3.1 / RFC 5890 (host names; U-labels passed through), RFC 6749 §3.3 (scope-token),
// RFC 8252 §8.3 (plain http only for loopback).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace oauthmail::config::syntax {

bool iequals(std::string_view a, std::string_view b) noexcept;

// Optimal-string-alignment distance (insertions, deletions, substitutions, adjacent swaps),
// case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate a user most probably meant by `word`: the nearest within a distance of about a
// third of its length (at least 1, at most 3), else the only candidate that contains `word` or is
// contained in it (4 characters or more). Empty when nothing is close.
std::optional<std::string_view> closest(std::string_view word, std::span<const std::string_view> candidates);

bool valid_domain(std::string_view domain) noexcept;    // "example.com", "localhost", "bücher.example"
bool valid_mailbox(std::string_view address) noexcept;  // "alice@example.com" (dot-atom local part)
// An allowed_senders entry: a mailbox (without '*') or "*@domain".
bool valid_sender_pattern(std::string_view pattern) noexcept;
// Splits "local@domain" at the last '@'; empty parts when there is none.
struct mailbox_parts {
  std::string_view local;
  std::string_view domain;
};
mailbox_parts split_mailbox(std::string_view address) noexcept;

// "90s", "10m", "1h", "1h30m" (units s, m, h; at least one; no sign, no fraction). nullopt when
// malformed or above 10^9 seconds.
std::optional<std::chrono::seconds> parse_duration(std::string_view text) noexcept;

// RFC 6749 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
bool valid_scope_token(std::string_view scope) noexcept;

enum class url_verdict {
  ok,
  not_https,  // http:// to a host that is not loopback, or another scheme
  malformed,  // no host, whitespace, control characters
};
// An OAuth endpoint: https://HOST[...]; http:// only to localhost, 127.0.0.1 or [::1].
url_verdict check_endpoint_url(std::string_view url) noexcept;

// A host name or IP address for smtp.host (no port, no scheme, no user).
bool valid_host(std::string_view host) noexcept;

bool has_control_character(std::string_view text) noexcept;

}  // namespace oauthmail::config::syntax
