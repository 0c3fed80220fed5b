// Boost.JSON storage for documents that hold secrets (token responses, the token cache text,
// service-account keys): a memory resource that wipes every block (OPENSSL_cleanse) before it
// returns it to the heap, so parsed tokens do not linger in freed memory.
// Must not: be used for large untrusted documents without a size bound (callers bound input).
#pragma once

#include <boost/json.hpp>
#include <string>

#include "core/secret.hpp"

namespace oauthmail::oauth::detail {

// A shared wiping resource; values parsed or built with it keep it alive.
boost::json::storage_ptr secure_storage();

// Serializes into a secret without leaving copies behind (the buffer is reserved up front and the
// serializer's chunks are wiped).
core::secret<std::string> serialize_secret(const boost::json::value& value);

}  // namespace oauthmail::oauth::detail
