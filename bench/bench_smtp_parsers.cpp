// Micro-benchmarks of the sans-I/O SMTP parsers and encoders (throughput in bytes/s):
//  - reply parsing on a realistic mix (greeting, multi-line EHLO, AUTH, pipelined MAIL/RCPT groups,
//    DATA), fed whole and in TCP-segment-sized pieces;
//  - DATA encoding (dot-stuffing, line-end canonicalisation) of a 5 KB and a 1 MB text message with
//    some leading dots, whole and in 64 KB chunks, plus LF-only text and the worst case of bare LFs.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <random>
#include <string>
#include <string_view>

#include "smtp/capabilities.hpp"
#include "smtp/data_encoder.hpp"
#include "smtp/reply.hpp"

namespace {

using namespace oauthmail::smtp;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

// One session's worth of server output, repeated to about `target` octets.
std::string reply_mix(std::size_t target) {
  const std::string session =
      "220 SC1PR80CA0174.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 27 Mar 2023 "
      "18:17:53 +0000\r\n"
      "250-SY5P282CA0097.outlook.office365.com Hello [172.105.184.101]\r\n"
      "250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n"
      "250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"
      "235 2.7.0 Authentication successful\r\n"
      "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n250 2.1.5 Recipient OK\r\n250 2.1.5 Recipient OK\r\n"
      "354 Start mail input; end with <CRLF>.<CRLF>\r\n"
      "250 2.0.0 OK <AM0PR01MB1234.eurprd01.prod.exchangelabs.com> "
      "[Hostname=AM0PR01MB1234.eurprd01.prod.outlook.com]\r\n"
      "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input; end with <CRLF>.<CRLF>\r\n"
      "250 2.0.0 OK queued as 4F2A1B3C\r\n"
      "221 2.0.0 Service closing transmission channel\r\n";
  std::string out;
  while (out.size() < target) out += session;
  return out;
}

std::size_t parse_all(reply_parser& parser, std::string_view input, std::size_t segment) {
  std::size_t replies = 0;
  while (!input.empty()) {
    std::string_view chunk = input.substr(0, segment);
    input.remove_prefix(chunk.size());
    while (!chunk.empty()) {
      auto step = parser.feed(chunk);
      if (!step) return 0;
      if (step->parsed) {
        ++replies;
        benchmark::DoNotOptimize(step->parsed->code);
      }
      chunk.remove_prefix(step->consumed);
    }
  }
  return replies;
}

void BM_ReplyParseMix(benchmark::State& state) {
  const std::string input = reply_mix(64 * KiB);
  const auto segment = static_cast<std::size_t>(state.range(0));
  std::size_t replies = 0;
  for (auto _ : state) {
    reply_parser parser;
    replies = parse_all(parser, input, segment);
    benchmark::DoNotOptimize(replies);
  }
  if (replies == 0) state.SkipWithError("parse failed");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
  state.counters["replies/s"] =
      benchmark::Counter(static_cast<double>(replies * state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReplyParseMix)->Arg(1 << 30)->Arg(1460)->Arg(64)->ArgName("segment");

void BM_EhloCapabilities(benchmark::State& state) {
  const std::string ehlo =
      "250-smtp.gmail.com at your service, [209.132.188.80]\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n"
      "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n250-ENHANCEDSTATUSCODES\r\n"
      "250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
  for (auto _ : state) {
    reply_parser parser;
    auto step = parser.feed(ehlo);
    capabilities caps = capabilities::parse(*step->parsed);
    benchmark::DoNotOptimize(caps.auth.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * ehlo.size()));
}
BENCHMARK(BM_EhloCapabilities);

// Plain-text mail: lines of 20-76 octets of words, every ~25th line starting with ".", ending
// with `eol`.
std::string text_message(std::size_t target, std::string_view eol) {
  static const char* const words[] = {"the",     "quarterly", "report",  "is",     "attached", "please",
                                      "review",  "numbers",   "before",  "Friday", "thanks",   "and",
                                      "regards", "meeting",   "agenda",  "of",     "invoice",  "2024",
                                      "for",     "project",   "status:", "done",   "pending",  "-"};
  std::mt19937 rng(1870);
  std::string out =
      "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: Quarterly report\r\n"
      "Date: Mon, 27 Mar 2023 18:17:53 +0000\r\nMessage-ID: <20230327181753.1234@example.com>\r\n"
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  std::size_t line = 0;
  while (out.size() < target) {
    std::string l = (++line % 25 == 0) ? "." : "";
    const std::size_t width = 20 + rng() % 57;
    while (l.size() < width) {
      if (!l.empty() && l != ".") l += ' ';
      l += words[rng() % (sizeof(words) / sizeof(words[0]))];
    }
    out += l;
    out += eol;
  }
  return out;
}

void encode_bench(benchmark::State& state, const std::string& msg, std::size_t chunk) {
  std::string out;
  out.reserve(msg.size() * 2 + 16);
  for (auto _ : state) {
    out.clear();
    data_encoder enc;
    for (std::size_t pos = 0; pos < msg.size(); pos += chunk) {
      if (!enc.encode(std::string_view(msg).substr(pos, chunk), out)) {
        state.SkipWithError("encode failed");
        return;
      }
    }
    enc.finish(out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * msg.size()));
  state.counters["out/in"] = static_cast<double>(out.size()) / static_cast<double>(msg.size());
}

void BM_DataEncodeText5KB(benchmark::State& state) {
  encode_bench(state, text_message(5 * KiB, "\r\n"), std::string::npos);
}
BENCHMARK(BM_DataEncodeText5KB);

void BM_DataEncodeText1MB(benchmark::State& state) {
  encode_bench(state, text_message(MiB, "\r\n"), static_cast<std::size_t>(state.range(0)));
}
BENCHMARK(BM_DataEncodeText1MB)->Arg(1 << 30)->Arg(64 * KiB)->ArgName("chunk");

void BM_DataEncodeLfText1MB(benchmark::State& state) {  // Unix line ends: every LF becomes CR LF
  encode_bench(state, text_message(MiB, "\n"), std::string::npos);
}
BENCHMARK(BM_DataEncodeLfText1MB);

void BM_DataEncodeBareLf1MB(benchmark::State& state) {  // worst case: every octet is a line end
  encode_bench(state, std::string(MiB, '\n'), std::string::npos);
}
BENCHMARK(BM_DataEncodeBareLf1MB);

void BM_DataEncodeBareCr1MB(benchmark::State& state) {  // bare CRs: each one a line end
  encode_bench(state, std::string(MiB, '\r'), std::string::npos);
}
BENCHMARK(BM_DataEncodeBareCr1MB);

void BM_DataEncodeDotLines1MB(benchmark::State& state) {  // ".\n" repeated: stuffing on every line
  std::string msg;
  while (msg.size() < MiB) msg += ".\n";
  encode_bench(state, msg, std::string::npos);
}
BENCHMARK(BM_DataEncodeDotLines1MB);

}  // namespace
