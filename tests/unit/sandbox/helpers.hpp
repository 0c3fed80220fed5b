// Helpers shared by the sandbox unit tests: a temporary folder removed at the end of a test.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "sandbox/pki.hpp"

namespace oauthmail::sandbox::testing {

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "oauthmail-sandbox-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

inline unsigned file_mode(const std::string& path) {
  return static_cast<unsigned>(std::filesystem::status(path).permissions()) & 0777u;
}

// Writes one RSA key, generated once per test process, to `path` (token_authority::open then
// loads it instead of generating a new one: tests stay fast).
inline void write_shared_signing_key(const std::string& path) {
  static const std::string pem = [] {
    auto k = make_rsa_key();
    if (!k) throw std::runtime_error(k.error().message());
    return *k;
  }();
  std::ofstream(path, std::ios::binary) << pem;
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace oauthmail::sandbox::testing
