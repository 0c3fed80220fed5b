#include "oauth/random.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace oauthmail::oauth {

random_source system_random() {
  return [](std::span<unsigned char> out) {
    if (out.empty()) return;
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
      throw std::runtime_error("OpenSSL RAND_bytes failed: no secure randomness available");
    }
  };
}

std::string random_bytes(const random_source& random, std::size_t n) {
  std::string out(n, '\0');
  random(std::span<unsigned char>(reinterpret_cast<unsigned char*>(out.data()), out.size()));
  return out;
}

std::uint64_t random_u64(const random_source& random) {
  std::array<unsigned char, 8> b{};
  random(b);
  std::uint64_t v = 0;
  for (const unsigned char c : b) v = (v << 8) | c;
  return v;
}

std::string random_uuid(const random_source& random) {
  std::array<unsigned char, 16> b{};
  random(b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // variant 10
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0x0F]);
  }
  return out;
}

}  // namespace oauthmail::oauth
