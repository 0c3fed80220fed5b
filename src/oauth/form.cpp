#include "oauth/form.hpp"

#include <algorithm>

namespace oauthmail::oauth {

namespace {

bool unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::size_t encoded_size(std::string_view value) noexcept {
  std::size_t n = 0;
  for (const char ch : value) n += unreserved(static_cast<unsigned char>(ch)) ? 1 : 3;
  return n;
}

}  // namespace

void form_encode_append(std::string& out, std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0x0F]);
    }
  }
}

std::string form_encode(std::string_view value) {
  std::string out;
  out.reserve(encoded_size(value));
  form_encode_append(out, value);
  return out;
}

form_builder::form_builder() { body_.reserve(1024); }

form_builder::~form_builder() {
  if (!body_.empty()) core::secure_wipe(body_.data(), body_.size());
}

void form_builder::reserve_more(std::size_t extra) {
  const std::size_t need = body_.size() + extra;
  if (need <= body_.capacity()) return;
  // Grow by hand so that the old buffer (which may hold secret bytes) is wiped before it is freed.
  std::string bigger;
  bigger.reserve(std::max(need, 2 * body_.capacity()));
  bigger.append(body_);
  if (!body_.empty()) core::secure_wipe(body_.data(), body_.size());
  body_.swap(bigger);
}

form_builder& form_builder::add(std::string_view name, std::string_view value) {
  if (value.empty()) return *this;
  reserve_more(1 + encoded_size(name) + 1 + encoded_size(value));
  if (!body_.empty()) body_.push_back('&');
  form_encode_append(body_, name);
  body_.push_back('=');
  form_encode_append(body_, value);
  return *this;
}

core::secret<std::string> form_builder::take() {
  core::secret<std::string> out(body_);
  if (!body_.empty()) core::secure_wipe(body_.data(), body_.size());
  body_.clear();
  return out;
}

std::string join_scopes(std::span<const std::string> scopes) {
  std::string out;
  for (const auto& s : scopes) {
    if (s.empty()) continue;
    if (!out.empty()) out.push_back(' ');
    out += s;
  }
  return out;
}

std::vector<std::string> split_scopes(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\t') ++j;
    if (j > i) out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace oauthmail::oauth
