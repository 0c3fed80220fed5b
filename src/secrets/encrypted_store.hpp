// The token cache on disk: a file of named entries (account key -> serialized token), encrypted
// with AES-256-GCM (OpenSSL EVP), mode 0600, written atomically (temporary file in the same
// directory, fsync, rename, fsync of the directory). An advisory lock file (flock) lets several
// processes on one host share it: one renews, the others wait and reuse.
// A file that was tampered with, truncated, or is read with the wrong key is an error that says so
// (class needs_human); it is never silently replaced, so a refresh token is never thrown away.
// Must not: write a plaintext entry anywhere; log entry values; leave a partial file behind.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "core/secret.hpp"

namespace oauthmail::secrets {

using store_entries = std::map<std::string, core::secret<std::string>>;

class encrypted_store {
 public:
  // `key` must be 32 bytes (AES-256).
  encrypted_store(std::string path, core::secret<std::string> key);

  // Reads all entries. A missing file is an empty store, not an error.
  core::result<store_entries> load() const;
  // Replaces the file atomically with these entries.
  core::result<void> save(const store_entries& entries) const;

  // An exclusive advisory lock on PATH.lock, held while the object lives. Waits up to `timeout`.
  class lock {
   public:
    lock(lock&&) noexcept;
    lock& operator=(lock&&) noexcept;
    ~lock();

   private:
    friend class encrypted_store;
    explicit lock(int fd) : fd_(fd) {}
    int fd_ = -1;
  };
  core::result<lock> lock_exclusive(std::chrono::milliseconds timeout) const;

  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  core::secret<std::string> key_;
};

// Reads a 32-byte key file, or creates one with random bytes (mode 0600, atomically) when it does
// not exist. A key file readable by group or others is refused.
core::result<core::secret<std::string>> load_or_create_key_file(const std::string& path);

}  // namespace oauthmail::secrets
