#include "integration/support/message_check.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace oauthmail::testing {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

boost::json::object parse_with_python(const fs::path& eml, const fs::path& work_dir) {
  auto r = run_program({system_python, std::string(OAUTHMAIL_PEERS_DIR) + "/parse_message.py", eml.string()}, work_dir,
                       std::nullopt, 60s, {"PYTHONNOUSERSITE=1", "PYTHONDONTWRITEBYTECODE=1"});
  if (r.exit_code != 0) throw std::runtime_error("parse_message.py failed: " + r.err);
  return boost::json::parse(r.out).as_object();
}

std::vector<std::string> header_values(const boost::json::object& parsed, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& h : parsed.at("headers").as_array()) {
    const auto& pair = h.as_array();
    if (iequal(pair.at(0).as_string(), name)) out.emplace_back(pair.at(1).as_string());
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> addresses(const boost::json::object& parsed, std::string_view name) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, list] : parsed.at("addresses").as_object()) {
    if (!iequal(key, name)) continue;
    for (const auto& a : list.as_array()) {
      out.emplace_back(std::string(a.as_array().at(0).as_string()), std::string(a.as_array().at(1).as_string()));
    }
  }
  return out;
}

std::string sha256_hex_of_file(const fs::path& file, const fs::path& work_dir) {
  auto r = run_program({"openssl", "dgst", "-sha256", "-r", file.string()}, work_dir);
  if (r.exit_code != 0) throw std::runtime_error("openssl dgst failed: " + r.err);
  return r.out.substr(0, r.out.find(' '));
}

}  // namespace oauthmail::testing
