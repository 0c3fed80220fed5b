// Fuzz target: oauth::decode_unverified / inspect_token / smtp_suitability over arbitrary tokens.
// Invariants: decode succeeds exactly when inspect says "jwt"; decoded header and claims survive a
// serialize + base64url + decode roundtrip unchanged; the suitability check never fails.
#include <boost/json.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/base64.hpp"
#include "oauth/jwt.hpp"
#include "oauth/presets.hpp"

namespace {

using namespace oauthmail;

void check(bool ok) {
  if (!ok) std::abort();
}

// Boost.JSON reads 1e400 as infinity but cannot write infinity back as JSON: such documents do not
// roundtrip, by design.
bool has_non_finite(const boost::json::value& v) {
  if (const auto* d = v.if_double()) return !std::isfinite(*d);
  if (const auto* a = v.if_array()) {
    for (const auto& x : *a) {
      if (has_non_finite(x)) return true;
    }
  }
  if (const auto* o = v.if_object()) {
    for (const auto& kv : *o) {
      if (has_non_finite(kv.value())) return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  const auto decoded = oauth::decode_unverified(token);
  const auto facts = oauth::inspect_token(token);
  check(decoded.has_value() == (facts.format == oauth::token_format::jwt));
  if (decoded && !has_non_finite(decoded->header) && !has_non_finite(decoded->claims)) {
    const std::string again = core::base64url_encode(boost::json::serialize(decoded->header)) + "." +
                              core::base64url_encode(boost::json::serialize(decoded->claims)) + ".";
    const auto redecoded = oauth::decode_unverified(again);
    check(redecoded.has_value());
    check(redecoded->header == decoded->header);
    check(redecoded->claims == decoded->claims);
  }
  if (decoded) {
    if (facts.expires_at) check(facts.expires_at->time_since_epoch().count() >= 0);
  } else {
    check(!decoded.error().message().empty());
    check(!facts.opaque_kind.empty());
  }
  for (const auto provider : {config::provider_kind::microsoft, config::provider_kind::google}) {
    oauth::provider_endpoints e;
    e.provider = provider;
    e.flow = size % 2 == 0 ? config::flow_kind::client_credentials : config::flow_kind::device_code;
    e.smtp_audiences = {"https://outlook.office.com", "https://outlook.office365.com"};
    const auto warnings =
        oauth::smtp_suitability(facts, e, oauth::wall_clock::time_point(std::chrono::seconds(1700000000)));
    for (const auto& w : warnings) check(!w.empty());
  }
  return 0;
}
