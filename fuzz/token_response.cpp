// Fuzz target: oauth::evaluate_token_response / parse_token_response / parse_error_response, the
// device authorization parser and the device poller, over arbitrary statuses, headers and bodies.
// Input layout: bytes 0-1 the HTTP status (100 + n % 500), byte 2 flags (bit 0: a Retry-After
// header whose value is the body's first line; bits 1-2: provider; bits 3-4: flow), rest the body.
// Invariants: exactly one of tokens / failure; a token has a non-empty access token and
// expires_at >= obtained_at; a failure has a class, a message without control characters, bounded
// in length, and never containing the secret we "sent"; 5xx and 429 are transient; the result form
// agrees with the outcome form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "oauth/device_flow.hpp"
#include "oauth/responses.hpp"

namespace {

using namespace oauthmail;

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view sent_secret = "FUZZSECRET-9f8e7d6c5b4a";

void check_message(const std::string& m) {
  check(!m.empty());
  check(m.size() < 4000);
  for (const char c : m) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F);
  check(m.find(sent_secret) == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  oauth::http_response r;
  r.status = 100 + ((data[0] << 8) | data[1]) % 500;
  const std::uint8_t flags = data[2];
  std::string_view body(reinterpret_cast<const char*>(data + 3), size - 3);
  if ((flags & 1) != 0) {
    const auto nl = body.find('\n');
    r.headers.emplace_back("retry-after", std::string(body.substr(0, nl)));
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
  }
  r.body = std::string(body);

  const core::secret<std::string> secret{std::string(sent_secret)};
  oauth::diagnosis_context ctx;
  ctx.account = "fuzz";
  ctx.provider = static_cast<config::provider_kind>((flags >> 1) & 3);
  ctx.flow = static_cast<config::flow_kind>((flags >> 3) & 3);
  ctx.sent_secrets.push_back(&secret);

  const auto now = oauth::wall_clock::time_point(std::chrono::seconds(1700000000));
  const std::vector<std::string> scopes = {"https://outlook.office.com/SMTP.Send"};
  const oauth::grant_outcome o = oauth::evaluate_token_response(r, now, scopes, ctx);
  if (o.tokens) {
    check(!o.error);
    check(o.diagnosis.klass == core::failure_class::none);
    check(!o.tokens->access_token.empty());
    check(o.tokens->expires_at >= o.tokens->obtained_at);
  } else {
    check(o.diagnosis.klass != core::failure_class::none);
    const core::error e = o.to_error();
    check_message(e.message());
    if (o.error) {
      check_message(oauth::provider_detail(*o.error));
      if (r.status >= 500 || r.status == 429) check(o.diagnosis.klass == core::failure_class::transient);
      if (o.error->retry_after) check(o.error->retry_after->count() >= 0 && o.error->retry_after->count() <= 86400);
    }
  }
  const auto res = oauth::parse_token_response(r, now, scopes, ctx);
  check(res.has_value() == o.ok());

  // The device flow over the same answer.
  const auto auth = oauth::parse_device_authorization(r, ctx);
  if (!auth) check_message(auth.error().message());
  oauth::device_authorization a;
  a.device_code = core::secret<std::string>(std::string(sent_secret));
  a.user_code = "U";
  a.verification_uri = "https://v";
  oauth::device_poller p(std::move(a), now, scopes, ctx);
  p.on_poll_response(r, now + std::chrono::seconds(5));
  const auto next = p.next(now + std::chrono::seconds(5));
  if (const auto* f = std::get_if<oauth::device_poller::failed>(&next)) {
    check_message(f->to_error().message());
  } else if (const auto* w = std::get_if<oauth::device_poller::wait_until>(&next)) {
    check(w->when > now);
  }
  return 0;
}
