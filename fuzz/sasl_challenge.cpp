// Fuzz target for the SASL client side (src/sasl): the bytes are parsed as an XOAUTH2/OAUTHBEARER
// JSON error challenge, fed to every mechanism as its challenges (whole, then split at 0x00/'\n' into
// several steps, before and after start()), and split into a server's AUTH list for choose().
// Must not: crash, leak, hang, or return a response that contains bytes of the input (responses
// come from the credentials only), whatever the server sends.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sasl/mechanism.hpp"

namespace {

using namespace oauthmail;

std::vector<std::string_view> split(std::string_view data) {
  std::vector<std::string_view> parts;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < data.size() && parts.size() < 16; ++i) {
    if (data[i] == '\0' || data[i] == '\n') {
      parts.push_back(data.substr(begin, i - begin));
      begin = i + 1;
    }
  }
  parts.push_back(data.substr(begin));
  return parts;
}

void check(bool ok) {
  if (!ok) std::abort();
}

void run_mechanism(sasl::mechanism m, std::string_view whole, const std::vector<std::string_view>& parts,
                   bool call_start) {
  auto client = sasl::make_client(
      m, sasl::credentials{"user@example.com", core::secret<std::string>("ya29.FUZZ"), "smtp.example.com", 587});
  if (call_start) {
    auto r = client->start();
    check(r.has_value());
  }
  auto first = client->step(whole);
  if (first) check(first->bytes.expose().size() < 256);
  for (const auto part : parts) {
    auto r = client->step(part);
    if (r) check(r->bytes.expose().size() < 256);
    if (client->server_error()) (void)client->server_error()->status.size();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  auto parsed = sasl::parse_error_challenge(bytes);
  if (parsed) {
    check(parsed->status.size() <= bytes.size() + 32);
  } else {
    check(!parsed.error().message().empty());
    check(parsed.error().classification() == core::failure_class::protocol);
  }

  const std::vector<std::string_view> parts = split(bytes);
  for (const auto m :
       {sasl::mechanism::xoauth2, sasl::mechanism::oauthbearer, sasl::mechanism::plain, sasl::mechanism::login}) {
    run_mechanism(m, bytes, parts, true);
    run_mechanism(m, bytes, parts, false);
  }

  std::vector<std::string> offered;
  for (const auto part : parts) offered.emplace_back(part);
  for (const auto kind : {sasl::credential_kind::bearer_token, sasl::credential_kind::password}) {
    (void)sasl::choose(offered, kind, std::nullopt);
    (void)sasl::choose(offered, kind, sasl::mechanism::xoauth2);
    auto r = sasl::choose(offered, kind, sasl::mechanism::login);
    if (r) check(*r == sasl::mechanism::login);
  }
  return 0;
}
