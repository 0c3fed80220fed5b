// Fuzz target: smtp::capabilities::parse. Input: an EHLO reply as the server sends it (parsed with
// reply_parser), and the same bytes cut at LF into the lines of a synthetic 250 reply (lines the
// reply parser would never produce, e.g. with NUL).
// Invariants: never fails; mechanisms are upper-case RFC 4422 names without duplicates and are
// all found by offers_auth in any case; nothing is lost (every keyword line is understood or kept).
#include "smtp/capabilities.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smtp/reply.hpp"

namespace {

using oauthmail::smtp::capabilities;
using oauthmail::smtp::reply;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_caps(const capabilities& c, const reply& r) {
  for (std::size_t i = 0; i < c.auth.size(); ++i) {
    const std::string& m = c.auth[i];
    check(!m.empty() && m.size() <= 20);
    check(std::all_of(m.begin(), m.end(), [](char ch) {
      return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
    }));
    check(std::count(c.auth.begin(), c.auth.end(), m) == 1);
    check(c.offers_auth(m));
    std::string lower = m;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char ch) { return (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch; });
    check(c.offers_auth(lower));
  }
  if (!r.positive_completion()) {
    check(c.server_name.empty() && c.auth.empty() && c.other.empty() && !c.size && !c.starttls);
    return;
  }
  check(c.other.size() < std::max<std::size_t>(r.lines.size(), 1));
  for (const auto& o : c.other) check(std::find(r.lines.begin(), r.lines.end(), o) != r.lines.end());
  if (!r.lines.empty()) check(r.lines[0].find(c.server_name) != std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  oauthmail::smtp::reply_parser parser;
  std::string_view rest = input;
  while (!rest.empty()) {
    auto step = parser.feed(rest);
    if (!step) break;
    if (step->parsed) check_caps(capabilities::parse(*step->parsed), *step->parsed);
    rest.remove_prefix(step->consumed);
  }

  reply synthetic;
  synthetic.code = 250;
  std::size_t start = 0;
  while (start <= input.size() && synthetic.lines.size() < 512) {
    const std::size_t lf = input.find('\n', start);
    synthetic.lines.emplace_back(
        input.substr(start, lf == std::string_view::npos ? std::string_view::npos : lf - start));
    if (lf == std::string_view::npos) break;
    start = lf + 1;
  }
  check_caps(capabilities::parse(synthetic), synthetic);
  return 0;
}
