// Micro-benchmarks of the server side (the sandbox now, the relay later), throughput per second:
//  - smtp::server_session taking in one whole transaction (MAIL, RCPT, DATA, content, final dot)
//    after AUTH, with a 5 KB and a 1 MB message, fed in 16 KB reads as the driver does;
//  - the XOAUTH2 server mechanism parsing an initial response with a 1.5 KB JWT;
//  - the sandbox token authority validating an RS256 access token (signature and claims).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/base64.hpp"
#include "sandbox/tokens.hpp"
#include "sasl/server.hpp"
#include "smtp/server_session.hpp"

namespace {

using namespace oauthmail;

std::string message_of(std::size_t octets) {
  std::string m = "From: <a@example.test>\r\nTo: <b@example.test>\r\nSubject: bench\r\n\r\n";
  const std::string line = "The quick brown fox jumps over the lazy dog, and a line of mail text.\r\n";
  while (m.size() < octets) m += line;
  return m;
}

// Runs the session until it wants input; answers every decision with the default "accept".
void pump(smtp::server_session& s) {
  for (;;) {
    auto a = s.next();
    switch (a.what) {
      case smtp::server_action::kind::write:
        s.on_written();
        break;
      case smtp::server_action::kind::decide:
        if (a.request->what == smtp::server_request::kind::message) benchmark::DoNotOptimize(s.take_message());
        s.decide(smtp::server_decision::ok());
        break;
      default:
        return;
    }
  }
}

void BM_ServerSessionTransaction(benchmark::State& state) {
  const std::string content = message_of(static_cast<std::size_t>(state.range(0)));
  const std::string transaction =
      "MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n" + content + ".\r\n";
  smtp::server_options o;
  o.require_auth = false;
  o.max_message_octets = 64u << 20;
  smtp::server_session s(o);
  pump(s);
  s.on_bytes("EHLO bench\r\n");
  pump(s);
  constexpr std::size_t read_size = 16 * 1024;
  for (auto _ : state) {
    for (std::size_t at = 0; at < transaction.size(); at += read_size) {
      s.on_bytes(std::string_view(transaction).substr(at, read_size));
      pump(s);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * transaction.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ServerSessionTransaction)->Arg(5 * 1024)->Arg(1024 * 1024);

void BM_Xoauth2ServerParse(benchmark::State& state) {
  const std::string token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + std::string(1400, 'A') + ".sig";
  const std::string initial =
      "user=sender@contoso.test\x01"
      "auth=Bearer " +
      token + "\x01\x01";
  for (auto _ : state) {
    auto m = sasl::make_server(sasl::mechanism::xoauth2);
    auto step = m->start(initial);
    benchmark::DoNotOptimize(step.credentials);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Xoauth2ServerParse);

void BM_SandboxTokenValidation(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() / ("oauthmail-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto authority = sandbox::token_authority::open((dir / "key.pem").string(), "http://127.0.0.1:1/t/v2.0",
                                                  sandbox::profile_kind::microsoft, "t");
  if (!authority) {
    state.SkipWithError(authority.error().message().c_str());
    return;
  }
  sandbox::token_grant g;
  g.client_id = "c";
  g.audiences = {"https://outlook.office365.com"};
  g.roles = {"SMTP.SendAsApp"};
  const auto now = sandbox::wall_clock::now();
  const std::string jwt = authority->mint(g, now).expose();
  for (auto _ : state) benchmark::DoNotOptimize(authority->validate(jwt, now));
  state.SetItemsProcessed(state.iterations());
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SandboxTokenValidation);

}  // namespace
