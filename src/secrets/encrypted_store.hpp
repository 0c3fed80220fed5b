// The token cache on disk: a file of named entries (account key -> serialized token), encrypted
// with AES-256-GCM (OpenSSL EVP), mode 0600, written atomically (temporary file in the same
// directory, fchmod 0600, write, fsync, rename, fsync of the directory). An advisory lock file
// (flock on PATH.lock) lets several processes on one host share it: one renews, the others wait
// and reuse.
// The key (store_key): 32 octets used directly (a key file, or token_cache.key holding 32 random
// octets, raw or as hex / base64), or a passphrase from which the AES-256 key is derived with
// Argon2id (libsodium crypto_pwhash, RFC 9106) and a random salt kept in the file's header.
// File format, version 1 (a key used directly):
//   "OAMTOK1\0" (8 octets) | version (1 octet, 1) | nonce (12 random octets, new on every save) |
//   AES-256-GCM ciphertext of a JSON object {"name": "value", ...} | tag (16 octets)
//   The additional authenticated data is the magic and the version, so every octet is covered.
// File format, version 2 (a key derived from a passphrase):
//   "OAMTOK1\0" | version (1 octet, 2) | KDF (1 octet, 1 = Argon2id v1.3) | opslimit (4 octets,
//   big-endian) | memlimit in KiB (4 octets, big-endian) | salt (16 octets) | nonce | ciphertext | tag
//   The additional authenticated data is everything before the nonce. A salt is drawn when the file
//   is first written with the passphrase and kept afterwards (so one derivation per process).
// Migration: a version-1 file written by an earlier release with a passphrase (whose key was the
// passphrase's SHA-256, or the value itself when it had 32 octets) is read with store_key::legacy
// and written in the current format by the next save(); no cached refresh token is lost.
// A file that was tampered with, truncated, or is read with the wrong key is an error that says so
// (class needs_human); it is never silently replaced: save() refuses to overwrite a file it cannot
// decrypt, so a refresh token is never thrown away.
// Must not: write a plaintext entry anywhere (plaintext buffers are wiped); log entry values; leave
// a partial file behind; follow the key into an error message.
// Standards: NIST SP 800-38D (GCM), RFC 9106 (Argon2), RFC 8259 (JSON), RFC 4648 (hex, base64).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

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

// Argon2id cost for passphrase-derived keys (libsodium's "interactive" level: 2 passes over 64 MiB,
// about 0.1 s), written into every version-2 file. Files may ask for more, up to the maxima.
struct kdf_cost {
  std::uint32_t opslimit = 2;
  std::uint32_t memlimit_kib = 64 * 1024;
};
inline constexpr std::uint32_t max_kdf_opslimit = 16;
inline constexpr std::uint32_t max_kdf_memlimit_kib = 1024 * 1024;  // 1 GiB

// How the cache's AES-256 key is had.
struct store_key {
  enum class kind { direct, passphrase };
  kind type = kind::direct;
  core::secret<std::string> value;  // the 32-octet key, or the passphrase
  // Keys a version-1 file may have been written with by an earlier release (tried after `value`
  // for direct keys, instead of it for passphrases).
  std::vector<core::secret<std::string>> legacy;
  kdf_cost cost;  // for new version-2 files (tests lower it)

  static store_key direct(core::secret<std::string> key);
  static store_key passphrase(core::secret<std::string> passphrase, std::vector<core::secret<std::string>> legacy = {});
};

// token_cache.key's value as a store key:
//  - 64 hexadecimal digits, or base64 / base64url (padding optional) of exactly 32 octets: those 32
//    octets, directly (`openssl rand -hex 32`, `openssl rand -base64 32`);
//  - 32 octets that are not all printable ASCII (a binary key file): directly;
//  - anything else (a passphrase, including one of 32 printable characters): Argon2id.
// Earlier releases used a 32-octet value directly and hashed any other with SHA-256; those keys are
// the `legacy` keys, so that their caches stay readable and are rewritten in the new format.
// Errors: an empty value (bad_key, needs_human).
core::result<store_key> store_key_from_setting(const core::secret<std::string>& value);

class encrypted_store {
 public:
  // `key` must be 32 bytes (AES-256), used directly.
  encrypted_store(std::string path, core::secret<std::string> key);
  encrypted_store(std::string path, store_key key);
  ~encrypted_store();
  encrypted_store(encrypted_store&&) noexcept;
  encrypted_store& operator=(encrypted_store&&) noexcept;

  // Reads all entries. A missing file is an empty store, not an error.
  core::result<store_entries> load() const;
  // Replaces the file atomically with these entries, in the current format for this key (version 1
  // for a direct key, 2 for a passphrase). Refuses (cannot_decrypt) when the file that is there
  // cannot be decrypted with this key: a person must move it away first.
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
  struct keys;  // the key specification and the keys derived from it (thread-safe cache)
  void remove_stale_temporaries() const;
  std::string path_;
  std::unique_ptr<keys> keys_;
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
