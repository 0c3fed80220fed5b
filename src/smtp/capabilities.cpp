#include "smtp/capabilities.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace oauthmail::smtp {

namespace {

char upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) return false;
  }
  return true;
}

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits off the first whitespace-separated word.
std::string_view next_word(std::string_view& s) noexcept {
  s = trim(s);
  std::size_t end = 0;
  while (end < s.size() && !is_space(s[end])) ++end;
  std::string_view word = s.substr(0, end);
  s.remove_prefix(end);
  return word;
}

// RFC 4422 §3.1: a SASL mechanism name is 1-20 of A-Z 0-9 - _ (accepted here in either case).
bool valid_mechanism(std::string_view m) noexcept {
  if (m.empty() || m.size() > 20) return false;
  return std::all_of(m.begin(), m.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

void add_mechanisms(std::string_view list, std::vector<std::string>& auth) {
  for (std::string_view word = next_word(list); !word.empty(); word = next_word(list)) {
    if (!valid_mechanism(word)) continue;  // not a SASL name: never offer it back to the server
    std::string mech(word);
    std::transform(mech.begin(), mech.end(), mech.begin(), upper);
    if (std::find(auth.begin(), auth.end(), mech) == auth.end()) auth.push_back(std::move(mech));
  }
}

// RFC 1870: "SIZE" alone or "SIZE <digits>"; 0 means no fixed limit. Returns false if malformed.
bool parse_size(std::string_view params, std::uint64_t& out) noexcept {
  params = trim(params);
  if (params.empty()) {
    out = 0;
    return true;
  }
  if (!std::all_of(params.begin(), params.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(params.data(), params.data() + params.size(), value);
  if (ec == std::errc::result_out_of_range) {
    value = std::numeric_limits<std::uint64_t>::max();  // larger than anything we could send
  } else if (ec != std::errc{} || ptr != params.data() + params.size()) {
    return false;
  }
  out = value;
  return true;
}

// Sets the field for a known keyword without parameters (or SIZE). False: unknown or malformed.
bool apply_keyword(capabilities& caps, std::string_view keyword, std::string_view params) {
  struct flag {
    std::string_view keyword;
    bool capabilities::*field;
  };
  static constexpr flag flags[] = {
      {"STARTTLS", &capabilities::starttls},
      {"PIPELINING", &capabilities::pipelining},
      {"8BITMIME", &capabilities::eightbitmime},
      {"SMTPUTF8", &capabilities::smtputf8},
      {"ENHANCEDSTATUSCODES", &capabilities::enhanced_status_codes},
      {"CHUNKING", &capabilities::chunking},
      {"BINARYMIME", &capabilities::binarymime},
      {"DSN", &capabilities::dsn},
  };
  for (const auto& f : flags) {
    if (iequals(keyword, f.keyword)) {
      caps.*f.field = true;
      return true;
    }
  }
  if (iequals(keyword, "SIZE")) {
    std::uint64_t value = 0;
    if (!parse_size(params, value)) return false;  // kept visible in `other`; no declared limit
    caps.size = value;
    return true;
  }
  return false;
}

}  // namespace

bool capabilities::offers_auth(std::string_view mechanism) const noexcept {
  return std::any_of(auth.begin(), auth.end(), [&](const std::string& m) { return iequals(m, mechanism); });
}

capabilities capabilities::parse(const reply& ehlo_reply) {
  capabilities caps;
  if (!ehlo_reply.positive_completion() || ehlo_reply.lines.empty()) return caps;
  std::string_view first = ehlo_reply.lines.front();
  caps.server_name = std::string(next_word(first));

  for (std::size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
    const std::string& raw = ehlo_reply.lines[i];
    std::string_view rest = trim(raw);
    if (rest.empty()) continue;
    // The keyword ends at whitespace, or at "=" for the pre-RFC 2554 form "AUTH=LOGIN PLAIN".
    std::size_t end = 0;
    while (end < rest.size() && !is_space(rest[end]) && rest[end] != '=') ++end;
    const std::string_view keyword = rest.substr(0, end);
    std::string_view params = rest.substr(end);
    const bool equals_form = !params.empty() && params.front() == '=';
    if (equals_form) params.remove_prefix(1);

    if (iequals(keyword, "AUTH")) {
      add_mechanisms(params, caps.auth);
    } else if (equals_form || !apply_keyword(caps, keyword, params)) {
      caps.other.push_back(raw);  // unknown, malformed, or "X=..." for anything but AUTH
    }
  }
  return caps;
}

}  // namespace oauthmail::smtp
