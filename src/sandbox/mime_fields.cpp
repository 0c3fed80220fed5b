#include "sandbox/mime_fields.hpp"

#include <gmime/gmime.h>

#include <mutex>

namespace oauthmail::sandbox {

namespace {

void init_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

// GObject references released at scope exit.
template <class T>
struct gobject_ref {
  T* p = nullptr;
  explicit gobject_ref(T* ptr) : p(ptr) {}
  ~gobject_ref() {
    if (p != nullptr) g_object_unref(p);
  }
  gobject_ref(const gobject_ref&) = delete;
  gobject_ref& operator=(const gobject_ref&) = delete;
};

// The header section with the empty line that ends it (or all of `content` when there is none).
std::string_view header_section(std::string_view content) {
  if (content.starts_with("\r\n") || content.starts_with("\n")) return {};
  const auto crlf = content.find("\r\n\r\n");
  const auto lf = content.find("\n\n");
  std::size_t end = std::string_view::npos;
  if (crlf != std::string_view::npos) end = crlf + 4;
  if (lf != std::string_view::npos && (end == std::string_view::npos || lf + 2 < end)) end = lf + 2;
  return end == std::string_view::npos ? content : content.substr(0, end);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (g_ascii_tolower(a[i]) != g_ascii_tolower(b[i])) return false;
  }
  return true;
}

void collect_addresses(InternetAddressList* list, std::vector<std::string>& out, int depth = 0) {
  if (list == nullptr || depth > 4) return;
  const int n = internet_address_list_length(list);
  for (int i = 0; i < n; ++i) {
    InternetAddress* a = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
      const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
      if (addr != nullptr && *addr != '\0') out.push_back(valid_utf8(addr));
    } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
      collect_addresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), out, depth + 1);
    }
  }
}

// Length of the UTF-8 sequence starting at s[i] when it is valid (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), else 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
  }
  return len;
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

message_fields parse_message_fields(std::string_view content) {
  message_fields fields;
  const std::string_view section = header_section(content);
  if (section.empty()) return fields;
  init_gmime();
  gobject_ref<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(section.data(), section.size()));
  gobject_ref<GMimeParser> parser(g_mime_parser_new_with_stream(stream.p));
  // A part rather than a message: GMimeMessage moves the Content-* fields into its MIME part
  // and loses their place; a part keeps every field in order.
  gobject_ref<GMimeObject> part(g_mime_parser_construct_part(parser.p, nullptr));
  if (part.p == nullptr) return fields;
  GMimeHeaderList* list = g_mime_object_get_header_list(part.p);
  const int n = list == nullptr ? 0 : g_mime_header_list_get_count(list);
  bool have_subject = false;
  for (int i = 0; i < n; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
    const char* name = g_mime_header_get_name(h);
    const char* value = g_mime_header_get_value(h);
    std::string name_s = valid_utf8(name != nullptr ? name : "");
    std::string value_s = valid_utf8(value != nullptr ? value : "");
    if (iequals(name_s, "From")) {
      fields.has_from = true;
      const char* raw = g_mime_header_get_raw_value(h);
      if (raw != nullptr) {
        InternetAddressList* addresses = internet_address_list_parse(nullptr, raw);
        if (addresses != nullptr) {
          collect_addresses(addresses, fields.from);
          g_object_unref(addresses);
        }
      }
    } else if (!have_subject && iequals(name_s, "Subject")) {
      fields.subject = value_s;
      have_subject = true;
    }
    fields.headers.emplace_back(std::move(name_s), std::move(value_s));
  }
  return fields;
}

}  // namespace oauthmail::sandbox
