// Secret references: where a token, password or client secret comes from, written in the
// configuration instead of the value itself. Accepted forms today:
//   env:NAME   the environment variable NAME (unset or empty is an error)
//   file:PATH  the contents of a regular file, with ONE trailing "\n" or "\r\n" removed; empty and
//              larger-than-64-KiB files are refused; a file that group or others may access is
//              read, with a warning that says `chmod 600 PATH`
// Later: cmd:, credential: (systemd LoadCredential), vault:. Each scheme is one entry of a table in
// reference.cpp (parse check + resolver), so adding one touches nothing else.
// Must not: echo a value that is not a valid reference (a bare literal may be the secret itself);
// put a resolved value anywhere but into core::secret; name anything in an error but the
// reference (env:NAME / file:PATH); read without a bound (files are capped at 64 KiB).
#pragma once

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>

#include "core/result.hpp"
#include "core/secret.hpp"

namespace oauthmail::secrets {

enum class secrets_errc {
  malformed_reference = 1,  // not "scheme:rest", unknown scheme, or a bad NAME / PATH
  not_found,                // environment variable unset, file missing
  empty,                    // the variable or file holds nothing
  too_large,                // file above the size limit
  unreadable,               // permission denied, not a regular file, I/O error
};
const std::error_category& secrets_category() noexcept;
std::error_code make_error_code(secrets_errc e) noexcept;

enum class scheme { env, file };
std::string_view to_string(scheme s) noexcept;  // "env", "file"

// A parsed, syntactically valid reference. Not a secret itself: it prints as "env:NAME".
class reference {
 public:
  // Parses "env:NAME" (NAME = [A-Za-z_][A-Za-z0-9_]*) or "file:PATH" (non-empty, no NUL). The
  // scheme is case-insensitive. Errors (malformed_reference) never repeat the text.
  static core::result<reference> parse(std::string_view text);

  scheme kind() const noexcept { return scheme_; }
  const std::string& target() const noexcept { return target_; }  // NAME or PATH
  std::string to_string() const;                                  // "env:NAME", "file:PATH"

  friend bool operator==(const reference&, const reference&) = default;
  friend std::ostream& operator<<(std::ostream& os, const reference& r) { return os << r.to_string(); }

 private:
  reference(scheme s, std::string target) : scheme_(s), target_(std::move(target)) {}
  scheme scheme_ = scheme::env;
  std::string target_;
};

// A resolved secret and, possibly, a warning the caller must show (log at warning level) but that
// does not stop the program: e.g. "file:/etc/oauthmail/token is readable by group or others (mode
// 0644); run `chmod 600 /etc/oauthmail/token`".
struct resolved {
  core::secret<std::string> value;
  std::optional<std::string> warning;
};

inline constexpr std::size_t max_file_size = 64 * 1024;

// Reads the secret now. Errors are class needs_human and name the reference, never the value.
core::result<resolved> resolve(const reference& ref);
// parse() then resolve().
core::result<resolved> resolve(std::string_view text);

}  // namespace oauthmail::secrets

template <>
struct std::is_error_code_enum<oauthmail::secrets::secrets_errc> : std::true_type {};

template <>
struct fmt::formatter<oauthmail::secrets::reference> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const oauthmail::secrets::reference& r, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(r.to_string(), ctx);
  }
};
