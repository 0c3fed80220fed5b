#include "secrets/reference.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace oauthmail::secrets {

namespace {

constexpr std::string_view accepted_forms =
    "use env:NAME (an environment variable) or file:PATH (a file readable only by the service user)";

core::error make_error(secrets_errc code, std::string message) {
  return core::error(make_error_code(code), std::move(message), core::failure_class::needs_human);
}

class secrets_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.secrets"; }
  std::string message(int ev) const override {
    switch (static_cast<secrets_errc>(ev)) {
      case secrets_errc::malformed_reference:
        return "malformed secret reference";
      case secrets_errc::not_found:
        return "secret not found";
      case secrets_errc::empty:
        return "secret is empty";
      case secrets_errc::too_large:
        return "secret file too large";
      case secrets_errc::unreadable:
        return "secret cannot be read";
    }
    return "unknown secrets error";
  }
};

// ---- env: ---------------------------------------------------------------------------------------

bool valid_env_name(std::string_view name) {
  if (name.empty()) return false;
  const auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name.front())) return false;
  for (const char c : name) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

core::result<resolved> resolve_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read at start-up
  if (value == nullptr) {
    return make_error(secrets_errc::not_found,
                      fmt::format("the environment variable {0} is not set (secret reference env:{0}); set {0}, "
                                  "or change the reference",
                                  name));
  }
  if (*value == '\0') {
    return make_error(secrets_errc::empty,
                      fmt::format("the environment variable {0} is empty (secret reference env:{0}); set {0} to "
                                  "the secret",
                                  name));
  }
  return resolved{core::secret<std::string>(std::string(value)), std::nullopt};
}

// ---- file: --------------------------------------------------------------------------------------

bool valid_path(std::string_view path) { return !path.empty() && path.find('\0') == std::string_view::npos; }

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// Cleanses a buffer's bytes when the scope ends, whichever way (after a move it is empty).
class wipe_guard {
 public:
  explicit wipe_guard(std::string& s) : s_(s) {}
  wipe_guard(const wipe_guard&) = delete;
  wipe_guard& operator=(const wipe_guard&) = delete;
  ~wipe_guard() {
    if (!s_.empty()) core::secure_wipe(s_.data(), s_.size());
  }

 private:
  std::string& s_;
};

core::error file_error(const std::string& path, std::string_view what, int err) {
  if (err == ENOENT || err == ENOTDIR) {
    return make_error(secrets_errc::not_found,
                      fmt::format("file:{} does not exist; create it (mode 600) or change the reference", path));
  }
  if (err == EACCES || err == EPERM) {
    return make_error(secrets_errc::unreadable,
                      fmt::format("file:{} cannot be {}: permission denied; the user oauthmail runs as needs read "
                                  "access to it",
                                  path, what));
  }
  return make_error(secrets_errc::unreadable,
                    fmt::format("file:{} cannot be {}: {}", path, what, std::strerror(err)));  // NOLINT
}

core::result<resolved> resolve_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not hang; it is refused below as not a regular file.
  const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));  // NOLINT(*-vararg)
  if (fd.get() < 0) return file_error(path, "opened", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return file_error(path, "examined", errno);
  if (!S_ISREG(st.st_mode)) {
    return make_error(secrets_errc::unreadable,
                      fmt::format("file:{} is not a regular file; point the reference at the file that holds the "
                                  "secret",
                                  path));
  }
  const auto too_large = [&path](std::string_view size) {
    return make_error(secrets_errc::too_large,
                      fmt::format("file:{} is {} bytes; a secret file may hold at most {} bytes (is it the right "
                                  "file?)",
                                  path, size, max_file_size));
  };
  if (st.st_size < 0 || static_cast<std::uintmax_t>(st.st_size) > max_file_size) {
    return too_large(fmt::format("{}", static_cast<long long>(st.st_size)));
  }

  // One heap allocation, never grown (a reallocation would free a copy of the secret unwiped), and
  // never in the inline small-string buffer (moving would copy it): at least 64 bytes. The extra
  // byte detects a file that grew past the limit after fstat(). The guard cleanses every exit.
  const std::size_t capacity = std::min<std::size_t>(static_cast<std::size_t>(st.st_size), max_file_size) + 1;
  std::string bytes;
  bytes.reserve(std::max<std::size_t>(capacity, 64));
  bytes.resize(capacity);
  const wipe_guard guard(bytes);
  std::size_t used = 0;
  while (used < capacity) {
    const ssize_t n = ::read(fd.get(), bytes.data() + used, capacity - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return file_error(path, "read", errno);
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used == capacity) {
    if (capacity > max_file_size) return too_large(fmt::format("more than {}", max_file_size));
    // The file grew after fstat() but may still be within the limit: simpler to ask again.
    return make_error(secrets_errc::unreadable, fmt::format("file:{} changed while it was read; try again", path));
  }
  // Strip ONE trailing "\n" or "\r\n" (what editors and `echo` add).
  if (used > 0 && bytes[used - 1] == '\n') {
    --used;
    if (used > 0 && bytes[used - 1] == '\r') --used;
  }
  if (used == 0) {
    return make_error(secrets_errc::empty, fmt::format("file:{} is empty; put the secret into it (one line)", path));
  }
  // Shrinking keeps the allocation; cleanse the cut-off tail (newline, unused bytes) now.
  core::secure_wipe(bytes.data() + used, bytes.size() - used);
  bytes.resize(used);
  core::secret<std::string> buffer(std::move(bytes));  // steals the heap buffer: no copy

  resolved out{std::move(buffer), std::nullopt};
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    out.warning =
        fmt::format("file:{0} can be accessed by users other than its owner (mode {1:04o}); run `chmod 600 {0}`", path,
                    static_cast<unsigned>(st.st_mode & 07777));
  }
  return out;
}

// ---- the scheme table ---------------------------------------------------------------------------

struct scheme_entry {
  scheme kind;
  std::string_view name;
  bool (*valid_target)(std::string_view);
  std::string_view target_hint;  // what the part after "name:" must be, for messages
  core::result<resolved> (*resolve)(const std::string& target);
};

constexpr std::array<scheme_entry, 2> scheme_table = {{
    {scheme::env, "env", valid_env_name,
     "env: needs the name of an environment variable: letters, digits and '_', not starting with a digit "
     "(env:SMTP_TOKEN)",
     resolve_env},
    {scheme::file, "file", valid_path, "file: needs a path (file:/etc/oauthmail/token)", resolve_file},
}};

// Schemes that are planned: named in the error so that the user knows they are not a typo.
constexpr std::array<std::string_view, 3> planned_schemes = {"cmd", "credential", "vault"};

const scheme_entry& entry_of(scheme s) {
  for (const auto& e : scheme_table) {
    if (e.kind == s) return e;
  }
  return scheme_table.front();  // unreachable: every scheme has an entry
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

const std::error_category& secrets_category() noexcept {
  static const secrets_category_impl instance;
  return instance;
}

std::error_code make_error_code(secrets_errc e) noexcept { return {static_cast<int>(e), secrets_category()}; }

std::string_view to_string(scheme s) noexcept { return entry_of(s).name; }

core::result<reference> reference::parse(std::string_view text) {
  // Nothing of `text` goes into an error unless it is a valid reference: it may be the secret.
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return make_error(secrets_errc::malformed_reference,
                      fmt::format("this is not a secret reference; {}. A secret written directly is not accepted, so "
                                  "that it stays out of configuration files",
                                  accepted_forms));
  }
  const std::string_view name = text.substr(0, colon);
  const std::string_view target = text.substr(colon + 1);
  for (const auto& e : scheme_table) {
    if (!iequals(name, e.name)) continue;
    if (!e.valid_target(target)) {
      return make_error(secrets_errc::malformed_reference,
                        fmt::format("malformed secret reference: {}", e.target_hint));
    }
    return reference(e.kind, std::string(target));
  }
  for (const auto planned : planned_schemes) {
    if (iequals(name, planned)) {
      return make_error(secrets_errc::malformed_reference,
                        fmt::format("{}: secret references are not supported yet; {}", planned, accepted_forms));
    }
  }
  return make_error(secrets_errc::malformed_reference,
                    fmt::format("this is not a secret reference (unknown scheme before ':'); {}", accepted_forms));
}

std::string reference::to_string() const { return fmt::format("{}:{}", secrets::to_string(scheme_), target_); }

core::result<resolved> resolve(const reference& ref) { return entry_of(ref.kind()).resolve(ref.target()); }

core::result<resolved> resolve(std::string_view text) {
  auto ref = reference::parse(text);
  if (!ref) return std::move(ref).error();
  return resolve(*ref);
}

}  // namespace oauthmail::secrets
