// The checklist of `oauthmail doctor`: the links of the path from a configured account to a
// delivered message, in the order they are crossed, each with a verdict (pass, warn, fail, not
// checked), what was found or what is wrong, facts worth showing, what to do, and — for a failure —
// the sysexits.h code. The walk stops at the first failure: later steps stay "not checked".
//
// Steps (wire order; with implicit TLS the handshake comes before the greeting):
//   configuration · secrets · dns · tcp · greeting · tls · ehlo · token · token_contents · auth ·
//   send_test (only with --send-test)
// Exit status: 0 when nothing failed (warnings allowed), else the code of the first failure.
// Rendering: text for people (✓ ! ✗ · in a UTF-8 terminal, [ OK ] [WARN] [FAIL] [ -- ] otherwise)
// and one JSON object.
// Must not: do I/O (the caller prints), hold a secret (steps hold only what diagnose_*() wrote).
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace oauthmail::doctor {

enum class step_id { configuration, secrets, dns, tcp, greeting, tls, ehlo, token, token_contents, auth, send_test };
std::string_view to_string(step_id s) noexcept;  // "configuration", "token_contents", ... (JSON "step")
std::string_view title(step_id s) noexcept;      // "Configuration", "Token contents", ... (for people)

enum class verdict { pass, warn, fail, not_checked };
std::string_view to_string(verdict v) noexcept;  // "pass", "warn", "fail", "not_checked"

struct step {
  step_id id = step_id::configuration;
  verdict status = verdict::not_checked;
  std::string detail;              // what was found, or what is wrong, in plain words
  std::vector<std::string> facts;  // further lines: versions, names, dates, likely causes
  std::string fix;                 // what to do (warn, fail); may be empty for a warning
  int exit_code = 0;               // sysexits.h code of a failure
};

// What a diagnosis says about one step.
struct finding {
  verdict status = verdict::pass;
  std::string detail;
  std::vector<std::string> facts;
  std::string fix;
  int exit_code = 0;

  static finding passed(std::string detail, std::vector<std::string> facts = {});
  static finding warning(std::string detail, std::string fix, std::vector<std::string> facts = {});
  static finding failed(std::string detail, std::string fix, int exit_code, std::vector<std::string> facts = {});
};

class checklist {
 public:
  // All steps not checked, in STARTTLS order; send_test only when asked for.
  explicit checklist(bool with_send_test = false);

  // Puts the network steps in the order of the account's TLS mode (implicit: tls before greeting).
  // Only before any network step was recorded.
  void use_tls_mode(config::tls_setting mode);

  // Records the finding of a step. After a failure nothing more is recorded (the walk stopped).
  void record(step_id id, finding f);

  bool stopped() const noexcept;  // a step failed
  bool ok() const noexcept { return !stopped(); }
  // 0 when no step failed, else the first failure's code.
  int exit_code() const noexcept;
  const step* first_failure() const noexcept;
  const step& at(step_id id) const;
  bool has(step_id id) const noexcept;
  const std::vector<step>& steps() const noexcept { return steps_; }

 private:
  step& find(step_id id);
  std::vector<step> steps_;
};

// One step as text lines for people, e.g.
//   "✓ TLS                 TLSv1.3, TLS_AES_256_GCM_SHA384; certificate ..."
//   "                      fix: ..."
// `unicode` chooses the symbols; every line ends with "\n".
std::string render_step(const step& s, bool unicode);
// The closing line: "All checks passed." (", with warnings") or "Stopped at <title> (exit status N)."
std::string render_summary(const checklist& c);
// Every step, an empty line, then the summary.
std::string render_text(const checklist& c, bool unicode);
// {"ok": bool, "exit_code": N, "steps": [{"step", "title", "status", "detail", "facts", "fix",
// "exit_code"}]}; the caller may add members (account, config).
boost::json::object to_json(const checklist& c);

}  // namespace oauthmail::doctor
