#include "core/secret.hpp"

#include <openssl/crypto.h>

namespace oauthmail::core {

void secure_wipe(void* data, std::size_t size) noexcept { OPENSSL_cleanse(data, size); }

}  // namespace oauthmail::core
