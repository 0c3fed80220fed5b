// Syntax checks for the configuration validator (see syntax.hpp).
#include "config/syntax.hpp"

#include <algorithm>
#include <limits>
#include <vector>

namespace oauthmail::config::syntax {

namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_utf8_byte(char c) noexcept { return static_cast<unsigned char>(c) >= 0x80; }

bool starts_with_icase(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

bool contains_icase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

// RFC 5322 atext, plus UTF-8 (RFC 6531).
bool is_atext(char c) noexcept {
  if (is_alpha(c) || is_digit(c) || is_utf8_byte(c)) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool valid_dot_atom(std::string_view s) noexcept {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char previous = '\0';
  for (const char c : s) {
    if (c == '.') {
      if (previous == '.') return false;
    } else if (!is_atext(c)) {
      return false;
    }
    previous = c;
  }
  return true;
}

bool valid_ipv6_literal(std::string_view s) noexcept {
  if (s.size() < 2 || s.find(':') == std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.';
  });
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  // Three rows of the dynamic-programming table suffice for adjacent transpositions.
  std::vector<std::size_t> before(m + 1);
  std::vector<std::size_t> previous(m + 1);
  std::vector<std::size_t> current(m + 1);
  for (std::size_t j = 0; j <= m; ++j) previous[j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1])) {
        current[j] = std::min(current[j], before[j - 2] + 1);
      }
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[m];
}

std::optional<std::string_view> closest(std::string_view word, std::span<const std::string_view> candidates) {
  if (word.empty()) return std::nullopt;
  const std::size_t limit = std::clamp<std::size_t>(word.size() / 3, 1, 3);
  std::optional<std::string_view> best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const auto candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d <= limit && d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  if (best) return best;
  if (word.size() < 4) return std::nullopt;
  std::optional<std::string_view> only;
  for (const auto candidate : candidates) {
    if (candidate.size() >= 4 && (contains_icase(candidate, word) || contains_icase(word, candidate))) {
      if (only) return std::nullopt;  // ambiguous: say nothing rather than guess
      only = candidate;
    }
  }
  return only;
}

bool valid_domain(std::string_view domain) noexcept {
  if (domain.empty() || domain.size() > 253) return false;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = domain.find('.', start);
    const std::string_view label = domain.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (const char c : label) {
      if (!is_alpha(c) && !is_digit(c) && c != '-' && !is_utf8_byte(c)) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

mailbox_parts split_mailbox(std::string_view address) noexcept {
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  return {address.substr(0, at), address.substr(at + 1)};
}

bool valid_mailbox(std::string_view address) noexcept {
  if (address.size() > 254) return false;
  const auto parts = split_mailbox(address);
  if (parts.local.empty() || parts.local.size() > 64) return false;
  return valid_dot_atom(parts.local) && valid_domain(parts.domain);
}

bool valid_sender_pattern(std::string_view pattern) noexcept {
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*@") return valid_domain(pattern.substr(2));
  // '*' is legal in a local part, but here it is almost surely a wildcard that is not supported.
  return pattern.find('*') == std::string_view::npos && valid_mailbox(pattern);
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) noexcept {
  constexpr std::int64_t limit = 1'000'000'000;
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    const std::size_t digits_start = i;
    while (i < text.size() && is_digit(text[i])) {
      number = number * 10 + (text[i] - '0');
      if (number > limit) return std::nullopt;
      ++i;
    }
    if (i == digits_start || i == text.size()) return std::nullopt;  // a unit without a number, or no unit
    std::int64_t unit = 0;
    switch (text[i]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      default:
        return std::nullopt;
    }
    ++i;
    total += number * unit;
    if (total > limit) return std::nullopt;
  }
  return std::chrono::seconds(total);
}

bool valid_scope_token(std::string_view scope) noexcept {
  if (scope.empty()) return false;
  return std::all_of(scope.begin(), scope.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
  });
}

url_verdict check_endpoint_url(std::string_view url) noexcept {
  if (has_control_character(url) || url.find(' ') != std::string_view::npos) return url_verdict::malformed;
  bool https = false;
  std::string_view rest;
  if (starts_with_icase(url, "https://")) {
    https = true;
    rest = url.substr(8);
  } else if (starts_with_icase(url, "http://")) {
    rest = url.substr(7);
  } else {
    return url.find("://") == std::string_view::npos ? url_verdict::malformed : url_verdict::not_https;
  }
  const std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) return url_verdict::malformed;  // no user info
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return url_verdict::malformed;
    host = host.substr(0, close + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (host.empty()) return url_verdict::malformed;
  if (https) return url_verdict::ok;
  if (iequals(host, "localhost") || host == "127.0.0.1" || host == "[::1]") return url_verdict::ok;
  return url_verdict::not_https;
}

bool valid_host(std::string_view host) noexcept {
  if (host.empty()) return false;
  if (host.front() == '[' && host.back() == ']') return valid_ipv6_literal(host.substr(1, host.size() - 2));
  if (host.find(':') != std::string_view::npos) return valid_ipv6_literal(host);
  return valid_domain(host);  // names and IPv4 addresses (digits and dots)
}

bool has_control_character(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

}  // namespace oauthmail::config::syntax
