// Every ```toml block of docs/configuration.md is a valid configuration file: the reference can
// never show an example that `oauthmail config check` refuses.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "unit/config/helpers.hpp"

namespace oauthmail::config::test {
namespace {

struct block {
  int line = 0;  // of the opening fence
  std::string text;
};

std::vector<block> toml_blocks(const std::string& path) {
  std::ifstream in(path);
  std::vector<block> out;
  std::string line;
  int number = 0;
  bool inside = false;
  while (std::getline(in, line)) {
    ++number;
    if (!inside && line == "```toml") {
      inside = true;
      out.push_back(block{number, {}});
    } else if (inside && line == "```") {
      inside = false;
    } else if (inside) {
      out.back().text += line + "\n";
    }
  }
  return out;
}

TEST(DocsExamples, EveryTomlBlockIsValid) {
  const std::string path = std::string(OAUTHMAIL_SOURCE_DIR) + "/docs/configuration.md";
  const auto blocks = toml_blocks(path);
  ASSERT_GE(blocks.size(), 7U) << "the examples of " << path;
  for (const auto& b : blocks) {
    const auto r = load_text(b.text, "docs/configuration.md:" + std::to_string(b.line), 0600);
    EXPECT_TRUE(r.config) << "the example at docs/configuration.md:" << b.line << "\n" << all_problems(r);
  }
}

}  // namespace
}  // namespace oauthmail::config::test
