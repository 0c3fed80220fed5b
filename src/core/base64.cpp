#include "core/base64.hpp"

#include <openssl/evp.h>

#include <algorithm>

namespace oauthmail::core {

namespace {

error bad_base64(std::string_view why) {
  return error(make_error_code(errc::invalid_argument), std::string("invalid base64: ") + std::string(why),
               failure_class::protocol);
}

bool is_std_alphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  if (bytes.empty()) return out;
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return bad_base64("length is not a multiple of 4");
  std::size_t pad = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      // Padding only at the very end, at most two characters.
      if (i + 2 < text.size() || (i + 1 < text.size() && text[i + 1] != '=')) return bad_base64("'=' inside the text");
      ++pad;
    } else if (!is_std_alphabet(c)) {
      return bad_base64("character outside the base64 alphabet");
    }
  }
  if (pad > 2) return bad_base64("too much padding");
  std::string out(3 * (text.size() / 4), '\0');
  if (text.empty()) return out;
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return bad_base64("decoder refused the text");
  // EVP_DecodeBlock counts padding bytes as zero output bytes; drop them.
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

result<std::string> base64_decode_lenient(std::string_view text) {
  // Only trailing padding may be missing or partial; a '=' anywhere else stays and is refused by the
  // strict decoder (dropping it would silently join two encoded strings into garbage).
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string normalized;
  normalized.reserve(text.size() + 3);
  for (const char c : text) {
    if (c == '-')
      normalized.push_back('+');
    else if (c == '_')
      normalized.push_back('/');
    else
      normalized.push_back(c);
  }
  while (normalized.size() % 4 != 0) normalized.push_back('=');
  return base64_decode(normalized);
}

std::string base64url_encode(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

result<std::string> base64url_decode(std::string_view text) {
  for (const char c : text) {
    if (c == '+' || c == '/' || c == '=') return bad_base64("standard alphabet or padding in base64url text");
  }
  return base64_decode_lenient(text);
}

}  // namespace oauthmail::core
