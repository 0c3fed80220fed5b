// core::secret<T>: a value that must never be printed: tokens, passwords, client secrets.
// It formats as "***" through operator<< and fmt, so a secret that slips into a log line or an
// error message shows no content. The value is reached only through expose(), which makes every
// use greppable. The bytes of a std::string secret are wiped (OPENSSL_cleanse) on destruction, before
// assignment, and in a moved-from secret's inline buffer.
// Must not: convert implicitly to T, compare in variable time, or appear in any output.
#pragma once

#include <fmt/format.h>

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

namespace oauthmail::core {

void secure_wipe(void* data, std::size_t size) noexcept;

template <class T = std::string>
class secret {
 public:
  secret() = default;
  explicit secret(T value) : value_(std::move(value)) { scrub_moved_from(value, value_); }
  secret(const secret&) = default;
  secret(secret&& other) noexcept : value_(std::move(other.value_)) { scrub_moved_from(other.value_, value_); }
  secret& operator=(const secret& other) {
    if (this != &other) {
      wipe();  // the old bytes would otherwise stay behind a shorter new value (or be freed unwiped)
      value_ = other.value_;
    }
    return *this;
  }
  secret& operator=(secret&& other) noexcept {
    if (this != &other) {
      wipe();
      value_ = std::move(other.value_);
      scrub_moved_from(other.value_, value_);
    }
    return *this;
  }
  ~secret() { wipe(); }

  // The only way to the value. Call it at the last moment, where the protocol needs the bytes.
  const T& expose() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }

  friend std::ostream& operator<<(std::ostream& os, const secret&) { return os << "***"; }

 private:
  void wipe() noexcept {
    if constexpr (std::is_same_v<T, std::string>) {
      if (!value_.empty()) secure_wipe(value_.data(), value_.size());
    }
  }
  // Moving a short std::string copies its characters out of the inline (small-string) buffer and
  // leaves them there: overwrite them. Growing the empty moved-from string within its capacity
  // neither allocates nor throws, and turns the old bytes into value bytes that can be cleansed.
  static void scrub_moved_from([[maybe_unused]] T& from, [[maybe_unused]] const T& to) noexcept {
    if constexpr (std::is_same_v<T, std::string>) {
      const std::size_t n = to.size();
      if (from.empty() && n > 0 && n <= from.capacity()) {
        from.resize(n);
        secure_wipe(from.data(), from.size());
        from.clear();
      }
    }
  }
  T value_{};
};

}  // namespace oauthmail::core

template <class T>
struct fmt::formatter<oauthmail::core::secret<T>> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const oauthmail::core::secret<T>&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("***", ctx);
  }
};
