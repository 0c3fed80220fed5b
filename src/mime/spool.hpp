// A message's bytes in an unlinked temporary file ($TMPDIR, else /tmp; mode 0600; removed from the
// directory as soon as it is created, so nothing is left behind even after a crash), and a
// smtp::body_source that streams an in-memory prefix (e.g. rewritten headers) followed by the file.
// This is how `send` and `sendmail` keep a 50 MB message out of memory: the content is read once
// into the spool, its size, 8-bit octets and longest line are counted on the way (so the session
// can declare SIZE= and BODY=8BITMIME and refuse an over-long line before MAIL FROM), and each
// attempt (a renewed token means a second connection) reads it again from the start.
// Must not: leave a file behind, or make the file readable by anyone but its owner.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "smtp/client_session.hpp"

namespace oauthmail::mime {

// Size, 8-bit octets and the longest line (CR LF, bare LF and bare CR each end a line, as the SMTP
// data encoder treats them), counted incrementally.
class content_scanner {
 public:
  void feed(std::string_view bytes) noexcept;
  std::uint64_t size() const noexcept { return size_; }
  bool eight_bit() const noexcept { return eight_bit_; }
  std::size_t longest_line() const noexcept { return longest_ > line_ ? longest_ : line_; }

 private:
  std::uint64_t size_ = 0;
  bool eight_bit_ = false;
  std::size_t line_ = 0;
  std::size_t longest_ = 0;
};

class spool {
 public:
  // An empty spool file in $TMPDIR (else /tmp).
  static core::result<std::shared_ptr<spool>> create();
  ~spool();
  spool(const spool&) = delete;
  spool& operator=(const spool&) = delete;

  core::result<void> append(std::string_view bytes);
  // After bytes were written through fd() by someone else (GMime): counts them again from the file.
  core::result<void> rescan();
  // Reads up to `capacity` bytes at `offset` (0 at the end).
  core::result<std::size_t> read_at(std::uint64_t offset, char* out, std::size_t capacity) const;
  // The whole content (for --dry-run and tests; bounded by the caller).
  core::result<std::string> read_all() const;

  int fd() const noexcept { return fd_; }
  const content_scanner& stats() const noexcept { return stats_; }

 private:
  explicit spool(int fd) : fd_(fd) {}
  int fd_ = -1;
  content_scanner stats_;
};

// `prefix` then the whole spool, as one message.
class spooled_body final : public smtp::body_source {
 public:
  spooled_body(std::string prefix, std::shared_ptr<const spool> content);
  core::result<std::size_t> read(char* out, std::size_t capacity) override;
  std::optional<std::uint64_t> size_hint() const override;
  std::optional<bool> eight_bit() const override;
  std::optional<std::size_t> longest_line() const override;

 private:
  std::string prefix_;
  content_scanner prefix_stats_;
  std::shared_ptr<const spool> content_;
  std::uint64_t offset_ = 0;  // into prefix_, then into the spool
};

}  // namespace oauthmail::mime
