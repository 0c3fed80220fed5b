// Captured messages of the sandbox in SQLite (WAL): one row per accepted message with its
// envelope, who authenticated, the parsed header fields (GMime) and the raw message, so that
// `oauthmail sandbox messages --state DIR` and GET /api/messages can show them, also after a
// restart. Writes are one transaction each (durable before the 250 is sent).
// Must not: store credentials; open files outside the state folder it was given.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "sandbox/smtp_policy.hpp"

namespace oauthmail::sandbox {

struct stored_message {
  std::int64_t id = 0;
  std::chrono::system_clock::time_point received_at{};
  captured_envelope envelope;
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, unfolded, RFC 2047 decoded
  std::string subject;                                       // decoded
  std::uint64_t size = 0;
  std::string raw;  // only filled by get() / list(with_raw)
};

class capture_store {
 public:
  // Opens or creates DIR/messages.sqlite3 (mode 0600).
  static core::result<capture_store> open(const std::string& path);
  ~capture_store();
  capture_store(capture_store&&) noexcept;
  capture_store& operator=(capture_store&&) noexcept;

  core::result<std::int64_t> add(const smtp::received_message& message, const captured_envelope& envelope,
                                 std::chrono::system_clock::time_point now);
  core::result<std::vector<stored_message>> list(std::size_t limit = 1000, bool with_raw = false) const;
  core::result<std::optional<stored_message>> get(std::int64_t id) const;
  core::result<void> clear();
  core::result<std::size_t> count() const;

 private:
  capture_store() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
};

boost::json::object to_json(const stored_message& m, bool with_raw);

}  // namespace oauthmail::sandbox
