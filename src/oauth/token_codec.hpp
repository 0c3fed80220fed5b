// token_set <-> JSON text, for the encrypted token cache (src/secrets/encrypted_store holds the
// text as a secret<>). Format, version 1:
//   {"version":1,"token_type":"Bearer","access_token":"...","refresh_token":"...",
//    "obtained_at":1700000000,"expires_at":1700003600,"scopes":["..."]}
// Times are Unix seconds (sub-second parts are dropped). refresh_token is absent when there is none.
// Must not: leave the text or the tokens in freed memory (wiping JSON storage); accept a newer
// version silently (an entry written by a newer oauthmail is an error, never thrown away).
#pragma once

#include <string>

#include "core/result.hpp"
#include "core/secret.hpp"
#include "oauth/token.hpp"

namespace oauthmail::oauth {

inline constexpr int token_codec_version = 1;

core::secret<std::string> encode_token_set(const token_set& tokens);
// Errors: oauth_errc::bad_cache_entry, class needs_human.
core::result<token_set> decode_token_set(const core::secret<std::string>& text);

}  // namespace oauthmail::oauth
