#include "oauth/token_codec.hpp"

#include <boost/json.hpp>

#include "oauth/detail/secure_json.hpp"
#include "oauth/errors.hpp"

namespace oauthmail::oauth {

namespace {

core::error bad_entry(std::string msg) {
  return make_error(oauth_errc::bad_cache_entry, std::move(msg), core::failure_class::needs_human);
}

// wall_clock counts nanoseconds in 64 bits (it ends in 2262): accept years 1970..2199.
constexpr std::int64_t max_unix_seconds = 7258118400;

std::int64_t to_unix(wall_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::optional<wall_clock::time_point> from_unix(const boost::json::value* v) {
  if (v == nullptr) return std::nullopt;
  std::int64_t s = 0;
  if (const auto* i = v->if_int64()) {
    s = *i;
  } else if (const auto* u = v->if_uint64(); u != nullptr && *u < static_cast<std::uint64_t>(max_unix_seconds)) {
    s = static_cast<std::int64_t>(*u);
  } else {
    return std::nullopt;
  }
  if (s < 0 || s >= max_unix_seconds) return std::nullopt;
  return wall_clock::time_point(std::chrono::duration_cast<wall_clock::duration>(std::chrono::seconds(s)));
}

}  // namespace

core::secret<std::string> encode_token_set(const token_set& t) {
  boost::json::object o(detail::secure_storage());
  o["version"] = token_codec_version;
  o["token_type"] = t.token_type;
  o["access_token"] = t.access_token.expose();
  if (t.refresh_token) o["refresh_token"] = t.refresh_token->expose();
  o["obtained_at"] = to_unix(t.obtained_at);
  o["expires_at"] = to_unix(t.expires_at);
  boost::json::array scopes(detail::secure_storage());
  for (const auto& s : t.scopes) scopes.emplace_back(s);
  o["scopes"] = std::move(scopes);
  return detail::serialize_secret(boost::json::value(std::move(o)));
}

core::result<token_set> decode_token_set(const core::secret<std::string>& text) {
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(text.expose(), ec, detail::secure_storage());
  if (ec || !doc.is_object()) return bad_entry("the cached token entry is not JSON; run `oauthmail account login`");
  const auto& o = doc.get_object();
  const auto* version = o.if_contains("version");
  if (version == nullptr || !version->is_int64()) {
    return bad_entry("the cached token entry has no version; run `oauthmail account login`");
  }
  if (version->get_int64() != token_codec_version) {
    return bad_entry("the cached token entry has format version " + std::to_string(version->get_int64()) +
                     " but this oauthmail reads version " + std::to_string(token_codec_version) +
                     "; use the oauthmail version that wrote it, or run `oauthmail account login`");
  }
  token_set t;
  const auto* at = o.if_contains("access_token");
  if (at == nullptr || !at->is_string()) return bad_entry("the cached token entry has no access_token");
  t.access_token = core::secret<std::string>(std::string(at->get_string()));
  if (const auto* rt = o.if_contains("refresh_token"); rt != nullptr) {
    if (!rt->is_string()) return bad_entry("the cached token entry's refresh_token is not a string");
    t.refresh_token = core::secret<std::string>(std::string(rt->get_string()));
  }
  if (const auto* tt = o.if_contains("token_type"); tt != nullptr && tt->is_string()) {
    t.token_type = std::string(tt->get_string());
  }
  const auto obtained = from_unix(o.if_contains("obtained_at"));
  const auto expires = from_unix(o.if_contains("expires_at"));
  if (!obtained || !expires) return bad_entry("the cached token entry has no valid obtained_at / expires_at");
  t.obtained_at = *obtained;
  t.expires_at = *expires;
  if (const auto* sc = o.if_contains("scopes"); sc != nullptr && sc->is_array()) {
    for (const auto& s : sc->get_array()) {
      if (s.is_string()) t.scopes.emplace_back(s.get_string());
    }
  }
  return t;
}

}  // namespace oauthmail::oauth
