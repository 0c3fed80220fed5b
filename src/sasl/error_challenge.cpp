// parse_error_challenge(): the JSON of an XOAUTH2 (Google) or OAUTHBEARER (RFC 7628 §3.2.2) error
// challenge, through Boost.JSON.
#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <limits>

#include "sasl/clients.hpp"

namespace oauthmail::sasl {

namespace {

// Bounds: a real challenge is ~100 bytes; this is far above and keeps a hostile peer in check.
constexpr std::size_t max_challenge_size = 16 * 1024;
constexpr std::size_t max_field_size = 2048;

core::error bad_json(std::string why) {
  return detail::make_error(sasl_errc::bad_challenge,
                            "the server's SASL error challenge is not the expected JSON object: " + std::move(why),
                            core::failure_class::protocol);
}

// A string field, or a number written as text ({"status":400}); other types are ignored.
std::string field(const boost::json::object& obj, std::string_view key) {
  const boost::json::value* v = obj.if_contains(key);
  if (v == nullptr) return {};
  std::string out;
  if (const auto* s = v->if_string()) {
    out.assign(s->data(), s->size());
  } else if (const auto* i = v->if_int64()) {
    out = fmt::format("{}", *i);
  } else if (const auto* u = v->if_uint64()) {
    out = fmt::format("{}", *u);
  } else if (const auto* d = v->if_double()) {
    // 400.0 (or 4E2) is meant as 400.
    if (std::isfinite(*d) && std::trunc(*d) == *d && std::fabs(*d) < 1e15) {
      out = fmt::format("{}", static_cast<long long>(*d));
    } else {
      out = fmt::format("{}", *d);
    }
  }
  if (out.size() > max_field_size) out.resize(max_field_size);
  return out;
}

}  // namespace

core::result<error_challenge> parse_error_challenge(std::string_view json) {
  if (json.size() > max_challenge_size) {
    return bad_json(fmt::format("it is {} bytes long (at most {} are accepted)", json.size(), max_challenge_size));
  }
  // Trailing whitespace (Google's documented challenge ends in "\n") is valid JSON; so is leading.
  boost::json::error_code ec;
  const boost::json::value doc = boost::json::parse(boost::json::string_view(json.data(), json.size()), ec);
  if (ec) return bad_json(ec.message());
  const boost::json::object* obj = doc.if_object();
  if (obj == nullptr) return bad_json("it is JSON, but not an object");
  error_challenge out;
  out.status = field(*obj, "status");
  out.schemes = field(*obj, "schemes");
  out.scope = field(*obj, "scope");
  out.openid_configuration = field(*obj, "openid-configuration");
  return out;
}

}  // namespace oauthmail::sasl
