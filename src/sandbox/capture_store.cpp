#include "sandbox/capture_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <system_error>

#include "core/base64.hpp"
#include "sandbox/formats.hpp"
#include "sandbox/mime_fields.hpp"

namespace oauthmail::sandbox {

namespace {

constexpr const char* file_name = "messages.sqlite3";
constexpr int schema_version = 1;

constexpr const char* schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  received_at_ms INTEGER NOT NULL,
  profile TEXT NOT NULL,
  mailbox TEXT NOT NULL,
  mechanism TEXT NOT NULL,
  client_id TEXT NOT NULL,
  tls INTEGER NOT NULL,
  mail_from TEXT NOT NULL,
  rcpt_to TEXT NOT NULL,   -- one address per line (SMTP addresses hold no CR or LF)
  headers TEXT NOT NULL,   -- JSON [[name, value], ...], values unfolded and decoded (UTF-8)
  subject TEXT NOT NULL,
  size INTEGER NOT NULL,
  raw BLOB NOT NULL
);
)sql";

constexpr const char* columns =
    "id, received_at_ms, profile, mailbox, mechanism, client_id, tls, mail_from, rcpt_to, "
    "headers, subject, size";

core::error store_error(const std::string& path, std::string what) {
  return core::error(make_error_code(core::errc::io_failure), "capture store " + path + ": " + std::move(what),
                     core::failure_class::transient);
}

core::error sqlite_error(const std::string& path, sqlite3* db, std::string_view doing) {
  std::string msg = std::string(doing) + ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  return store_error(path, std::move(msg));
}

struct statement {
  sqlite3_stmt* s = nullptr;
  statement() = default;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(s); }
};

// Resets a statement (and its bindings) at scope exit, so that a read transaction never stays open.
struct reset_guard {
  sqlite3_stmt* s;
  ~reset_guard() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

std::string column_blob(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  const int n = sqlite3_column_bytes(s, i);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += '\n';
    out += s;
  }
  return out;
}

std::vector<std::string> split_lines(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::size_t start = 0;
  while (true) {
    const auto nl = s.find('\n', start);
    out.emplace_back(s.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

std::string headers_to_json(const std::vector<std::pair<std::string, std::string>>& headers) {
  boost::json::array a;
  for (const auto& [name, value] : headers) a.push_back(boost::json::array{name, value});
  return boost::json::serialize(a);
}

std::vector<std::pair<std::string, std::string>> headers_from_json(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  boost::system::error_code ec;
  const auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& item : v.as_array()) {
    if (!item.is_array() || item.as_array().size() != 2) continue;
    const auto& pair = item.as_array();
    if (!pair[0].is_string() || !pair[1].is_string()) continue;
    out.emplace_back(std::string(pair[0].as_string()), std::string(pair[1].as_string()));
  }
  return out;
}

// Creates the state folder (0700) when missing and the database file with mode 0600 before
// SQLite opens it (SQLite then gives its -wal and -shm files the same mode).
core::result<std::string> prepare_file(const std::string& dir) {
  std::error_code ec;
  if (dir.empty()) return store_error(dir, "no state folder given");
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return store_error(dir, "cannot create the folder: " + ec.message());
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  } else if (!std::filesystem::is_directory(dir, ec)) {
    return store_error(dir, "is not a folder");
  }
  const std::string path = (std::filesystem::path(dir) / file_name).string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return store_error(path, std::string("cannot open: ") + std::strerror(errno));
  const int rc = ::fchmod(fd, 0600);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return store_error(path, std::string("cannot set mode 0600: ") + std::strerror(saved));
  return path;
}

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

struct capture_store::impl {
  // Declared before the statements, so it is destroyed after them (sqlite3_close refuses while
  // statements exist).
  struct connection {
    sqlite3* p = nullptr;
    connection() = default;
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection() {
      if (p != nullptr) sqlite3_close(p);
    }
  } handle;
  sqlite3*& db = handle.p;
  std::string path;
  mutable std::mutex mutex;
  statement insert, list_meta, list_raw, get, count, clear, begin, commit, rollback;

  core::result<void> exec(const char* sql, std::string_view doing) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = std::string(doing) + ": " + (err != nullptr ? err : "failed");
      sqlite3_free(err);
      return store_error(path, std::move(msg));
    }
    return {};
  }

  core::result<void> prepare(statement& st, const std::string& sql) {
    if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st.s, nullptr) != SQLITE_OK) {
      return sqlite_error(path, db, "preparing a statement");
    }
    return {};
  }

  core::result<void> step_done(statement& st, std::string_view doing) {
    reset_guard reset{st.s};
    if (sqlite3_step(st.s) != SQLITE_DONE) return sqlite_error(path, db, doing);
    return {};
  }

  stored_message read_row(sqlite3_stmt* s, bool with_raw) const {
    stored_message m;
    m.id = sqlite3_column_int64(s, 0);
    m.received_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(sqlite3_column_int64(s, 1)));
    m.envelope.profile = column_text(s, 2);
    m.envelope.mailbox = column_text(s, 3);
    m.envelope.mechanism = column_text(s, 4);
    m.envelope.client_id = column_text(s, 5);
    m.envelope.tls = sqlite3_column_int(s, 6) != 0;
    m.mail_from = column_text(s, 7);
    m.rcpt_to = split_lines(column_text(s, 8));
    m.headers = headers_from_json(column_text(s, 9));
    m.subject = column_text(s, 10);
    m.size = static_cast<std::uint64_t>(sqlite3_column_int64(s, 11));
    if (with_raw) m.raw = column_blob(s, 12);
    return m;
  }
};

core::result<capture_store> capture_store::open(const std::string& path) {
  auto file = prepare_file(path);
  if (!file) return file.error();
  auto state = std::make_unique<impl>();
  state->path = *file;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  if (sqlite3_open_v2(state->path.c_str(), &state->db, flags, nullptr) != SQLITE_OK) {
    return sqlite_error(state->path, state->db, "cannot open");
  }
  sqlite3_extended_result_codes(state->db, 1);
  sqlite3_busy_timeout(state->db, 5000);
  // WAL: readers (the messages command, a second process) never block the writer. synchronous
  // FULL: each commit is on disk before add() returns, i.e. before the client sees 250.
  if (auto r = state->exec("PRAGMA journal_mode=WAL", "enabling WAL"); !r) return r.error();
  if (auto r = state->exec("PRAGMA synchronous=FULL", "setting synchronous"); !r) return r.error();
  if (auto r = state->exec(schema_sql, "creating the schema"); !r) return r.error();
  {
    statement version;
    if (auto r = state->prepare(version, "PRAGMA user_version"); !r) return r.error();
    if (sqlite3_step(version.s) != SQLITE_ROW) return sqlite_error(state->path, state->db, "reading the version");
    const int v = sqlite3_column_int(version.s, 0);
    if (v > schema_version) {
      return store_error(state->path, "written by a newer oauthmail (schema " + std::to_string(v) + ")");
    }
  }
  if (auto r = state->exec("PRAGMA user_version=1", "setting the version"); !r) return r.error();

  const std::string cols = columns;
  const std::pair<statement*, std::string> statements[] = {
      {&state->insert,
       "INSERT INTO messages (received_at_ms, profile, mailbox, mechanism, client_id, tls, mail_from, rcpt_to, "
       "headers, subject, size, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"},
      {&state->list_meta, "SELECT " + cols + " FROM messages ORDER BY id DESC LIMIT ?1"},
      {&state->list_raw, "SELECT " + cols + ", raw FROM messages ORDER BY id DESC LIMIT ?1"},
      {&state->get, "SELECT " + cols + ", raw FROM messages WHERE id = ?1"},
      {&state->count, "SELECT count(*) FROM messages"},
      {&state->clear, "DELETE FROM messages"},
      {&state->begin, "BEGIN IMMEDIATE"},
      {&state->commit, "COMMIT"},
      {&state->rollback, "ROLLBACK"},
  };
  for (const auto& [st, sql] : statements) {
    if (auto r = state->prepare(*st, sql); !r) return r.error();
  }
  capture_store store;
  store.impl_ = std::move(state);
  return store;
}

capture_store::~capture_store() = default;
capture_store::capture_store(capture_store&&) noexcept = default;
capture_store& capture_store::operator=(capture_store&&) noexcept = default;

core::result<std::int64_t> capture_store::add(const smtp::received_message& message, const captured_envelope& envelope,
                                              std::chrono::system_clock::time_point now) {
  if (!impl_) return store_error("", "not open");
  const message_fields fields = parse_message_fields(message.content);
  const std::string rcpt = join_lines(message.rcpt_to);
  const std::string headers = headers_to_json(fields.headers);

  std::lock_guard lock(impl_->mutex);
  if (auto r = impl_->step_done(impl_->begin, "starting a transaction"); !r) return r.error();
  sqlite3_stmt* s = impl_->insert.s;
  std::int64_t id = 0;
  {
    reset_guard reset{s};
    sqlite3_bind_int64(s, 1, to_ms(now));
    sqlite3_bind_text(s, 2, envelope.profile.data(), static_cast<int>(envelope.profile.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 3, envelope.mailbox.data(), static_cast<int>(envelope.mailbox.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 4, envelope.mechanism.data(), static_cast<int>(envelope.mechanism.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 5, envelope.client_id.data(), static_cast<int>(envelope.client_id.size()), SQLITE_STATIC);
    sqlite3_bind_int(s, 6, envelope.tls ? 1 : 0);
    sqlite3_bind_text(s, 7, message.mail_from.data(), static_cast<int>(message.mail_from.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 8, rcpt.data(), static_cast<int>(rcpt.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 9, headers.data(), static_cast<int>(headers.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 10, fields.subject.data(), static_cast<int>(fields.subject.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, static_cast<sqlite3_int64>(message.content.size()));
    sqlite3_bind_blob64(s, 12, message.content.data(), message.content.size(), SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) {
      auto e = sqlite_error(impl_->path, impl_->db, "storing a message");
      (void)impl_->step_done(impl_->rollback, "rolling back");
      return e;
    }
    id = sqlite3_last_insert_rowid(impl_->db);
  }
  if (auto r = impl_->step_done(impl_->commit, "committing"); !r) {
    (void)impl_->step_done(impl_->rollback, "rolling back");
    return r.error();
  }
  return id;
}

core::result<std::vector<stored_message>> capture_store::list(std::size_t limit, bool with_raw) const {
  if (!impl_) return store_error("", "not open");
  std::lock_guard lock(impl_->mutex);
  sqlite3_stmt* s = with_raw ? impl_->list_raw.s : impl_->list_meta.s;
  reset_guard reset{s};
  const auto bounded = limit > static_cast<std::size_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(limit);
  sqlite3_bind_int64(s, 1, bounded);
  std::vector<stored_message> out;
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(impl_->read_row(s, with_raw));
  if (rc != SQLITE_DONE) return sqlite_error(impl_->path, impl_->db, "listing messages");
  return out;
}

core::result<std::optional<stored_message>> capture_store::get(std::int64_t id) const {
  if (!impl_) return store_error("", "not open");
  std::lock_guard lock(impl_->mutex);
  sqlite3_stmt* s = impl_->get.s;
  reset_guard reset{s};
  sqlite3_bind_int64(s, 1, id);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<stored_message>();
  if (rc != SQLITE_ROW) return sqlite_error(impl_->path, impl_->db, "reading a message");
  return std::optional<stored_message>(impl_->read_row(s, true));
}

core::result<void> capture_store::clear() {
  if (!impl_) return store_error("", "not open");
  std::lock_guard lock(impl_->mutex);
  return impl_->step_done(impl_->clear, "deleting messages");
}

core::result<std::size_t> capture_store::count() const {
  if (!impl_) return store_error("", "not open");
  std::lock_guard lock(impl_->mutex);
  sqlite3_stmt* s = impl_->count.s;
  reset_guard reset{s};
  if (sqlite3_step(s) != SQLITE_ROW) return sqlite_error(impl_->path, impl_->db, "counting messages");
  return static_cast<std::size_t>(sqlite3_column_int64(s, 0));
}

boost::json::object to_json(const stored_message& m, bool with_raw) {
  boost::json::array rcpt;
  for (const auto& r : m.rcpt_to) rcpt.emplace_back(valid_utf8(r));
  boost::json::object envelope{
      {"mail_from", valid_utf8(m.mail_from)},
      {"rcpt_to", std::move(rcpt)},
      {"profile", valid_utf8(m.envelope.profile)},
      {"mailbox", valid_utf8(m.envelope.mailbox)},
      {"mechanism", valid_utf8(m.envelope.mechanism)},
      {"client_id", valid_utf8(m.envelope.client_id)},
      {"tls", m.envelope.tls},
  };
  boost::json::array headers;
  for (const auto& [name, value] : m.headers) {
    headers.push_back(boost::json::object{{"name", valid_utf8(name)}, {"value", valid_utf8(value)}});
  }
  boost::json::object out{
      {"id", m.id},
      {"received_at", format_rfc3339_ms(m.received_at)},
      {"envelope", std::move(envelope)},
      {"subject", valid_utf8(m.subject)},
      {"headers", std::move(headers)},
      {"size", m.size},
  };
  if (with_raw) {
    // JSON strings are UTF-8: an 8-bit message that is not goes out as base64 instead.
    if (is_valid_utf8(m.raw)) {
      out["raw"] = m.raw;
    } else {
      out["raw_base64"] = core::base64_encode(m.raw);
    }
  }
  return out;
}

}  // namespace oauthmail::sandbox
