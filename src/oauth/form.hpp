// Form encoding for token-endpoint bodies and authorization URLs: application/x-www-form-urlencoded
// (RFC 6749 Appendix B, §4.1.3) with one consistent rule: the RFC 3986 unreserved characters
// (ALPHA, DIGIT, "-", ".", "_", "~") pass, every other octet is %XX (upper-case hex), so a space is
// "%20" (never "+", which servers would also accept but which the query of a URL may not treat as
// a space). The same encoding prepares client_secret_basic (RFC 6749 §2.3.1) and URL queries.
// Scopes are space-delimited lists (RFC 6749 §3.3).
// Must not: leave copies of secret values behind (form_builder grows its buffer by hand and wipes
// the old one; it is wiped on destruction); repeat a parameter (RFC 6749 §3.2: MUST NOT repeat).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.hpp"

namespace oauthmail::oauth {

void form_encode_append(std::string& out, std::string_view value);
std::string form_encode(std::string_view value);

// Builds "a=1&b=2". Parameters with an empty value are omitted (RFC 6749 §3.1: "Parameters sent
// without a value MUST be treated as if they were omitted").
class form_builder {
 public:
  form_builder();
  form_builder(const form_builder&) = delete;
  form_builder& operator=(const form_builder&) = delete;
  ~form_builder();

  form_builder& add(std::string_view name, std::string_view value);
  form_builder& add(std::string_view name, const core::secret<std::string>& value) {
    return add(name, std::string_view(value.expose()));
  }
  // The body so far, for URL queries (not secret).
  const std::string& text() const noexcept { return body_; }
  // Hands the body over as a secret and leaves the builder empty.
  core::secret<std::string> take();

 private:
  void reserve_more(std::size_t extra);
  std::string body_;
};

// "a b c" <-> {"a","b","c"}; repeated spaces and empty items are dropped; order is kept.
std::string join_scopes(std::span<const std::string> scopes);
std::vector<std::string> split_scopes(std::string_view text);

}  // namespace oauthmail::oauth
