#include "secrets/reference.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for posix_spawn

namespace oauthmail::secrets {

namespace {

constexpr std::string_view accepted_forms =
    "use env:NAME (an environment variable), file:PATH (a file readable only by its owner), cmd:COMMAND (the "
    "output of a command) or credential:NAME (a systemd credential)";

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
      case secrets_errc::insecure:
        return "secret file can be accessed by others";
      case secrets_errc::command_failed:
        return "secret command failed";
      case secrets_errc::timed_out:
        return "secret command timed out";
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

core::result<resolved> resolve_env(const std::string& name, const resolve_options& /*options*/) {
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

// ---- reading a bounded secret into one wiped buffer --------------------------------------------

bool valid_path(std::string_view path) { return !path.empty() && path.find('\0') == std::string_view::npos; }

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { reset(); }
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

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

// A buffer of `capacity` bytes in one heap allocation that is never grown (a reallocation would
// free a copy of the secret unwiped) and never in the inline small-string buffer (moving would copy
// it): at least 64 bytes.
std::string make_buffer(std::size_t capacity) {
  std::string bytes;
  bytes.reserve(std::max<std::size_t>(capacity, 64));
  bytes.resize(capacity);
  return bytes;
}

// Strips ONE trailing "\n" or "\r\n" (what editors, `echo` and `printf '%s\n'` add).
std::size_t strip_one_newline(const std::string& bytes, std::size_t used) {
  if (used > 0 && bytes[used - 1] == '\n') {
    --used;
    if (used > 0 && bytes[used - 1] == '\r') --used;
  }
  return used;
}

// Moves the first `used` bytes of `bytes` into a secret without copying, cleansing the rest.
resolved take_secret(std::string& bytes, std::size_t used) {
  core::secure_wipe(bytes.data() + used, bytes.size() - used);  // shrinking keeps the allocation
  bytes.resize(used);
  return resolved{core::secret<std::string>(std::move(bytes)), std::nullopt};  // steals the heap buffer
}

// How a file-backed scheme names its secret in messages and what it tells the user to do.
struct file_source {
  std::string label;        // "file:/etc/oauthmail/token", "credential:smtp-secret"
  std::string missing_fix;  // the advice when the file does not exist
  bool owner_only = true;   // refuse a file that group or others may access
};

std::string errno_text(int err) { return std::strerror(err); }  // NOLINT(concurrency-mt-unsafe): messages only

core::error file_error(const file_source& src, std::string_view what, int err) {
  if (err == ENOENT || err == ENOTDIR) {
    return make_error(secrets_errc::not_found, fmt::format("{} does not exist; {}", src.label, src.missing_fix));
  }
  if (err == EACCES || err == EPERM) {
    return make_error(secrets_errc::unreadable,
                      fmt::format("{} cannot be {}: permission denied; the user oauthmail runs as needs read "
                                  "access to it",
                                  src.label, what));
  }
  return make_error(secrets_errc::unreadable, fmt::format("{} cannot be {}: {}", src.label, what, errno_text(err)));
}

core::result<resolved> read_secret_file(const std::string& path, const file_source& src) {
  // O_NONBLOCK: opening a FIFO must not hang; it is refused below as not a regular file.
  const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));  // NOLINT(*-vararg)
  if (fd.get() < 0) return file_error(src, "opened", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return file_error(src, "examined", errno);
  if (!S_ISREG(st.st_mode)) {
    return make_error(
        secrets_errc::unreadable,
        fmt::format("{} is not a regular file; point the reference at the file that holds the secret", src.label));
  }
  if (src.owner_only && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    // Refused before a byte is read: a secret others can read is no longer a secret.
    return make_error(secrets_errc::insecure,
                      fmt::format("{0} can be accessed by users other than its owner (mode {1:04o}), so it is "
                                  "refused; run `chmod 600 {2}`",
                                  src.label, static_cast<unsigned>(st.st_mode & 07777), path));
  }
  const auto too_large = [&src](std::string_view size) {
    return make_error(secrets_errc::too_large,
                      fmt::format("{} is {} bytes; a secret file may hold at most {} bytes (is it the right file?)",
                                  src.label, size, max_file_size));
  };
  if (st.st_size < 0 || static_cast<std::uintmax_t>(st.st_size) > max_file_size) {
    return too_large(fmt::format("{}", static_cast<long long>(st.st_size)));
  }

  // The extra byte detects a file that grew past the limit after fstat(). The guard cleanses every
  // exit.
  const std::size_t capacity = std::min<std::size_t>(static_cast<std::size_t>(st.st_size), max_file_size) + 1;
  std::string bytes = make_buffer(capacity);
  const wipe_guard guard(bytes);
  std::size_t used = 0;
  while (used < capacity) {
    const ssize_t n = ::read(fd.get(), bytes.data() + used, capacity - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return file_error(src, "read", errno);
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used == capacity) {
    if (capacity > max_file_size) return too_large(fmt::format("more than {}", max_file_size));
    // The file grew after fstat() but may still be within the limit: simpler to ask again.
    return make_error(secrets_errc::unreadable, fmt::format("{} changed while it was read; try again", src.label));
  }
  used = strip_one_newline(bytes, used);
  if (used == 0) {
    return make_error(secrets_errc::empty, fmt::format("{} is empty; put the secret into it (one line)", src.label));
  }
  return take_secret(bytes, used);
}

// ---- file: --------------------------------------------------------------------------------------

core::result<resolved> resolve_file(const std::string& path, const resolve_options& /*options*/) {
  return read_secret_file(path, file_source{"file:" + path, "create it (mode 600) or change the reference", true});
}

// ---- credential: (systemd) ----------------------------------------------------------------------

bool valid_credential_name(std::string_view name) {
  // systemd accepts a credential name that is a valid file name (credential_name_valid()).
  return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

core::result<resolved> resolve_credential(const std::string& name, const resolve_options& /*options*/) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");  // NOLINT(concurrency-mt-unsafe): read at start-up
  if (dir == nullptr || *dir == '\0') {
    return make_error(secrets_errc::not_found,
                      fmt::format("credential:{0}: $CREDENTIALS_DIRECTORY is not set; credential: references work "
                                  "when oauthmail runs as a systemd service whose unit passes the secret with "
                                  "LoadCredential={0}:/path/to/secret (or SetCredential=, LoadCredentialEncrypted=); "
                                  "elsewhere use file: or env:",
                                  name));
  }
  const std::string directory(dir);
  // systemd makes the directory private to the service (and the files read-only), so the files'
  // group bits say nothing about who can read them: no mode check.
  return read_secret_file(
      directory + "/" + name,
      file_source{"credential:" + name,
                  fmt::format("systemd did not pass a credential named {0} (no file {0} in $CREDENTIALS_DIRECTORY "
                              "{1}); add LoadCredential={0}:/path/to/secret to the service unit",
                              name, directory),
                  false});
}

// ---- cmd: ---------------------------------------------------------------------------------------

bool valid_command(std::string_view command) {
  return command.find_first_not_of(" \t\r\n") != std::string_view::npos && command.find('\0') == std::string_view::npos;
}

std::string describe_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) {
    const auto s = d.count() / 1000;
    return fmt::format("{} second{}", s, s == 1 ? "" : "s");
  }
  return fmt::format("{} ms", d.count());
}

// posix_spawn's attribute and file-action objects, destroyed whichever way the scope ends.
class spawn_setup {
 public:
  spawn_setup() {
    ok_ = ::posix_spawn_file_actions_init(&actions_) == 0;
    ok_ = ::posix_spawnattr_init(&attr_) == 0 && ok_;
  }
  spawn_setup(const spawn_setup&) = delete;
  spawn_setup& operator=(const spawn_setup&) = delete;
  ~spawn_setup() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attr_);
  }
  bool ok() const noexcept { return ok_; }
  posix_spawn_file_actions_t* actions() noexcept { return &actions_; }
  posix_spawnattr_t* attr() noexcept { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_{};
  posix_spawnattr_t attr_{};
  bool ok_ = false;
};

// Waits for `pid` (retrying on EINTR); its wait status, or nullopt if it cannot be waited for.
std::optional<int> wait_blocking(pid_t pid) {
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, 0);
    if (r == pid) return status;
    if (r < 0 && errno == EINTR) continue;
    return std::nullopt;
  }
}

core::result<resolved> resolve_cmd(const std::string& command, const resolve_options& options) {
  const std::string label = "cmd:" + command;
  const auto failed = [&label](std::string_view what) {
    return make_error(secrets_errc::command_failed, fmt::format("{} {}", label, what));
  };
  const auto deadline = std::chrono::steady_clock::now() + options.command_timeout;

  std::array<int, 2> fds{-1, -1};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) return failed("could not be started: " + errno_text(errno));
  const fd_guard read_end(fds[0]);
  fd_guard write_end(fds[1]);

  // stdin: /dev/null (oauthmail may be reading a message on its own stdin); stdout: our pipe;
  // stderr: inherited, so the command's own messages reach the user. Both pipe ends are
  // close-on-exec; dup2 onto 1 clears that flag for the copy. The child leads a new process group,
  // so that a time-out stops whatever it started; signals we ignore are reset for it.
  spawn_setup setup;
  if (!setup.ok()) return failed("could not be started: out of memory");
  sigset_t defaults;
  sigset_t empty_mask;
  ::sigemptyset(&defaults);
  ::sigemptyset(&empty_mask);
  for (const int sig : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD}) ::sigaddset(&defaults, sig);
  if (::posix_spawn_file_actions_addopen(setup.actions(), STDIN_FILENO, "/dev/null", O_RDONLY, 0) != 0 ||
      ::posix_spawn_file_actions_adddup2(setup.actions(), write_end.get(), STDOUT_FILENO) != 0 ||
      ::posix_spawnattr_setflags(setup.attr(),
                                 POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) != 0 ||
      ::posix_spawnattr_setpgroup(setup.attr(), 0) != 0 ||
      ::posix_spawnattr_setsigdefault(setup.attr(), &defaults) != 0 ||
      ::posix_spawnattr_setsigmask(setup.attr(), &empty_mask) != 0) {
    return failed("could not be started: posix_spawn set-up failed");
  }
  std::string shell = "/bin/sh";
  std::string dash_c = "-c";
  std::string script = command;
  std::array<char*, 4> argv{shell.data(), dash_c.data(), script.data(), nullptr};
  pid_t pid = -1;
  const int spawn_rc = ::posix_spawn(&pid, shell.c_str(), setup.actions(), setup.attr(), argv.data(), environ);
  if (spawn_rc != 0) return failed("could not be started: /bin/sh: " + errno_text(spawn_rc));
  write_end.reset();  // EOF on our side once the command (and its children) close stdout

  const auto remaining = [&deadline] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  };
  const auto stop_group = [pid] {
    ::kill(-pid, SIGKILL);  // the child leads its own group: this reaches only what it started
    return wait_blocking(pid);
  };

  // The extra byte detects output above the limit.
  constexpr std::size_t capacity = max_command_output + 1;
  std::string bytes = make_buffer(capacity);
  const wipe_guard guard(bytes);
  std::size_t used = 0;
  bool timed_out = false;
  std::optional<core::error> read_failure;
  for (;;) {
    const auto left = remaining();
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{read_end.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count() + 1, 60'000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      read_failure = failed("could not be read: " + errno_text(errno));
      break;
    }
    if (n == 0) continue;
    const ssize_t r = ::read(read_end.get(), bytes.data() + used, capacity - used);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      read_failure = failed("could not be read: " + errno_text(errno));
      break;
    }
    if (r == 0) break;  // EOF
    used += static_cast<std::size_t>(r);
    if (used == capacity) {
      read_failure = make_error(secrets_errc::too_large,
                                fmt::format("{} printed more than {} bytes; a secret command must print only the "
                                            "secret",
                                            label, max_command_output));
      break;
    }
  }

  std::optional<int> status;
  if (timed_out || read_failure) {
    status = stop_group();
  } else {
    // Output is complete; give the command the rest of its time to exit.
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
      int st = 0;
      const pid_t r = ::waitpid(pid, &st, WNOHANG);
      if (r == pid) {
        status = st;
        break;
      }
      if (r < 0 && errno != EINTR) break;  // cannot be waited for (SIGCHLD ignored by the embedder)
      if (remaining().count() <= 0) {
        timed_out = true;
        status = stop_group();
        break;
      }
      std::this_thread::sleep_for(std::min(pause, remaining()));
      pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
  }

  if (timed_out) {
    return make_error(secrets_errc::timed_out,
                      fmt::format("{} did not finish within {} and was stopped; check that it does not wait for "
                                  "input (its stdin is /dev/null) or for a slow service",
                                  label, describe_duration(options.command_timeout)));
  }
  if (read_failure) return std::move(*read_failure);
  if (!status) return failed("was started, but its exit status could not be learnt (is SIGCHLD ignored?)");
  if (WIFSIGNALED(*status)) {
    return failed(fmt::format("was killed by signal {} ({})", WTERMSIG(*status),
                              ::strsignal(WTERMSIG(*status))));  // NOLINT(concurrency-mt-unsafe)
  }
  if (WIFEXITED(*status) && WEXITSTATUS(*status) != 0) {
    const int code = WEXITSTATUS(*status);
    const std::string_view hint = code == 127   ? ": the shell did not find the command"
                                  : code == 126 ? ": the command is not executable"
                                                : "";
    return failed(
        fmt::format("exited with status {}{}; run the command in a shell to see why (its own error "
                    "messages go to stderr)",
                    code, hint));
  }
  used = strip_one_newline(bytes, used);
  if (used == 0) {
    return make_error(secrets_errc::empty,
                      fmt::format("{} printed nothing; it must print the secret on its standard output", label));
  }
  return take_secret(bytes, used);
}

// ---- the scheme table ---------------------------------------------------------------------------

struct scheme_entry {
  scheme kind;
  std::string_view name;
  bool (*valid_target)(std::string_view);
  std::string_view target_hint;  // what the part after "name:" must be, for messages
  core::result<resolved> (*resolve)(const std::string& target, const resolve_options& options);
};

constexpr std::array<scheme_entry, 4> scheme_table = {{
    {scheme::env, "env", valid_env_name,
     "env: needs the name of an environment variable: letters, digits and '_', not starting with a digit "
     "(env:SMTP_TOKEN)",
     resolve_env},
    {scheme::file, "file", valid_path, "file: needs a path (file:/etc/oauthmail/token)", resolve_file},
    {scheme::cmd, "cmd", valid_command, "cmd: needs a shell command that prints the secret (cmd:pass show smtp)",
     resolve_cmd},
    {scheme::credential, "credential", valid_credential_name,
     "credential: needs the name of a systemd credential, a file name without '/' (credential:smtp-secret)",
     resolve_credential},
}};

// Schemes that are planned: named in the error so that the user knows they are not a typo.
constexpr std::array<std::string_view, 1> planned_schemes = {"vault"};

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

core::result<resolved> resolve(const reference& ref, const resolve_options& options) {
  return entry_of(ref.kind()).resolve(ref.target(), options);
}

core::result<resolved> resolve(std::string_view text, const resolve_options& options) {
  auto ref = reference::parse(text);
  if (!ref) return std::move(ref).error();
  return resolve(*ref, options);
}

}  // namespace oauthmail::secrets
