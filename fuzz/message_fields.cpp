// Fuzz target: sandbox::parse_message_fields (GMime) over arbitrary message content, as the
// sandbox receives it from any client. Invariants: no crash; every header name and value, the
// subject and every From address are valid UTF-8 (they go into SQLite and JSON); names hold no
// CR, LF or colon; the Subject is the first Subject field's value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sandbox/mime_fields.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    const char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oauthmail::sandbox;
  const std::string_view content(reinterpret_cast<const char*>(data), size);
  const message_fields f = parse_message_fields(content);
  bool subject_seen = false;
  for (const auto& [name, value] : f.headers) {
    check(is_valid_utf8(name));
    check(is_valid_utf8(value));
    check(name.find_first_of("\r\n:") == std::string_view::npos);
    if (!subject_seen && iequals(name, "Subject")) {
      check(f.subject == value);
      subject_seen = true;
    }
  }
  if (!subject_seen) check(f.subject.empty());
  check(is_valid_utf8(f.subject));
  for (const auto& a : f.from) check(is_valid_utf8(a) && !a.empty());
  check(f.from.empty() || f.has_from);
  // valid_utf8 is the identity on valid input and always produces valid output.
  check(valid_utf8(content) == content || !is_valid_utf8(content));
  check(is_valid_utf8(valid_utf8(content)));
  return 0;
}
