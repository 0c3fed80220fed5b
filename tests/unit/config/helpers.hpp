// Helpers for the configuration tests: validate TOML text, find problems by key path, and collect
// everything a result could print.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace oauthmail::config::test {

inline constexpr const char* test_path = "/etc/oauthmail/test.toml";

inline load_result check(std::string_view text, unsigned mode = 0600) { return load_text(text, test_path, mode); }

// Every problem, one per line, as config check prints them.
inline std::string all_problems(const load_result& r) {
  std::string out;
  for (const auto& p : r.problems) out += p.to_string() + "\n";
  return out;
}

// The problems whose key path is `key`.
inline std::vector<problem> problems_for(const load_result& r, std::string_view key) {
  std::vector<problem> out;
  for (const auto& p : r.problems) {
    if (p.key == key) out.push_back(p);
  }
  return out;
}

// Exactly one problem, for `key`, whose message contains `needle`; returns it.
inline problem only_problem(const load_result& r, std::string_view key, std::string_view needle) {
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.problems.size(), 1U) << all_problems(r);
  const auto found = problems_for(r, key);
  if (found.empty()) {
    ADD_FAILURE() << "no problem for " << key << "\n" << all_problems(r);
    return {};
  }
  EXPECT_NE(found.front().message.find(needle), std::string::npos)
      << "expected \"" << needle << "\" in: " << found.front().message;
  return found.front();
}

inline const account& only_account(const load_result& r) {
  if (!r.config || r.config->accounts.size() != 1) {
    ADD_FAILURE() << "expected one valid account\n" << all_problems(r);
    static const account none;
    return none;
  }
  return r.config->accounts.front();
}

}  // namespace oauthmail::config::test
