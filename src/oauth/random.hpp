// Randomness for the OAuth core, injected: the caller passes a random_source (tests pass a fixed
// or counting one; production passes system_random(), OpenSSL RAND_bytes). Used for PKCE verifiers
// (RFC 7636 §4.1), `state` (RFC 6749 §10.12), JWT `jti` (RFC 7523) and backoff jitter.
// Must not: fall back to a weak generator. system_random() throws std::runtime_error when the
// OpenSSL generator fails (a broken invariant, not an expected failure).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace oauthmail::oauth {

// Fills the span with random bytes.
using random_source = std::function<void(std::span<unsigned char>)>;

// OpenSSL's CSPRNG (RAND_bytes).
random_source system_random();

std::string random_bytes(const random_source& random, std::size_t n);
std::uint64_t random_u64(const random_source& random);
// An RFC 9562 version 4 UUID, lower-case ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
std::string random_uuid(const random_source& random);

}  // namespace oauthmail::oauth
