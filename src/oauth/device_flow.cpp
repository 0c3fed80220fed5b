#include "oauth/device_flow.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "oauth/detail/secure_json.hpp"
#include "oauth/errors.hpp"

namespace oauthmail::oauth {

namespace {

using namespace std::chrono_literals;
using core::failure_class;

constexpr auto max_interval = std::chrono::seconds(300);
constexpr auto max_expires = std::chrono::seconds(24 * 3600);

std::optional<std::int64_t> seconds_of(const boost::json::value& v) {
  if (const auto* i = v.if_int64()) return *i;
  if (const auto* u = v.if_uint64()) return *u > 1'000'000'000ULL ? std::nullopt : std::optional<std::int64_t>(*u);
  if (const auto* d = v.if_double()) {
    if (!(*d >= 0 && *d < 1e9)) return std::nullopt;
    return static_cast<std::int64_t>(*d);
  }
  if (const auto* s = v.if_string()) {
    std::int64_t out = 0;
    const auto r = std::from_chars(s->data(), s->data() + s->size(), out);
    if (r.ec != std::errc() || r.ptr != s->data() + s->size()) return std::nullopt;
    return out;
  }
  return std::nullopt;
}

std::string text_of(const boost::json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key)) {
    if (const auto* s = v->if_string()) return std::string(*s);
  }
  return {};
}

core::error malformed(std::string what) {
  return make_error(oauth_errc::malformed_response,
                    "the device authorization answer is unusable: " + what +
                        ". Fix: check device_authorization_endpoint; if it is right, try again later",
                    failure_class::protocol);
}

std::string login_fix(const diagnosis_context& ctx) {
  return "run `oauthmail account login " + (ctx.account.empty() ? std::string("NAME") : ctx.account) + "` again";
}

}  // namespace

std::string device_authorization::instructions() const {
  if (!message.empty()) return message;
  std::string s = "To sign in, open " + verification_uri + " in a browser and enter the code " + user_code + ".";
  if (verification_uri_complete) s += " (Or open " + *verification_uri_complete + ".)";
  return s;
}

core::result<device_authorization> parse_device_authorization(const http_response& r, const diagnosis_context& ctx) {
  if (auto err = parse_error_response(r, wall_clock::time_point{})) {
    core::error e = error_outcome(std::move(*err), ctx).to_error();
    return make_error(oauth_errc::device_flow_failed, e.message(), e.classification());
  }
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(r.body, ec, detail::secure_storage());
  if (ec || !doc.is_object()) return malformed("not a JSON object");
  const auto& o = doc.get_object();
  device_authorization a;
  const std::string device_code = text_of(o, "device_code");
  a.user_code = text_of(o, "user_code");
  a.verification_uri = text_of(o, "verification_uri");
  if (a.verification_uri.empty()) a.verification_uri = text_of(o, "verification_url");  // Google
  if (device_code.empty() || a.user_code.empty() || a.verification_uri.empty()) {
    return malformed("device_code, user_code or verification_uri is missing");
  }
  a.device_code = core::secret<std::string>(device_code);
  if (std::string complete = text_of(o, "verification_uri_complete"); !complete.empty()) {
    a.verification_uri_complete = std::move(complete);
  }
  if (const auto* v = o.if_contains("expires_in"); v != nullptr && !v->is_null()) {
    const auto s = seconds_of(*v);
    if (!s || *s <= 0) return malformed("expires_in is not a positive number of seconds");
    a.expires_in = std::min(std::chrono::seconds(*s), max_expires);
  }
  if (const auto* v = o.if_contains("interval"); v != nullptr && !v->is_null()) {
    const auto s = seconds_of(*v);
    if (!s || *s < 0) return malformed("interval is not a number of seconds");
    a.interval = std::clamp(std::chrono::seconds(*s), std::chrono::seconds(1), max_interval);
  }
  a.message = text_of(o, "message");
  if (a.message.size() > 1000) a.message.resize(1000);
  return a;
}

core::error device_poller::failed::to_error() const {
  grant_outcome o;
  o.diagnosis = diagnosis;
  o.error = error;
  core::error e = o.to_error();
  return make_error(oauth_errc::device_flow_failed, e.message(), e.classification());
}

device_poller::device_poller(device_authorization authorization, wall_clock::time_point started,
                             std::vector<std::string> requested_scopes, diagnosis_context context)
    : auth_(std::move(authorization)),
      scopes_(std::move(requested_scopes)),
      context_(std::move(context)),
      interval_(auth_.interval),
      expires_at_(started + auth_.expires_in),
      next_poll_(started + auth_.interval) {}

void device_poller::fail(oauth_diagnosis d, std::optional<oauth_error> e) {
  final_ = failed{std::move(d), std::move(e)};
}

device_poller::action device_poller::next(wall_clock::time_point now) {
  if (final_) return *final_;
  if (now >= expires_at_) {
    fail({failure_class::needs_human, "the device code expired before the sign-in was completed",
          login_fix(context_) + " and finish signing in within the time shown"});
    return *final_;
  }
  if (now < next_poll_) return wait_until{std::min(next_poll_, expires_at_)};
  return poll{};
}

void device_poller::on_transport_failure(wall_clock::time_point now) {
  if (!final_) next_poll_ = now + interval_;
}

void device_poller::on_poll_response(const http_response& response, wall_clock::time_point now) {
  if (final_) return;
  ++polls_;
  diagnosis_context ctx = context_;
  ctx.flow = config::flow_kind::device_code;
  ctx.sent_secrets.push_back(&auth_.device_code);
  grant_outcome out = evaluate_token_response(response, now, scopes_, ctx);
  ctx.sent_secrets.pop_back();
  if (out.tokens) {
    final_ = done{std::move(*out.tokens)};
    return;
  }
  if (!out.error) {  // a 2xx answer that is not a token response
    fail(std::move(out.diagnosis));
    return;
  }
  const std::string& code = out.error->error;
  if (code == "authorization_pending") {
    next_poll_ = now + interval_;
    return;
  }
  if (code == "slow_down") {
    interval_ = std::min(interval_ + 5s, max_interval);  // RFC 8628 §3.5: for this and all later requests
    next_poll_ = now + interval_;
    return;
  }
  if (code == "access_denied" || code == "authorization_declined") {
    fail({failure_class::needs_human, "the sign-in was declined (the user refused, or a policy denied it)",
          login_fix(context_) + " and accept the request, or ask the administrator"},
         std::move(out.error));
    return;
  }
  if (code == "expired_token") {
    fail({failure_class::needs_human, "the device code expired before the sign-in was completed",
          login_fix(context_) + " and finish signing in within the time shown"},
         std::move(out.error));
    return;
  }
  if (code == "bad_verification_code") {
    fail({failure_class::needs_human, "the provider did not recognise the device code", login_fix(context_)},
         std::move(out.error));
    return;
  }
  if (out.diagnosis.klass == failure_class::transient) {
    next_poll_ = now + std::max(interval_, out.error->retry_after.value_or(0s));
    return;
  }
  fail(std::move(out.diagnosis), std::move(out.error));
}

}  // namespace oauthmail::oauth
