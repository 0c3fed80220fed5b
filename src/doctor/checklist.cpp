#include "doctor/checklist.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <stdexcept>

namespace oauthmail::doctor {

std::string_view to_string(step_id s) noexcept {
  switch (s) {
    case step_id::configuration:
      return "configuration";
    case step_id::secrets:
      return "secrets";
    case step_id::dns:
      return "dns";
    case step_id::tcp:
      return "tcp";
    case step_id::greeting:
      return "greeting";
    case step_id::tls:
      return "tls";
    case step_id::ehlo:
      return "ehlo";
    case step_id::token:
      return "token";
    case step_id::token_contents:
      return "token_contents";
    case step_id::auth:
      return "auth";
    case step_id::send_test:
      return "send_test";
  }
  return "unknown";
}

std::string_view title(step_id s) noexcept {
  switch (s) {
    case step_id::configuration:
      return "Configuration";
    case step_id::secrets:
      return "Secret references";
    case step_id::dns:
      return "DNS";
    case step_id::tcp:
      return "TCP connection";
    case step_id::greeting:
      return "SMTP greeting";
    case step_id::tls:
      return "TLS";
    case step_id::ehlo:
      return "EHLO";
    case step_id::token:
      return "Token";
    case step_id::token_contents:
      return "Token contents";
    case step_id::auth:
      return "SMTP AUTH";
    case step_id::send_test:
      return "Test message";
  }
  return "unknown";
}

std::string_view to_string(verdict v) noexcept {
  switch (v) {
    case verdict::pass:
      return "pass";
    case verdict::warn:
      return "warn";
    case verdict::fail:
      return "fail";
    case verdict::not_checked:
      return "not_checked";
  }
  return "unknown";
}

finding finding::passed(std::string detail, std::vector<std::string> facts) {
  finding f;
  f.status = verdict::pass;
  f.detail = std::move(detail);
  f.facts = std::move(facts);
  return f;
}

finding finding::warning(std::string detail, std::string fix, std::vector<std::string> facts) {
  finding f;
  f.status = verdict::warn;
  f.detail = std::move(detail);
  f.fix = std::move(fix);
  f.facts = std::move(facts);
  return f;
}

finding finding::failed(std::string detail, std::string fix, int exit_code, std::vector<std::string> facts) {
  finding f;
  f.status = verdict::fail;
  f.detail = std::move(detail);
  f.fix = std::move(fix);
  f.exit_code = exit_code;
  f.facts = std::move(facts);
  return f;
}

checklist::checklist(bool with_send_test) {
  for (step_id id : {step_id::configuration, step_id::secrets, step_id::dns, step_id::tcp, step_id::greeting,
                     step_id::tls, step_id::ehlo, step_id::token, step_id::token_contents, step_id::auth}) {
    steps_.push_back(step{id, verdict::not_checked, {}, {}, {}, 0});
  }
  if (with_send_test) steps_.push_back(step{step_id::send_test, verdict::not_checked, {}, {}, {}, 0});
}

void checklist::use_tls_mode(config::tls_setting mode) {
  auto greeting = std::find_if(steps_.begin(), steps_.end(), [](const step& s) { return s.id == step_id::greeting; });
  auto tls = std::find_if(steps_.begin(), steps_.end(), [](const step& s) { return s.id == step_id::tls; });
  if (greeting->status != verdict::not_checked || tls->status != verdict::not_checked) return;
  const bool tls_first = tls < greeting;
  if ((mode == config::tls_setting::implicit) != tls_first) std::iter_swap(greeting, tls);
}

void checklist::record(step_id id, finding f) {
  if (stopped()) return;
  step& s = find(id);
  s.status = f.status == verdict::not_checked ? verdict::pass : f.status;
  s.detail = std::move(f.detail);
  s.facts = std::move(f.facts);
  s.fix = std::move(f.fix);
  s.exit_code = s.status == verdict::fail ? (f.exit_code != 0 ? f.exit_code : 1) : 0;
}

const step* checklist::first_failure() const noexcept {
  for (const auto& s : steps_) {
    if (s.status == verdict::fail) return &s;
  }
  return nullptr;
}

bool checklist::stopped() const noexcept { return first_failure() != nullptr; }

int checklist::exit_code() const noexcept {
  const step* f = first_failure();
  return f ? f->exit_code : 0;
}

bool checklist::has(step_id id) const noexcept {
  return std::any_of(steps_.begin(), steps_.end(), [&](const step& s) { return s.id == id; });
}

const step& checklist::at(step_id id) const {
  for (const auto& s : steps_) {
    if (s.id == id) return s;
  }
  throw std::out_of_range("doctor::checklist: no step " + std::string(to_string(id)));
}

step& checklist::find(step_id id) {
  for (auto& s : steps_) {
    if (s.id == id) return s;
  }
  // A finding for a step that is not in the list (send_test without --send-test): add it.
  steps_.push_back(step{id, verdict::not_checked, {}, {}, {}, 0});
  return steps_.back();
}

namespace {

constexpr std::size_t title_width = 18;

std::string_view symbol(verdict v, bool unicode) {
  switch (v) {
    case verdict::pass:
      return unicode ? "\u2713" : "[ OK ]";
    case verdict::warn:
      return unicode ? "!" : "[WARN]";
    case verdict::fail:
      return unicode ? "\u2717" : "[FAIL]";
    case verdict::not_checked:
      return unicode ? "\u00b7" : "[ -- ]";
  }
  return "?";
}

}  // namespace

std::string render_step(const step& s, bool unicode) {
  const std::string_view sym = symbol(s.status, unicode);
  std::string out(sym);
  out += ' ';
  std::string name(title(s.id));
  if (name.size() < title_width) name.resize(title_width, ' ');
  out += name;
  out += ' ';
  // Continuation lines start under the detail.
  const std::size_t sym_columns = unicode ? 1 : sym.size();
  const std::string indent(sym_columns + 1 + title_width + 1, ' ');
  if (s.status == verdict::not_checked) {
    out += s.detail.empty() ? "not checked" : s.detail;
    out += '\n';
    return out;
  }
  out += s.detail;
  out += '\n';
  for (const auto& f : s.facts) out += indent + f + "\n";
  if (!s.fix.empty()) out += indent + "fix: " + s.fix + "\n";
  return out;
}

std::string render_summary(const checklist& c) {
  if (const step* f = c.first_failure()) {
    return "Stopped at " + std::string(title(f->id)) + " (exit status " + std::to_string(f->exit_code) + ").\n";
  }
  const bool warned =
      std::any_of(c.steps().begin(), c.steps().end(), [](const step& s) { return s.status == verdict::warn; });
  return warned ? "All checks passed, with warnings (see above).\n" : "All checks passed.\n";
}

std::string render_text(const checklist& c, bool unicode) {
  std::string out;
  for (const auto& s : c.steps()) out += render_step(s, unicode);
  return out + "\n" + render_summary(c);
}

boost::json::object to_json(const checklist& c) {
  boost::json::object out;
  out["ok"] = c.ok();
  out["exit_code"] = c.exit_code();
  boost::json::array steps;
  for (const auto& s : c.steps()) {
    boost::json::object o;
    o["step"] = to_string(s.id);
    o["title"] = title(s.id);
    o["status"] = to_string(s.status);
    o["detail"] = s.detail;
    boost::json::array facts;
    for (const auto& f : s.facts) facts.emplace_back(f);
    o["facts"] = std::move(facts);
    o["fix"] = s.fix;
    o["exit_code"] = s.exit_code;
    steps.emplace_back(std::move(o));
  }
  out["steps"] = std::move(steps);
  return out;
}

}  // namespace oauthmail::doctor
