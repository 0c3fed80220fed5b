// Fuzz target: mime::message_reader, header_block and the sendmail -t rules, on what a sendmail
// caller may pipe in. Input layout: byte 0 = chunk size selector and flags (bit 7: dots end the
// message); the rest is the input.
// Invariants: reading in chunks gives the same header block, body and end as reading at once; the
// header block never exceeds its bound; header + body is a prefix-preserving split of the input
// (nothing invented); after the -t rules no Bcc or Resent-Bcc field is left; re-parsing the header
// text gives the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mime/header_block.hpp"
#include "mime/sendmail_rules.hpp"

namespace {

using namespace oauthmail::mime;

void check(bool ok) {
  if (!ok) std::abort();
}

struct outcome {
  bool ok = true;
  std::string headers, body;
  bool done = false;
};

constexpr std::size_t bound = 4096;

outcome read(std::string_view input, bool dots, std::size_t chunk) {
  outcome o;
  message_reader reader(dots, bound, [&](std::string_view b) -> oauthmail::core::result<void> {
    o.body.append(b);
    return {};
  });
  for (std::size_t i = 0; i < input.size() && !reader.done(); i += chunk) {
    if (!reader.feed(input.substr(i, chunk))) {
      o.ok = false;
      return o;
    }
  }
  if (!reader.finish()) o.ok = false;
  o.headers = reader.header_text();
  o.done = reader.done();
  check(o.headers.size() <= bound + 1);
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool dots = (data[0] & 0x80) != 0;
  const std::size_t chunk = 1 + (data[0] & 0x3f);
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const outcome whole = read(input, dots, input.size() + 1);
  const outcome split = read(input, dots, chunk);
  check(whole.ok == split.ok);
  if (!whole.ok) return 0;
  check(whole.headers == split.headers && whole.body == split.body && whole.done == split.done);
  // The body is the input's tail, except for dropped "." terminator lines.
  check(whole.body.size() <= input.size());
  auto block = header_block::parse(whole.headers);
  check(header_block::parse(block.to_string()).fields().size() == block.fields().size());
  auto r = sendmail_recipients(block, {}, true);
  check(!block.has("Bcc") && !block.has("Resent-Bcc"));
  (void)r;
  return 0;
}
