// Secret references: where a token, password or client secret comes from, written in the
// configuration instead of the value itself. Accepted forms:
//   env:NAME         the environment variable NAME (unset or empty is an error)
//   file:PATH        the contents of a regular file, with ONE trailing "\n" or "\r\n" removed; empty
//                    and larger-than-64-KiB files are refused, and so is a file that group or others
//                    may access (the error says `chmod 600 PATH`)
//   cmd:COMMAND      the standard output of `/bin/sh -c COMMAND` (like msmtp's passwordeval): stdin
//                    is /dev/null, stderr is inherited (the command's own messages reach the user),
//                    stdout is captured up to 64 KiB with ONE trailing newline removed; a non-zero
//                    exit, a signal, empty output or the time limit (default 10 s, then the child's
//                    whole process group is killed) is an error
//   credential:NAME  systemd's credentials (LoadCredential=, SetCredential=): the file
//                    $CREDENTIALS_DIRECTORY/NAME, read like file: but without the mode check (systemd
//                    makes the directory private to the service)
// Later: vault:. Each scheme is one entry of a table in reference.cpp (parse check + resolver), so
// adding one touches nothing else.
// Must not: echo a value that is not a valid reference (a bare literal may be the secret itself);
// put a resolved value anywhere but into core::secret; name anything in an error but the
// reference (env:NAME / file:PATH / cmd:COMMAND / credential:NAME), never a command's output;
// read without a bound (files and command output are capped at 64 KiB, commands in time); write
// anything to stdout or stderr itself.
// Follows: systemd.exec(5) "Credentials" ($CREDENTIALS_DIRECTORY); POSIX sh -c, posix_spawn.
#pragma once

#include <chrono>
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
  insecure,                 // file: group or others may access the file
  command_failed,           // cmd: could not start, exited non-zero or was killed by a signal
  timed_out,                // cmd: did not finish within the time limit (and was killed)
};
const std::error_category& secrets_category() noexcept;
std::error_code make_error_code(secrets_errc e) noexcept;

enum class scheme { env, file, cmd, credential };
std::string_view to_string(scheme s) noexcept;  // "env", "file", "cmd", "credential"

// A parsed, syntactically valid reference. Not a secret itself: it prints as "env:NAME".
class reference {
 public:
  // Parses "env:NAME" (NAME = [A-Za-z_][A-Za-z0-9_]*), "file:PATH" (non-empty, no NUL),
  // "cmd:COMMAND" (not blank, no NUL) or "credential:NAME" (a file name: no '/', not "." or "..").
  // The scheme is case-insensitive. Errors (malformed_reference) never repeat the text.
  static core::result<reference> parse(std::string_view text);

  scheme kind() const noexcept { return scheme_; }
  const std::string& target() const noexcept { return target_; }  // NAME or PATH
  std::string to_string() const;                                  // "env:NAME", "file:PATH", ...

  friend bool operator==(const reference&, const reference&) = default;
  friend std::ostream& operator<<(std::ostream& os, const reference& r) { return os << r.to_string(); }

 private:
  reference(scheme s, std::string target) : scheme_(s), target_(std::move(target)) {}
  scheme scheme_ = scheme::env;
  std::string target_;
};

// A resolved secret and, possibly, a warning the caller must show (log at warning level) but that
// does not stop the program. No scheme emits one today (an open file: is refused); callers keep
// showing it so that a future scheme can.
struct resolved {
  core::secret<std::string> value;
  std::optional<std::string> warning;
};

inline constexpr std::size_t max_file_size = 64 * 1024;       // file: and credential:
inline constexpr std::size_t max_command_output = 64 * 1024;  // cmd:

struct resolve_options {
  std::chrono::milliseconds command_timeout{std::chrono::seconds(10)};  // cmd: start to exit
};

// Reads the secret now. Errors are class needs_human and name the reference, never the value.
core::result<resolved> resolve(const reference& ref, const resolve_options& options = {});
// parse() then resolve().
core::result<resolved> resolve(std::string_view text, const resolve_options& options = {});

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
