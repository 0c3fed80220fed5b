#include "sasl/mechanism.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <vector>

#include "sasl/clients.hpp"

namespace oauthmail::sasl {

namespace {

constexpr std::array<mechanism, 4> all_mechanisms = {mechanism::xoauth2, mechanism::oauthbearer, mechanism::plain,
                                                     mechanism::login};

char ascii_upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_upper(x) == ascii_upper(y); });
}

class sasl_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.sasl"; }
  std::string message(int ev) const override {
    switch (static_cast<sasl_errc>(ev)) {
      case sasl_errc::unexpected_challenge:
        return "unexpected SASL challenge";
      case sasl_errc::bad_challenge:
        return "undecodable SASL challenge";
      case sasl_errc::mechanism_not_offered:
        return "configured SASL mechanism not offered by the server";
      case sasl_errc::no_common_mechanism:
        return "no SASL mechanism in common with the server";
      case sasl_errc::bad_credentials_format:
        return "credentials unusable for the SASL mechanism";
    }
    return "unknown sasl error";
  }
};

// The server's names, for messages: split on spaces, printable ASCII only, bounded in number and
// length (they come from the peer).
std::vector<std::string> split_offered(std::span<const std::string> offered) {
  std::vector<std::string> names;
  for (const auto& entry : offered) {
    std::size_t i = 0;
    while (i < entry.size()) {
      while (i < entry.size() && (entry[i] == ' ' || entry[i] == '\t')) ++i;
      const std::size_t begin = i;
      while (i < entry.size() && entry[i] != ' ' && entry[i] != '\t') ++i;
      if (i > begin) names.emplace_back(entry.substr(begin, i - begin));
    }
  }
  return names;
}

std::string describe_offered(const std::vector<std::string>& names) {
  constexpr std::size_t max_names = 16;
  constexpr std::size_t max_name_length = 40;
  if (names.empty()) return "no AUTH mechanism at all";
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < max_names; ++i) {
    if (i > 0) out.push_back(' ');
    std::string_view name = names[i];
    if (name.size() > max_name_length) name = name.substr(0, max_name_length);
    for (const char c : name) out.push_back(c > ' ' && c < 0x7f ? ascii_upper(c) : '?');
  }
  if (names.size() > max_names) out += " ...";
  return "AUTH " + out;
}

bool is_offered(const std::vector<std::string>& names, mechanism m) {
  return std::any_of(names.begin(), names.end(), [m](const std::string& n) { return iequals(n, to_string(m)); });
}

}  // namespace

std::string_view to_string(mechanism m) noexcept {
  switch (m) {
    case mechanism::xoauth2:
      return "XOAUTH2";
    case mechanism::oauthbearer:
      return "OAUTHBEARER";
    case mechanism::plain:
      return "PLAIN";
    case mechanism::login:
      return "LOGIN";
  }
  return "UNKNOWN";
}

std::optional<mechanism> parse_mechanism(std::string_view name) noexcept {
  for (const mechanism m : all_mechanisms) {
    if (iequals(name, to_string(m))) return m;
  }
  return std::nullopt;
}

bool is_oauth(mechanism m) noexcept { return m == mechanism::xoauth2 || m == mechanism::oauthbearer; }

const std::error_category& sasl_category() noexcept {
  static const sasl_category_impl instance;
  return instance;
}

std::error_code make_error_code(sasl_errc e) noexcept { return {static_cast<int>(e), sasl_category()}; }

std::unique_ptr<client_mechanism> make_client(mechanism m, credentials creds) {
  switch (m) {
    case mechanism::xoauth2:
      return detail::make_xoauth2(std::move(creds));
    case mechanism::oauthbearer:
      return detail::make_oauthbearer(std::move(creds));
    case mechanism::plain:
      return detail::make_plain(std::move(creds));
    case mechanism::login:
      return detail::make_login(std::move(creds));
  }
  return nullptr;
}

std::string to_string(const credentials& c) {
  std::string out = fmt::format("user={} secret={}", c.user, c.secret);
  if (!c.host.empty()) out += fmt::format(" host={}", c.host);
  if (c.port != 0) out += fmt::format(" port={}", c.port);
  return out;
}

std::string to_string(const response& r) {
  return fmt::format("{} ({} bytes{})", r.bytes, r.bytes.expose().size(),
                     r.acknowledges_error ? ", acknowledges the error" : "");
}

std::ostream& operator<<(std::ostream& os, const credentials& c) { return os << to_string(c); }
std::ostream& operator<<(std::ostream& os, const response& r) { return os << to_string(r); }

core::result<mechanism> choose(std::span<const std::string> offered, credential_kind kind,
                               std::optional<mechanism> configured) {
  const std::vector<std::string> names = split_offered(offered);
  if (configured) {
    const std::string_view want = to_string(*configured);
    if (is_oauth(*configured) && kind == credential_kind::password) {
      return detail::make_error(
          sasl_errc::bad_credentials_format,
          fmt::format("AUTH {} was chosen but the credential is a password, not an OAuth2 "
                      "access token; give an OAuth2 access token (--bearer), or use PLAIN or LOGIN",
                      want),
          core::failure_class::needs_human);
    }
    if (is_offered(names, *configured)) return *configured;
    std::string msg = fmt::format("AUTH {} was chosen, but the server offers {}", want, describe_offered(names));
    if (*configured == mechanism::xoauth2 && is_offered(names, mechanism::oauthbearer)) {
      msg += "; it offers OAUTHBEARER, which takes the same token: choose it instead (--auth oauthbearer)";
    } else if (*configured == mechanism::oauthbearer && is_offered(names, mechanism::xoauth2)) {
      msg += "; it offers XOAUTH2, which takes the same token: choose it instead (--auth xoauth2)";
    } else if (names.empty()) {
      msg += " (some servers list AUTH only after STARTTLS, or only on the submission port 587)";
    }
    return detail::make_error(sasl_errc::mechanism_not_offered, std::move(msg), core::failure_class::needs_human);
  }

  const std::array<mechanism, 2> preference = kind == credential_kind::bearer_token
                                                  ? std::array{mechanism::xoauth2, mechanism::oauthbearer}
                                                  : std::array{mechanism::plain, mechanism::login};
  for (const mechanism m : preference) {
    if (is_offered(names, m)) return m;
  }
  const bool bearer = kind == credential_kind::bearer_token;
  if (names.empty()) {
    return detail::make_error(sasl_errc::no_common_mechanism,
                              "the server offers no AUTH mechanism at all (some servers list AUTH only after "
                              "STARTTLS, or only on the submission port 587)",
                              core::failure_class::needs_human);
  }
  std::string msg = fmt::format("the server offers {}, but none of them takes {} (oauthmail uses {} for it)",
                                describe_offered(names), bearer ? "an OAuth2 access token" : "a password",
                                bearer ? "XOAUTH2 or OAUTHBEARER" : "PLAIN or LOGIN");
  if (bearer && (is_offered(names, mechanism::plain) || is_offered(names, mechanism::login))) {
    msg += "; this server does not support OAuth2 for SMTP: use a password account, or another server";
  } else if (!bearer && (is_offered(names, mechanism::xoauth2) || is_offered(names, mechanism::oauthbearer))) {
    msg += "; this server wants OAuth2: give an OAuth2 access token (--bearer) instead of a password";
  }
  return detail::make_error(sasl_errc::no_common_mechanism, std::move(msg), core::failure_class::needs_human);
}

namespace detail {

core::error make_error(sasl_errc code, std::string message, core::failure_class cls) {
  return core::error(make_error_code(code), std::move(message), cls);
}

namespace {
bool has_control(std::string_view s) noexcept {
  return s.find_first_of(std::string_view("\x01\0\r\n", 4)) != std::string_view::npos;
}
}  // namespace

core::result<void> check_user(std::string_view user, std::string_view mech, bool required) {
  if (required && user.empty()) {
    return make_error(sasl_errc::bad_credentials_format,
                      fmt::format("{} needs a user name (the mailbox address), but it is empty", mech),
                      core::failure_class::needs_human);
  }
  if (has_control(user)) {
    return make_error(sasl_errc::bad_credentials_format,
                      fmt::format("the user name for {} contains a control character (0x01, NUL, CR or LF); "
                                  "check the configured user name",
                                  mech),
                      core::failure_class::needs_human);
  }
  return {};
}

core::result<void> check_secret(const core::secret<std::string>& secret, std::string_view mech, std::string_view what,
                                bool no_controls) {
  if (secret.empty()) {
    return make_error(sasl_errc::bad_credentials_format, fmt::format("the {} for {} is empty", what, mech),
                      core::failure_class::needs_human);
  }
  if (no_controls ? has_control(secret.expose()) : secret.expose().find('\0') != std::string::npos) {
    return make_error(sasl_errc::bad_credentials_format,
                      fmt::format("the {} for {} contains a control character ({}); check where it comes from "
                                  "(a secret file with several lines?)",
                                  what, mech, no_controls ? "0x01, NUL, CR or LF" : "NUL"),
                      core::failure_class::needs_human);
  }
  return {};
}

response make_response(std::initializer_list<std::string_view> parts, bool acknowledges_error) {
  std::size_t size = 0;
  for (const auto part : parts) size += part.size();
  std::string bytes;
  bytes.reserve(size);
  for (const auto part : parts) bytes.append(part);
  return response{core::secret<std::string>(std::move(bytes)), acknowledges_error};
}

core::result<std::optional<response>> initial_response_mechanism::start() {
  started_ = true;
  auto r = initial();
  if (!r) return std::move(r).error();
  return std::optional<response>(std::move(r).value());
}

core::result<response> initial_response_mechanism::step(std::string_view bytes) {
  if (!started_) {
    if (!bytes.empty()) {
      return make_error(sasl_errc::unexpected_challenge,
                        fmt::format("the server sent a non-empty {} challenge before the initial response", name()),
                        core::failure_class::protocol);
    }
    started_ = true;
    return initial();
  }
  return challenge(bytes);
}

}  // namespace detail

}  // namespace oauthmail::sasl
