// Fuzz target: smtp::data_encoder. Input layout: byte 0 = chunk size selector, byte 1 = line
// limit selector (0: the default 998, else 1..255); the rest is the message.
// Invariants: chunked output equals whole output; the wire is canonical (every LF preceded by CR,
// every CR followed by LF); "\r\n.\r\n" appears only as the final terminator; a receiver that
// un-stuffs gets the message with its line ends normalised to CR LF; a refusal happens exactly
// when some line is longer than the limit.
#include "smtp/data_encoder.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace {

using oauthmail::smtp::data_encoder;

void check(bool ok) {
  if (!ok) std::abort();
}

std::optional<std::string> encode_chunked(std::string_view msg, std::size_t chunk, std::size_t limit) {
  data_encoder enc(limit);
  std::string out;
  for (std::size_t pos = 0; pos < msg.size(); pos += chunk) {
    if (!enc.encode(msg.substr(pos, chunk), out)) {
      const std::size_t before = out.size();
      enc.finish(out);
      check(out.size() == before);  // never a terminator after a failure
      return std::nullopt;
    }
  }
  enc.finish(out);
  check(enc.octets_in() == msg.size());
  return out;
}

// The message with every CR LF, bare CR and bare LF as CR LF, and a final CR LF if the last line
// is open; also the longest line.
std::string normalise(std::string_view msg, std::size_t& longest) {
  std::string out;
  std::size_t len = 0;
  longest = 0;
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\r' || msg[i] == '\n') {
      if (msg[i] == '\r' && i + 1 < msg.size() && msg[i + 1] == '\n') ++i;
      out += "\r\n";
      len = 0;
    } else {
      out += msg[i];
      if (++len > longest) longest = len;
    }
  }
  if (len != 0) out += "\r\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::size_t limit = data[1] == 0 ? 998 : data[1];
  const std::string_view msg(reinterpret_cast<const char*>(data + 2), size - 2);

  const auto whole = encode_chunked(msg, msg.size() + 1, limit);
  check(encode_chunked(msg, chunk, limit) == whole);
  check(encode_chunked(msg, msg.size() / 2 + 1, limit) == whole);
  const auto convenience = oauthmail::smtp::encode_data(msg, limit);
  check(convenience.has_value() == whole.has_value());

  std::size_t longest = 0;
  const std::string normal = normalise(msg, longest);
  check(whole.has_value() == (longest <= limit));
  if (!whole) return 0;
  const std::string& wire = *whole;
  check(*convenience == wire);

  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\n') check(i > 0 && wire[i - 1] == '\r');
    if (wire[i] == '\r') check(i + 1 < wire.size() && wire[i + 1] == '\n');
  }
  check(wire.size() >= 3 && wire.compare(wire.size() - 3, 3, ".\r\n") == 0);
  const std::size_t end = wire.find("\r\n.\r\n");
  if (wire.size() == 3) {
    check(end == std::string::npos);
  } else {
    check(end == wire.size() - 5);
  }
  if (wire.compare(0, 3, ".\r\n") == 0) check(wire.size() == 3);  // first line never "." unless empty

  // A strict receiver: un-stuff line by line up to the terminator.
  std::string received;
  std::size_t pos = 0;
  while (true) {
    const std::size_t eol = wire.find("\r\n", pos);
    check(eol != std::string::npos);
    std::string_view line(wire.data() + pos, eol - pos);
    pos = eol + 2;
    if (line == ".") break;
    check(line.size() <= limit + 1);
    if (!line.empty() && line[0] == '.') line.remove_prefix(1);
    received.append(line).append("\r\n");
  }
  check(pos == wire.size());
  check(received == normal);
  return 0;
}
