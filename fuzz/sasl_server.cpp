// Fuzz target for the SASL server side (sasl/server.hpp): the bytes go to every server mechanism
// as its initial response, as the response to its first challenge, and split at 0x00/'\n' into
// several steps; after `verify` the exchange is accepted or rejected (with an error challenge
// for the OAuth mechanisms) and stepped on.
// Must not: crash, leak, hang; return `verify` without credentials or `malformed` without an
// error; quote the input in an error message (messages are short fixed sentences); return a
// secret that is not part of the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sasl/server.hpp"

namespace {

using namespace oauthmail;

void check(bool ok) {
  if (!ok) std::abort();
}

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

// Checks one step's invariants; returns true while the exchange goes on.
bool inspect(const sasl::server_step& s, std::string_view input) {
  using kind = sasl::server_step::kind;
  switch (s.what) {
    case kind::verify:
      check(s.credentials.has_value() && !s.error);
      check(input.find(s.credentials->secret.expose()) != std::string_view::npos);
      check(sasl::to_string(*s.credentials).find("***") != std::string::npos);
      return false;
    case kind::malformed:
      check(s.error.has_value() && !s.credentials);
      check(!s.error->message().empty() && s.error->message().size() < 200);
      return false;
    case kind::challenge:
      check(s.challenge.size() < 64);  // the mechanisms' own challenges are short prompts
      return true;
    case kind::accepted:
    case kind::rejected:
      return false;
  }
  return false;
}

void finish(sasl::server_mechanism& m, const sasl::server_step& verify, bool accept, std::string_view input) {
  if (verify.what != sasl::server_step::kind::verify) return;
  if (accept) {
    check(m.accept().what == sasl::server_step::kind::accepted);
    return;
  }
  const auto r = m.reject(std::string(R"({"status":"400"})"));
  if (sasl::is_oauth(m.kind())) {
    check(r.what == sasl::server_step::kind::challenge);
    check(m.step(input).what == sasl::server_step::kind::rejected);
  } else {
    check(r.what == sasl::server_step::kind::rejected);
  }
  check(m.step(input).what == sasl::server_step::kind::malformed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string_view> parts = split(bytes);
  bool accept = size % 2 == 0;
  for (const auto m :
       {sasl::mechanism::xoauth2, sasl::mechanism::oauthbearer, sasl::mechanism::plain, sasl::mechanism::login}) {
    // Whole input as the initial response.
    {
      auto s = sasl::make_server(m);
      auto step = s->start(bytes);
      for (std::size_t i = 0; i < parts.size() && inspect(step, bytes); ++i) step = s->step(parts[i]);
      inspect(step, bytes);
      finish(*s, step, accept, bytes);
    }
    // No initial response: the parts as successive answers.
    {
      auto s = sasl::make_server(m);
      auto step = s->start(std::nullopt);
      check(step.what == sasl::server_step::kind::challenge);
      for (std::size_t i = 0; i < parts.size() && inspect(step, bytes); ++i) step = s->step(parts[i]);
      inspect(step, bytes);
      finish(*s, step, !accept, bytes);
    }
    accept = !accept;
  }
  return 0;
}
