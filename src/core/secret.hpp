// core::secret<T>: a value that must never be printed: tokens, passwords, client secrets.
// It formats as "***" through operator<< and fmt, so a secret that slips into a log line or an
// error message shows no content. The value is reached only through expose(), which makes every
// use greppable. On destruction the bytes of a std::string secret are wiped (OPENSSL_cleanse).
// Must not: convert implicitly to T, compare in variable time, or appear in any output.
#pragma once

#include <fmt/format.h>

#include <ostream>
#include <string>
#include <utility>

namespace oauthmail::core {

void secure_wipe(void* data, std::size_t size) noexcept;

template <class T = std::string>
class secret {
 public:
  secret() = default;
  explicit secret(T value) : value_(std::move(value)) {}
  secret(const secret&) = default;
  secret(secret&&) noexcept = default;
  secret& operator=(const secret&) = default;
  secret& operator=(secret&& other) noexcept {
    wipe();
    value_ = std::move(other.value_);
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
