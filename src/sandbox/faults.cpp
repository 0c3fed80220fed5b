#include "sandbox/faults.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.hpp"

namespace oauthmail::sandbox {

namespace {

constexpr std::array<std::pair<smtp_step, std::string_view>, 11> step_names{{
    {smtp_step::connect, "connect"},
    {smtp_step::greeting, "greeting"},
    {smtp_step::ehlo, "ehlo"},
    {smtp_step::starttls, "starttls"},
    {smtp_step::auth, "auth"},
    {smtp_step::mail, "mail"},
    {smtp_step::rcpt, "rcpt"},
    {smtp_step::data, "data"},
    {smtp_step::data_end, "data_end"},
    {smtp_step::rset, "rset"},
    {smtp_step::quit, "quit"},
}};

constexpr std::array<std::pair<smtp_fault::action, std::string_view>, 3> action_names{{
    {smtp_fault::action::drop, "drop"},
    {smtp_fault::action::delay, "delay"},
    {smtp_fault::action::reply, "reply"},
}};

constexpr std::array<std::pair<token_fault::kind, std::string_view>, 4> token_kind_names{{
    {token_fault::kind::server_error, "server_error"},
    {token_fault::kind::throttled, "throttled"},
    {token_fault::kind::invalid_grant, "invalid_grant"},
    {token_fault::kind::slow, "slow"},
}};

// Longest delay a fault may ask for: long enough for any client timeout test, short enough that
// a typo (seconds given as milliseconds * 1000) cannot park connections for hours.
constexpr std::int64_t max_delay_ms = 10 * 60 * 1000;

core::error bad(std::string where, std::string what) {
  return core::error(make_error_code(core::errc::invalid_argument), std::move(where) + ": " + std::move(what),
                     core::failure_class::permanent);
}

std::string list_of(auto const& names) {
  std::string out;
  for (const auto& [value, name] : names) {
    if (!out.empty()) out += " | ";
    out += name;
  }
  return out;
}

template <class Names, class T>
bool lookup(const Names& names, std::string_view name, T& out) {
  for (const auto& [value, n] : names) {
    if (n == name) {
      out = value;
      return true;
    }
  }
  return false;
}

template <class Names, class T>
std::string_view name_of(const Names& names, T value) {
  for (const auto& [v, n] : names) {
    if (v == value) return n;
  }
  return "?";
}

// An integer JSON value (also a float with an integral value, as JavaScript clients send them).
std::optional<std::int64_t> as_integer(const boost::json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) {
    if (v.as_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(v.as_uint64());
  }
  if (v.is_double()) {
    const double d = v.as_double();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::optional<double> as_number(const boost::json::value& v) {
  if (v.is_double()) return v.as_double();
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  return std::nullopt;
}

core::result<std::string_view> string_field(const boost::json::value& v, const std::string& where) {
  if (!v.is_string()) return bad(where, "must be a string");
  return std::string_view(v.as_string());
}

core::result<int> times_field(const boost::json::value& v, const std::string& where) {
  const auto n = as_integer(v);
  if (!n || (*n != -1 && *n < 1) || *n > std::numeric_limits<int>::max()) {
    return bad(where, "must be -1 (every time) or a whole number of times >= 1");
  }
  return static_cast<int>(*n);
}

core::result<double> rate_field(const boost::json::value& v, const std::string& where) {
  const auto r = as_number(v);
  if (!r || !std::isfinite(*r) || *r <= 0.0 || *r > 1.0) return bad(where, "must be a probability in (0, 1]");
  return *r;
}

core::result<std::chrono::milliseconds> delay_field(const boost::json::value& v, const std::string& where) {
  const auto n = as_integer(v);
  if (!n || *n < 0 || *n > max_delay_ms) {
    return bad(where, "must be a whole number of milliseconds from 0 to " + std::to_string(max_delay_ms));
  }
  return std::chrono::milliseconds(*n);
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// "NNN x.y.z text": NNN 400..599, the enhanced code's class equal to NNN's first digit
// (RFC 3463 §2), subject and detail of 1..3 digits, a non-empty one-line text.
std::optional<smtp::server_reply> parse_reply_text(std::string_view s) {
  if (s.size() < 4 || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) || s[3] != ' ') return std::nullopt;
  const int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  if (code < 400 || code > 599) return std::nullopt;
  std::string_view rest = s.substr(4);
  const auto space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view enhanced = rest.substr(0, space);
  const std::string_view text = rest.substr(space + 1);
  // class.subject.detail
  if (enhanced.size() < 5 || enhanced[0] != s[0] || enhanced[1] != '.') return std::nullopt;
  std::size_t pos = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (pos < enhanced.size() && is_digit(enhanced[pos])) {
      ++pos;
      ++digits;
    }
    if (digits == 0 || digits > 3) return std::nullopt;
    if (part == 0) {
      if (pos >= enhanced.size() || enhanced[pos] != '.') return std::nullopt;
      ++pos;
    }
  }
  if (pos != enhanced.size()) return std::nullopt;
  if (text.empty() || text.find_first_not_of(' ') == std::string_view::npos) return std::nullopt;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return std::nullopt;  // CR, LF, NUL, TAB...: one printable line
  }
  smtp::server_reply r;
  r.code = code;
  r.enhanced = std::string(enhanced);
  r.lines = {std::string(text)};
  return r;
}

std::string reply_text(const smtp::server_reply& r) {
  std::string out = std::to_string(r.code);
  if (!r.enhanced.empty()) out += " " + r.enhanced;
  std::string joined;
  for (const auto& line : r.lines) {
    if (!joined.empty()) joined += " ";
    joined += line;
  }
  out += " " + joined;
  return out;
}

core::result<smtp_fault> parse_smtp_fault(const boost::json::value& v, const std::string& where) {
  if (!v.is_object()) return bad(where, "must be an object with \"step\" and \"action\"");
  const auto& o = v.as_object();
  smtp_fault f;
  bool have_step = false;
  std::optional<smtp_fault::action> action;
  for (const auto& [key, value] : o) {
    const std::string at = where + "." + std::string(key);
    if (key == "step") {
      auto s = string_field(value, at);
      if (!s) return s.error();
      const auto step = parse_smtp_step(*s);
      if (!step) return bad(at, "unknown step \"" + std::string(*s) + "\" (one of " + list_of(step_names) + ")");
      f.step = *step;
      have_step = true;
    } else if (key == "action") {
      auto s = string_field(value, at);
      if (!s) return s.error();
      smtp_fault::action a{};
      if (!lookup(action_names, *s, a)) {
        return bad(at, "unknown action \"" + std::string(*s) + "\" (one of " + list_of(action_names) + ")");
      }
      action = a;
    } else if (key == "reply") {
      auto s = string_field(value, at);
      if (!s) return s.error();
      auto r = parse_reply_text(*s);
      if (!r) return bad(at, "must be \"NNN x.y.z text\" with NNN 400..599");
      f.reply = std::move(*r);
    } else if (key == "delay_ms") {
      auto d = delay_field(value, at);
      if (!d) return d.error();
      f.delay = *d;
    } else if (key == "times") {
      auto t = times_field(value, at);
      if (!t) return t.error();
      f.times = *t;
    } else if (key == "rate") {
      auto r = rate_field(value, at);
      if (!r) return r.error();
      f.rate = *r;
    } else {
      return bad(at, "unknown key (known: step, action, reply, delay_ms, times, rate)");
    }
  }
  if (!have_step) return bad(where + ".step", "missing (one of " + list_of(step_names) + ")");
  if (!action) {
    // Shorthand: a reply alone means "reply", a delay alone means "delay".
    if (f.reply) {
      action = smtp_fault::action::reply;
    } else if (o.contains("delay_ms")) {
      action = smtp_fault::action::delay;
    } else {
      return bad(where + ".action", "missing (one of " + list_of(action_names) + ")");
    }
  }
  f.what = *action;
  switch (f.what) {
    case smtp_fault::action::reply:
      if (!f.reply) return bad(where + ".reply", "missing: action \"reply\" needs \"reply\": \"NNN x.y.z text\"");
      break;
    case smtp_fault::action::delay:
      if (!o.contains("delay_ms")) return bad(where + ".delay_ms", "missing: action \"delay\" needs \"delay_ms\"");
      if (f.reply)
        return bad(where + ".reply", "not allowed with action \"delay\" (use action \"reply\" with delay_ms)");
      break;
    case smtp_fault::action::drop:
      if (f.reply) return bad(where + ".reply", "not allowed with action \"drop\"");
      break;
  }
  return f;
}

core::result<token_fault> parse_token_fault(const boost::json::value& v, const std::string& where) {
  if (!v.is_object()) return bad(where, "must be an object with \"kind\"");
  const auto& o = v.as_object();
  token_fault f;
  bool have_kind = false;
  for (const auto& [key, value] : o) {
    const std::string at = where + "." + std::string(key);
    if (key == "kind") {
      auto s = string_field(value, at);
      if (!s) return s.error();
      if (!lookup(token_kind_names, *s, f.what)) {
        return bad(at, "unknown kind \"" + std::string(*s) + "\" (one of " + list_of(token_kind_names) + ")");
      }
      have_kind = true;
    } else if (key == "retry_after") {
      const auto n = as_integer(value);
      if (!n || *n < 0 || *n > 86400) return bad(at, "must be a whole number of seconds from 0 to 86400");
      f.retry_after = std::chrono::seconds(*n);
    } else if (key == "delay_ms") {
      auto d = delay_field(value, at);
      if (!d) return d.error();
      f.delay = *d;
    } else if (key == "times") {
      auto t = times_field(value, at);
      if (!t) return t.error();
      f.times = *t;
    } else if (key == "rate") {
      auto r = rate_field(value, at);
      if (!r) return r.error();
      f.rate = *r;
    } else {
      return bad(at, "unknown key (known: kind, retry_after, delay_ms, times, rate)");
    }
  }
  if (!have_kind) return bad(where + ".kind", "missing (one of " + list_of(token_kind_names) + ")");
  if (o.contains("retry_after") && f.what != token_fault::kind::throttled) {
    return bad(where + ".retry_after", "only for kind \"throttled\"");
  }
  if (f.what == token_fault::kind::slow && !o.contains("delay_ms")) {
    return bad(where + ".delay_ms", "missing: kind \"slow\" needs \"delay_ms\"");
  }
  if (o.contains("delay_ms") && f.what != token_fault::kind::slow) {
    return bad(where + ".delay_ms", "only for kind \"slow\"");
  }
  return f;
}

// Decides whether an entry fires on this occasion: rate 1 always does (and draws nothing, so a
// plan without rates leaves the random sequence untouched).
bool draw(double rate, std::mt19937_64& random) {
  if (rate >= 1.0) return true;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  return uniform(random) < rate;
}

template <class Fault, class Match>
std::optional<Fault> fire(std::vector<Fault>& entries, std::mt19937_64& random, Match match) {
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (!match(*it)) continue;
    if (!draw(it->rate, random)) continue;
    Fault fired = *it;
    if (it->times > 0 && --it->times == 0) entries.erase(it);
    return fired;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(smtp_step s) noexcept { return name_of(step_names, s); }

std::optional<smtp_step> parse_smtp_step(std::string_view name) noexcept {
  smtp_step s{};
  if (lookup(step_names, name, s)) return s;
  return std::nullopt;
}

core::result<fault_plan> parse_fault_plan(const boost::json::value& v) {
  if (!v.is_object()) return bad("faults", "must be an object {\"smtp\": [...], \"token\": [...]}");
  fault_plan plan;
  for (const auto& [key, value] : v.as_object()) {
    if (key == "smtp") {
      if (!value.is_array()) return bad("smtp", "must be an array of fault entries");
      std::size_t i = 0;
      for (const auto& entry : value.as_array()) {
        auto f = parse_smtp_fault(entry, "smtp[" + std::to_string(i++) + "]");
        if (!f) return f.error();
        plan.smtp.push_back(std::move(*f));
      }
    } else if (key == "token") {
      if (!value.is_array()) return bad("token", "must be an array of fault entries");
      std::size_t i = 0;
      for (const auto& entry : value.as_array()) {
        auto f = parse_token_fault(entry, "token[" + std::to_string(i++) + "]");
        if (!f) return f.error();
        plan.token.push_back(std::move(*f));
      }
    } else {
      return bad(std::string(key), "unknown key (known: smtp, token)");
    }
  }
  return plan;
}

boost::json::object to_json(const fault_plan& plan) {
  boost::json::array smtp;
  for (const auto& f : plan.smtp) {
    boost::json::object o;
    o["step"] = to_string(f.step);
    o["action"] = name_of(action_names, f.what);
    if (f.reply) o["reply"] = reply_text(*f.reply);
    if (f.what == smtp_fault::action::delay || f.delay.count() > 0) o["delay_ms"] = f.delay.count();
    o["times"] = f.times;
    o["rate"] = f.rate;
    smtp.push_back(std::move(o));
  }
  boost::json::array token;
  for (const auto& f : plan.token) {
    boost::json::object o;
    o["kind"] = name_of(token_kind_names, f.what);
    if (f.what == token_fault::kind::throttled) o["retry_after"] = f.retry_after.count();
    if (f.what == token_fault::kind::slow) o["delay_ms"] = f.delay.count();
    o["times"] = f.times;
    o["rate"] = f.rate;
    token.push_back(std::move(o));
  }
  boost::json::object out;
  out["smtp"] = std::move(smtp);
  out["token"] = std::move(token);
  return out;
}

fault_registry::fault_registry(std::uint64_t seed) : random_(seed) {}

void fault_registry::replace(fault_plan plan) { plan_ = std::move(plan); }

void fault_registry::add(fault_plan plan) {
  for (auto& f : plan.smtp) plan_.smtp.push_back(std::move(f));
  for (auto& f : plan.token) plan_.token.push_back(std::move(f));
}

void fault_registry::clear() { plan_ = {}; }

std::optional<smtp_fault> fault_registry::fire_smtp(smtp_step step) {
  return fire(plan_.smtp, random_, [step](const smtp_fault& f) { return f.step == step; });
}

std::optional<token_fault> fault_registry::fire_token() {
  return fire(plan_.token, random_, [](const token_fault&) { return true; });
}

}  // namespace oauthmail::sandbox
