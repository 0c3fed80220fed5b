// Fault injection for the sandbox, set at start (--faults FILE) or at run time through the HTTP
// API (PUT/POST/DELETE /api/faults): for SMTP, drop the connection, delay the reply, or answer
// with a given reply at a given step, every time, a number of times, or at a rate; for the token
// endpoint, HTTP 500, 429 with Retry-After, invalid_grant, or a slow answer.
//
// JSON form (also what GET /api/faults returns):
//   {"smtp": [{"step": "mail", "action": "reply", "reply": "451 4.7.500 Server busy. Please try again later.",
//              "times": 1, "rate": 1.0}],
//    "token": [{"kind": "throttled", "retry_after": 2, "times": 1}]}
// step: connect | greeting | ehlo | starttls | auth | mail | rcpt | data | data_end | rset | quit
// action: drop | delay (with "delay_ms") | reply (with "reply": "NNN x.y.z text")
// kind: server_error | throttled | invalid_grant | slow (with "delay_ms")
// times: how often it fires (absent or -1: every time); rate: probability per occasion (0..1].
// Must not: touch sockets or clocks; use a global random source (the caller passes one in).
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "smtp/server_session.hpp"

namespace oauthmail::sandbox {

enum class smtp_step { connect, greeting, ehlo, starttls, auth, mail, rcpt, data, data_end, rset, quit };
std::string_view to_string(smtp_step s) noexcept;
std::optional<smtp_step> parse_smtp_step(std::string_view name) noexcept;

struct smtp_fault {
  smtp_step step = smtp_step::mail;
  enum class action { drop, delay, reply } what = action::reply;
  std::chrono::milliseconds delay{0};
  std::optional<smtp::server_reply> reply;
  int times = -1;  // -1 = unlimited
  double rate = 1.0;
};

struct token_fault {
  enum class kind { server_error, throttled, invalid_grant, slow } what = kind::server_error;
  std::chrono::seconds retry_after{1};  // throttled
  std::chrono::milliseconds delay{0};   // slow
  int times = -1;
  double rate = 1.0;
};

struct fault_plan {
  std::vector<smtp_fault> smtp;
  std::vector<token_fault> token;
};

// Errors name the entry and the key: "smtp[0].reply: must be \"NNN x.y.z text\" with NNN 400..599".
core::result<fault_plan> parse_fault_plan(const boost::json::value& v);
boost::json::object to_json(const fault_plan& plan);

// The active plan. Not thread-safe: the sandbox runs one event loop.
class fault_registry {
 public:
  explicit fault_registry(std::uint64_t seed = std::random_device{}());
  void replace(fault_plan plan);
  void add(fault_plan plan);  // appends
  void clear();
  const fault_plan& plan() const noexcept { return plan_; }
  // The fault that fires now at `step` (counting it; exhausted entries are removed), if any.
  std::optional<smtp_fault> fire_smtp(smtp_step step);
  std::optional<token_fault> fire_token();

 private:
  fault_plan plan_;
  std::mt19937_64 random_;
};

}  // namespace oauthmail::sandbox
