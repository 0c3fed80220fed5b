// core::result<T>: a value or an error, a small subset of std::expected (which g++ 12 and clang 14
// lack in C++20 mode). Errors are values everywhere in oauthmail; exceptions are reserved for
// broken invariants and start-up failures in src/cli.
// Must not: allocate for the value path beyond T itself, or throw except on misuse (value() of an
// error, error() of a value), which is a bug.
#pragma once

#include <cassert>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/error.hpp"

namespace oauthmail::core {

// Marks the error alternative when constructing a result: `return unexpected(error{...});`
struct unexpected {
  error value;
  explicit unexpected(error e) : value(std::move(e)) {}
};

template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;

  result(const T& v) : state_(std::in_place_index<0>, v) {}                     // NOLINT(google-explicit-constructor)
  result(T&& v) : state_(std::in_place_index<0>, std::move(v)) {}               // NOLINT(google-explicit-constructor)
  result(unexpected u) : state_(std::in_place_index<1>, std::move(u.value)) {}  // NOLINT
  result(core::error e) : state_(std::in_place_index<1>, std::move(e)) {}       // NOLINT
  template <class... Args>
  explicit result(std::in_place_t, Args&&... args) : state_(std::in_place_index<0>, std::forward<Args>(args)...) {}

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    check_value();
    return std::get<0>(state_);
  }
  const T& value() const& {
    check_value();
    return std::get<0>(state_);
  }
  T&& value() && {
    check_value();
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const core::error& error() const& {
    if (has_value()) throw std::logic_error("result::error() called on a value");
    return std::get<1>(state_);
  }
  core::error&& error() && {
    if (has_value()) throw std::logic_error("result::error() called on a value");
    return std::get<1>(std::move(state_));
  }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(state_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check_value() const {
    if (!has_value()) throw std::logic_error("result::value() called on an error: " + std::get<1>(state_).message());
  }
  std::variant<T, core::error> state_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(unexpected u) : error_(std::move(u.value)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  result(core::error e) : error_(std::move(e)), ok_(false) {}       // NOLINT(google-explicit-constructor)

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) throw std::logic_error("result::value() called on an error: " + error_.message());
  }
  const core::error& error() const& {
    if (ok_) throw std::logic_error("result::error() called on a value");
    return error_;
  }

 private:
  core::error error_;
  bool ok_ = true;
};

}  // namespace oauthmail::core
