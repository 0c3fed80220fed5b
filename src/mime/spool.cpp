#include "mime/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "mime/errors.hpp"

namespace oauthmail::mime {

namespace {

core::error io_error(const std::string& what, int err) {
  return mime_error(errc::io_failure, what + ": " + std::strerror(err) + ".");
}

std::string temp_directory() {
  const char* t = std::getenv("TMPDIR");
  if (t && *t == '/') return t;
  return "/tmp";
}

}  // namespace

void content_scanner::feed(std::string_view bytes) noexcept {
  size_ += bytes.size();
  for (const char c : bytes) {
    if (static_cast<unsigned char>(c) >= 0x80) eight_bit_ = true;
    if (c == '\n' || c == '\r') {
      longest_ = std::max(longest_, line_);
      line_ = 0;
    } else {
      ++line_;
    }
  }
}

core::result<std::shared_ptr<spool>> spool::create() {
  const std::string dir = temp_directory();
  // O_TMPFILE: a file without a name from the start. Some file systems lack it: then mkstemp and
  // unlink at once.
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) {
    std::string name = dir + "/oauthmail-spool-XXXXXX";
    fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0)
      return io_error("Cannot create a temporary file in " + dir + " (set TMPDIR to a writable directory)", errno);
    ::unlink(name.c_str());
    ::fchmod(fd, S_IRUSR | S_IWUSR);
  }
  return std::shared_ptr<spool>(new spool(fd));
}

spool::~spool() {
  if (fd_ >= 0) ::close(fd_);
}

core::result<void> spool::append(std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("Writing the temporary copy of the message failed", errno);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  stats_.feed(bytes);
  return {};
}

core::result<void> spool::rescan() {
  stats_ = content_scanner();
  std::array<char, std::size_t{64} * 1024> buffer{};
  for (std::uint64_t offset = 0;;) {
    auto n = read_at(offset, buffer.data(), buffer.size());
    if (!n) return n.error();
    if (*n == 0) break;
    stats_.feed(std::string_view(buffer.data(), *n));
    offset += *n;
  }
  // Later appends go to the end.
  if (::lseek(fd_, 0, SEEK_END) < 0) return io_error("Seeking in the temporary copy of the message failed", errno);
  return {};
}

core::result<std::size_t> spool::read_at(std::uint64_t offset, char* out, std::size_t capacity) const {
  for (;;) {
    const ssize_t n = ::pread(fd_, out, capacity, static_cast<off_t>(offset));
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return io_error("Reading the temporary copy of the message failed", errno);
  }
}

core::result<std::string> spool::read_all() const {
  std::string out;
  out.resize(stats_.size());
  std::uint64_t done = 0;
  while (done < out.size()) {
    auto n = read_at(done, out.data() + done, out.size() - done);
    if (!n) return n.error();
    if (*n == 0) break;
    done += *n;
  }
  out.resize(done);
  return out;
}

spooled_body::spooled_body(std::string prefix, std::shared_ptr<const spool> content)
    : prefix_(std::move(prefix)), content_(std::move(content)) {
  prefix_stats_.feed(prefix_);
}

core::result<std::size_t> spooled_body::read(char* out, std::size_t capacity) {
  if (offset_ < prefix_.size()) {
    const std::size_t n = std::min<std::size_t>(capacity, prefix_.size() - offset_);
    std::memcpy(out, prefix_.data() + offset_, n);
    offset_ += n;
    return n;
  }
  if (!content_) return std::size_t{0};
  auto n = content_->read_at(offset_ - prefix_.size(), out, capacity);
  if (n) offset_ += *n;
  return n;
}

std::optional<std::uint64_t> spooled_body::size_hint() const {
  return prefix_.size() + (content_ ? content_->stats().size() : 0);
}

std::optional<bool> spooled_body::eight_bit() const {
  return prefix_stats_.eight_bit() || (content_ && content_->stats().eight_bit());
}

std::optional<std::size_t> spooled_body::longest_line() const {
  // The prefix is a header block ending with a line end in every use, so no line spans the two.
  const std::size_t content_longest = content_ ? content_->stats().longest_line() : 0;
  return std::max(prefix_stats_.longest_line(), content_longest);
}

}  // namespace oauthmail::mime
