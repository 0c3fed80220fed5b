// The token cache on disk: a file of named entries (account key -> serialized token), encrypted
// with AES-256-GCM (OpenSSL EVP), mode 0600, written atomically (temporary file in the same
// directory, fchmod 0600, write, fsync, rename, fsync of the directory). An advisory lock file
// (flock on PATH.lock) lets several processes on one host share it: one renews, the others wait
// and reuse.
// File format (version 1):
//   "OAMTOK1\0" (8 octets) | version (1 octet, 1) | nonce (12 random octets, new on every save) |
//   AES-256-GCM ciphertext of a JSON object {"name": "value", ...} | tag (16 octets)
//   The additional authenticated data is the magic and the version, so every octet is covered.
// A file that was tampered with, truncated, or is read with the wrong key is an error that says so
// (class needs_human); it is never silently replaced: save() refuses to overwrite a file it cannot
// decrypt, so a refresh token is never thrown away.
// Must not: write a plaintext entry anywhere (plaintext buffers are wiped); log entry values; leave
// a partial file behind; follow the key into an error message.
// Standards: NIST SP 800-38D (GCM), RFC 8259 (JSON).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <system_error>

#include "core/result.hpp"
#include "core/secret.hpp"

namespace oauthmail::secrets {

using store_entries = std::map<std::string, core::secret<std::string>>;

enum class store_errc {
  cannot_decrypt = 1,  // wrong key, changed, truncated, or not a token cache (needs_human)
  io_failure,          // reading or writing the file or its directory failed
  lock_timeout,        // another process held the lock past the deadline (transient)
  bad_key,             // a key that is not 32 octets, or a key file that is not (needs_human)
  insecure_key_file,   // a key file readable by group or others (needs_human)
};
const std::error_category& store_category() noexcept;
std::error_code make_error_code(store_errc e) noexcept;

inline constexpr std::size_t store_key_octets = 32;
inline constexpr std::size_t max_store_file_octets = 16u << 20;  // 16 MiB

class encrypted_store {
 public:
  // `key` must be 32 bytes (AES-256).
  encrypted_store(std::string path, core::secret<std::string> key);

  // Reads all entries. A missing file is an empty store, not an error.
  core::result<store_entries> load() const;
  // Replaces the file atomically with these entries. Refuses (cannot_decrypt) when the file that is
  // there cannot be decrypted with this key: a person must move it away first.
  core::result<void> save(const store_entries& entries) const;

  // An exclusive advisory lock (flock) on PATH.lock (created 0600, O_CLOEXEC), held while the object
  // lives. Polls every 20 ms until `timeout`, then fails with lock_timeout (transient). The lock
  // belongs to the open file description: a child made with fork() and no exec shares it.
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
  void remove_stale_temporaries() const;
  std::string path_;
  core::secret<std::string> key_;
};

// Reads a 32-byte key file, or creates one with random bytes (RAND_bytes; mode 0600) when it does
// not exist. Creation is atomic and exclusive: the key is written to a temporary file that is
// linked to PATH only if PATH still does not exist (like O_EXCL), so no reader ever sees a partial
// key and two processes creating it at once end up with the same key. A key file that group or
// others may access is refused. The directory must exist.
core::result<core::secret<std::string>> load_or_create_key_file(const std::string& path);

}  // namespace oauthmail::secrets

template <>
struct std::is_error_code_enum<oauthmail::secrets::store_errc> : std::true_type {};
