// Test helpers for tests/unit/sasl: building credentials, running a mechanism's initial response and
// base64-encoding it as the SMTP layer would (RFC 4954).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "core/base64.hpp"
#include "sasl/mechanism.hpp"

namespace oauthmail::sasl::testing {

inline credentials creds(std::string user, std::string secret, std::string host = {}, std::uint16_t port = 0) {
  return credentials{std::move(user), core::secret<std::string>(std::move(secret)), std::move(host), port};
}

// The initial response's raw bytes; fails the test when there is none or an error.
inline std::string initial_bytes(client_mechanism& m) {
  auto r = m.start();
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
  if (!r || !r->has_value()) {
    ADD_FAILURE() << "no initial response";
    return {};
  }
  return (*r)->bytes.expose();
}

inline std::string initial_base64(client_mechanism& m) { return core::base64_encode(initial_bytes(m)); }

inline std::string decode(std::string_view b64) {
  auto d = core::base64_decode(b64);
  EXPECT_TRUE(d.has_value()) << b64;
  return d ? *d : std::string();
}

}  // namespace oauthmail::sasl::testing
