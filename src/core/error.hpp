// core::error: what went wrong, as a value. An error carries a std::error_code (one enum and
// category per domain: smtp, sasl, net, secrets, cli...) and a human sentence that says what is
// wrong and, where known, what to do. Every failure is classified by failure_class; retry, bounce
// and alert decisions follow from that alone (see classify()).
// Must not: carry a secret. Messages are built from non-secret facts only (secret<T> never
// formats its value).
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace oauthmail::core {

// How a failure must be handled. The one place where this is decided for SMTP replies is
// smtp::classify_reply(); other domains set it when they create the error.
enum class failure_class {
  none,            // not a failure
  transient,       // try again later (4xx, network, timeouts)
  permanent,       // do not retry this message (5xx for this message or recipient)
  token_rejected,  // the OAuth2 token was refused: renew it once and retry once
  needs_human,     // configuration or account problem a person must fix (e.g. 5.7.139)
  protocol,        // the peer violated the protocol or sent something we cannot parse
  bug,             // a broken invariant inside oauthmail
};

std::string_view to_string(failure_class c) noexcept;

class error {
 public:
  error() = default;
  error(std::error_code code, std::string message, failure_class cls = failure_class::permanent)
      : code_(code), message_(std::move(message)), class_(cls) {}

  const std::error_code& code() const noexcept { return code_; }
  // One or more sentences: what is wrong and what to do. Never contains a secret.
  const std::string& message() const noexcept { return message_; }
  failure_class classification() const noexcept { return class_; }

  error& with_class(failure_class c) & { class_ = c; return *this; }
  error&& with_class(failure_class c) && { class_ = c; return std::move(*this); }

 private:
  std::error_code code_;
  std::string message_;
  failure_class class_ = failure_class::none;
};

// Generic error codes for problems that belong to no protocol domain.
enum class errc {
  ok = 0,
  invalid_argument,   // a caller passed something malformed
  limit_exceeded,     // a configured bound (line length, size, count) was exceeded
  io_failure,         // reading a file or stream failed
  internal,           // a broken invariant
};

const std::error_category& core_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), core_category()}; }

}  // namespace oauthmail::core

template <>
struct std::is_error_code_enum<oauthmail::core::errc> : std::true_type {};
