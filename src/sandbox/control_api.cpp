#include "sandbox/control_api.hpp"

#include <charconv>

namespace oauthmail::sandbox {
namespace {

http_response error_response(int status, std::string_view error, std::string message) {
  return http_response::json(
      status, boost::json::serialize(boost::json::object{{"error", error}, {"message", std::move(message)}}));
}

http_response method_not_allowed(std::string_view allowed) {
  auto r = error_response(405, "method_not_allowed", "this path accepts " + std::string(allowed));
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

std::optional<boost::json::object> parse_object(const std::string& body, std::string& problem) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec) {
    problem = "the body is not JSON (" + ec.message() + ")";
    return std::nullopt;
  }
  if (!v.is_object()) {
    problem = "the body must be a JSON object";
    return std::nullopt;
  }
  return std::move(v.as_object());
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

}  // namespace

std::optional<http_response> control_api::handle(const http_request& request, wall_clock::time_point now) {
  const auto path = request.path();
  if (!path.starts_with("/api/")) return std::nullopt;
  const bool get = request.method == "GET";

  if (path == "/api/health") {
    return get ? http_response::json(200, R"({"status":"ok"})") : method_not_allowed("GET");
  }
  if (path == "/api/messages" || path.starts_with("/api/messages/")) return messages(request);
  if (path == "/api/faults") return faults(request);
  if (path == "/api/settings") return settings(request);
  if (path == "/api/counters") {
    if (!get) return method_not_allowed("GET");
    return http_response::json(200, boost::json::serialize(boost::json::object{{"token_endpoint", idp_.counters()},
                                                                               {"smtp", policy_.counters()}}));
  }
  if (path == "/api/device/approve") {
    if (request.method != "POST") return method_not_allowed("POST");
    std::string problem;
    auto body = parse_object(request.body, problem);
    if (!body) return error_response(400, "invalid_request", problem);
    const auto* code = body->if_contains("user_code");
    const auto* mailbox = body->if_contains("mailbox");
    const auto* approve = body->if_contains("approve");
    if (code == nullptr || !code->is_string() || mailbox == nullptr || !mailbox->is_string()) {
      return error_response(
          400, "invalid_request",
          R"(give "user_code" and "mailbox" as strings, e.g. {"user_code":"WDJB-MJHT","mailbox":"sender@contoso.test"})");
    }
    if (approve != nullptr && !approve->is_bool()) {
      return error_response(400, "invalid_request", R"("approve" must be true or false)");
    }
    auto done =
        idp_.approve_device(code->as_string(), mailbox->as_string(), approve == nullptr || approve->as_bool(), now);
    if (!done) return error_response(400, "invalid_request", done.error().message());
    return http_response::json(200, R"({"status":"done"})");
  }
  if (path == "/api/revoke-sessions") {
    if (request.method != "POST") return method_not_allowed("POST");
    std::string problem;
    auto body = parse_object(request.body, problem);
    const auto* mailbox = body ? body->if_contains("mailbox") : nullptr;
    if (mailbox == nullptr || !mailbox->is_string()) {
      return error_response(400, "invalid_request", body ? R"(give "mailbox" as a string)" : problem);
    }
    idp_.revoke_user_sessions(mailbox->as_string());
    return http_response::json(200, R"({"status":"done"})");
  }
  if (path == "/api/reset-quotas") {
    if (request.method != "POST") return method_not_allowed("POST");
    policy_.reset_quotas();
    return http_response::json(200, R"({"status":"done"})");
  }
  return error_response(404, "not_found", "no such API path; see `oauthmail sandbox --help`");
}

http_response control_api::messages(const http_request& request) {
  const auto path = request.path();
  if (path == "/api/messages") {
    if (request.method == "DELETE") {
      if (auto ok = store_.clear(); !ok) return error_response(500, "storage", ok.error().message());
      return http_response::json(200, R"({"status":"deleted"})");
    }
    if (request.method != "GET") return method_not_allowed("GET, DELETE");
    const bool with_raw = request.query_parameter("raw").value_or("0") == "1";
    auto list = store_.list(1000, with_raw);
    if (!list) return error_response(500, "storage", list.error().message());
    boost::json::array out;
    for (const auto& m : *list) out.push_back(to_json(m, with_raw));
    return http_response::json(200, boost::json::serialize(boost::json::object{{"messages", std::move(out)}}));
  }
  if (request.method != "GET") return method_not_allowed("GET");
  const auto id = parse_id(path.substr(std::string_view("/api/messages/").size()));
  if (!id) return error_response(400, "invalid_request", "a message id is a positive number, e.g. /api/messages/1");
  auto found = store_.get(*id);
  if (!found) return error_response(500, "storage", found.error().message());
  if (!*found) return error_response(404, "not_found", "no message with id " + std::to_string(*id));
  return http_response::json(200, boost::json::serialize(to_json(**found, true)));
}

http_response control_api::faults(const http_request& request) {
  if (request.method == "GET") return http_response::json(200, boost::json::serialize(to_json(faults_.plan())));
  if (request.method == "DELETE") {
    faults_.clear();
    return http_response::json(200, boost::json::serialize(to_json(faults_.plan())));
  }
  if (request.method != "PUT" && request.method != "POST") return method_not_allowed("GET, PUT, POST, DELETE");
  boost::system::error_code ec;
  auto v = boost::json::parse(request.body, ec);
  if (ec) return error_response(400, "invalid_request", "the body is not JSON (" + ec.message() + ")");
  auto plan = parse_fault_plan(v);
  if (!plan) return error_response(400, "invalid_request", plan.error().message());
  if (request.method == "PUT") {
    faults_.replace(std::move(*plan));
  } else {
    faults_.add(std::move(*plan));
  }
  return http_response::json(200, boost::json::serialize(to_json(faults_.plan())));
}

http_response control_api::settings(const http_request& request) {
  if (request.method != "PUT") return method_not_allowed("PUT");
  std::string problem;
  auto body = parse_object(request.body, problem);
  if (!body) return error_response(400, "invalid_request", problem);
  // Validate everything before changing anything: a bad request changes nothing.
  auto seconds_of = [&](std::string_view key, std::int64_t min) -> std::optional<std::optional<std::int64_t>> {
    const auto* v = body->if_contains(key);
    if (v == nullptr) return std::optional<std::int64_t>{};
    if (!v->is_int64() || v->as_int64() < min) return std::nullopt;
    return std::optional<std::int64_t>(v->as_int64());
  };
  auto lifetime = seconds_of("access_token_lifetime", 1);
  auto refuse = seconds_of("refuse_tokens_expiring_within", 0);
  auto per_minute = seconds_of("messages_per_minute", 0);
  auto per_message = seconds_of("recipients_per_message", 1);
  auto per_day = seconds_of("recipients_per_day", 0);
  auto concurrent = seconds_of("concurrent_connections_per_mailbox", 0);
  if (!lifetime) return error_response(400, "invalid_request", "access_token_lifetime: seconds, at least 1");
  if (!refuse) return error_response(400, "invalid_request", "refuse_tokens_expiring_within: seconds, 0 or more");
  if (!per_minute || !per_message || !per_day || !concurrent) {
    return error_response(400, "invalid_request",
                          "messages_per_minute, recipients_per_message, recipients_per_day and "
                          "concurrent_connections_per_mailbox are whole numbers (0 = unlimited, except "
                          "recipients_per_message)");
  }
  for (const auto& [key, value] : *body) {
    static constexpr std::string_view known[] = {"access_token_lifetime", "refuse_tokens_expiring_within",
                                                 "messages_per_minute",   "recipients_per_message",
                                                 "recipients_per_day",    "concurrent_connections_per_mailbox"};
    if (std::find(std::begin(known), std::end(known), key) == std::end(known)) {
      return error_response(400, "invalid_request", "unknown setting \"" + std::string(key) + "\"");
    }
  }
  if (*lifetime) idp_.set_access_token_lifetime(std::chrono::seconds(**lifetime));
  auto& p = policy_.mutable_profile();
  if (*refuse) p.refuse_tokens_expiring_within = std::chrono::seconds(**refuse);
  if (*per_minute) p.messages_per_minute = static_cast<std::size_t>(**per_minute);
  if (*per_message) p.recipients_per_message = static_cast<std::size_t>(**per_message);
  if (*per_day) p.recipients_per_day = static_cast<std::size_t>(**per_day);
  if (*concurrent) p.concurrent_connections_per_mailbox = static_cast<std::size_t>(**concurrent);
  return http_response::json(200, R"({"status":"done"})");
}

}  // namespace oauthmail::sandbox
