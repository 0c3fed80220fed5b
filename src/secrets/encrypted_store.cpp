#include "secrets/encrypted_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "core/base64.hpp"

namespace oauthmail::secrets {

namespace {

using core::failure_class;

constexpr std::string_view magic{"OAMTOK1\0", 8};
constexpr unsigned char direct_key_version = 1;
constexpr unsigned char passphrase_version = 2;
constexpr unsigned char kdf_argon2id13 = 1;
constexpr std::size_t salt_octets = crypto_pwhash_argon2id_SALTBYTES;
constexpr std::size_t v1_header_octets = magic.size() + 1;
// magic | version | kdf | opslimit | memlimit (KiB) | salt
constexpr std::size_t v2_header_octets = magic.size() + 1 + 1 + 4 + 4 + salt_octets;
constexpr std::size_t nonce_octets = 12;
constexpr std::size_t tag_octets = 16;
static_assert(salt_octets == 16);
constexpr auto lock_poll_interval = std::chrono::milliseconds(20);

class store_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauthmail.token_store"; }
  std::string message(int ev) const override {
    switch (static_cast<store_errc>(ev)) {
      case store_errc::cannot_decrypt:
        return "token cache cannot be decrypted";
      case store_errc::io_failure:
        return "token cache input/output failure";
      case store_errc::lock_timeout:
        return "token cache lock not obtained in time";
      case store_errc::bad_key:
        return "token cache key is not usable";
      case store_errc::insecure_key_file:
        return "token cache key file is readable by others";
    }
    return "unknown token store error";
  }
};

core::error make_error(store_errc code, std::string message, failure_class cls) {
  return core::error(make_error_code(code), std::move(message), cls);
}

std::string errno_text(int e) { return std::strerror(e); }  // NOLINT(concurrency-mt-unsafe)

// Permission problems and missing directories need a person; the rest (disk full, I/O) may pass.
failure_class io_class(int e) {
  switch (e) {
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case ENAMETOOLONG:
      return failure_class::needs_human;
    default:
      return failure_class::transient;
  }
}

core::error io_error(std::string_view what, const std::string& path, int e) {
  return make_error(store_errc::io_failure, fmt::format("{} {}: {}.", what, path, errno_text(e)), io_class(e));
}

core::error cannot_decrypt(const std::string& path) {
  return make_error(store_errc::cannot_decrypt,
                    fmt::format("the token cache {} cannot be decrypted: it was changed, or the key is not the one it "
                                "was written with; it was left untouched. Restore the key (token_cache.key) or run "
                                "`oauthmail account login NAME` after moving the file away",
                                path),
                    failure_class::needs_human);
}

core::error cannot_decrypt_with_passphrase(const std::string& path) {
  return make_error(store_errc::cannot_decrypt,
                    fmt::format("the token cache {} cannot be decrypted: the passphrase in token_cache.key is not the "
                                "one it was written with, or the file was changed; it was left untouched. Restore "
                                "the passphrase, or run `oauthmail account login NAME` after moving the file away",
                                path),
                    failure_class::needs_human);
}

class fd_guard {
 public:
  explicit fd_guard(int fd = -1) noexcept : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool write_all(int fd, const unsigned char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

core::result<void> fsync_directory(const std::string& dir) {
  const fd_guard d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() < 0 || ::fsync(d.get()) != 0) return io_error("Cannot sync the directory", dir, errno);
  return {};
}

// A temporary file next to `path` (same directory, hence same file system for rename/link), mode
// 0600, holding `data`, flushed to disk. Its name goes to `tmp_name`; removed on failure.
core::result<void> write_temporary(const std::string& path, const unsigned char* data, std::size_t size,
                                   std::string& tmp_name) {
  tmp_name = path + ".tmp.XXXXXX";
  const fd_guard fd(::mkostemp(tmp_name.data(), O_CLOEXEC));
  if (fd.get() < 0) return io_error("Cannot create a temporary file next to", path, errno);
  int e = 0;
  if (::fchmod(fd.get(), 0600) != 0 || !write_all(fd.get(), data, size) || ::fsync(fd.get()) != 0) e = errno;
  if (e != 0) {
    ::unlink(tmp_name.c_str());
    return io_error("Cannot write a temporary file next to", path, e);
  }
  return {};
}

// Reads a whole regular file of at most `limit` octets. nullopt-like: `missing` set when ENOENT.
core::result<std::string> read_file(const std::string& path, std::size_t limit, bool& missing) {
  missing = false;
  const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      missing = true;
      return std::string();
    }
    return io_error("Cannot open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("Cannot examine", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return make_error(store_errc::io_failure, fmt::format("{} is not a regular file.", path),
                      failure_class::needs_human);
  }
  if (static_cast<std::size_t>(st.st_size) > limit) return cannot_decrypt(path);
  std::string data;
  data.resize(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t got = 0;
  for (;;) {
    const ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("Cannot read", path, errno);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
    if (got > limit) return cannot_decrypt(path);
    if (got == data.size()) data.resize(data.size() * 2);
  }
  data.resize(got);
  return data;
}

// ---- memory that held plaintext is wiped before it is freed ------------------------------------

class wiping_resource final : public boost::json::memory_resource {
  // Plain new/delete for the usual alignments, aligned ones beyond (unsized: clang 14 has no sized
  // aligned delete by default); both sides decide by the same `align`.
  void* do_allocate(std::size_t n, std::size_t align) override {
    if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator new(n);
    return ::operator new(n, std::align_val_t(align));
  }
  void do_deallocate(void* p, std::size_t n, std::size_t align) override {
    core::secure_wipe(p, n);
    if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      ::operator delete(p);
    } else {
      ::operator delete(p, std::align_val_t(align));
    }
  }
  bool do_is_equal(const memory_resource& other) const noexcept override { return this == &other; }
};

// ---- AES-256-GCM ---------------------------------------------------------------------------------

struct cipher_ctx_deleter {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter>;

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// What a file's header says: its format, the authenticated header octets and, for a passphrase
// file, how its key was derived.
struct file_header {
  unsigned char version = 0;
  std::string_view header;  // the additional authenticated data
  std::string salt;
  kdf_cost cost;
};

std::uint32_t read_u32(std::string_view s) {
  std::uint32_t v = 0;
  for (const char c : s.substr(0, 4)) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

void append_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string v1_header() {
  std::string h(magic);
  h.push_back(static_cast<char>(direct_key_version));
  return h;
}

std::string v2_header(std::string_view salt, const kdf_cost& cost) {
  std::string h(magic);
  h.push_back(static_cast<char>(passphrase_version));
  h.push_back(static_cast<char>(kdf_argon2id13));
  append_u32(h, cost.opslimit);
  append_u32(h, cost.memlimit_kib);
  h.append(salt);
  return h;
}

// The header of a token cache file; an error when it is not one (or one of a newer format).
core::result<file_header> parse_header(std::string_view file, const std::string& path) {
  if (file.size() < v1_header_octets + nonce_octets + tag_octets || file.substr(0, magic.size()) != magic) {
    return make_error(store_errc::cannot_decrypt,
                      fmt::format("the token cache {} cannot be decrypted: it is not a token cache, or it was cut "
                                  "short; it was left untouched. Move it away and run `oauthmail account login NAME`",
                                  path),
                      failure_class::needs_human);
  }
  file_header h;
  h.version = static_cast<unsigned char>(file[magic.size()]);
  if (h.version == direct_key_version) {
    h.header = file.substr(0, v1_header_octets);
    return h;
  }
  const auto newer = [&] {
    return make_error(store_errc::cannot_decrypt,
                      fmt::format("the token cache {} has a format (version {}) that this oauthmail does not know; it "
                                  "was left untouched. Use the oauthmail version that wrote it",
                                  path, static_cast<int>(h.version)),
                      failure_class::needs_human);
  };
  if (h.version != passphrase_version) return newer();
  if (file.size() < v2_header_octets + nonce_octets + tag_octets) return cannot_decrypt(path);
  if (static_cast<unsigned char>(file[magic.size() + 1]) != kdf_argon2id13) return newer();
  h.header = file.substr(0, v2_header_octets);
  h.cost.opslimit = read_u32(file.substr(magic.size() + 2));
  h.cost.memlimit_kib = read_u32(file.substr(magic.size() + 6));
  h.salt = std::string(file.substr(magic.size() + 10, salt_octets));
  if (h.cost.opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN || h.cost.opslimit > max_kdf_opslimit ||
      h.cost.memlimit_kib < crypto_pwhash_argon2id_MEMLIMIT_MIN / 1024 || h.cost.memlimit_kib > max_kdf_memlimit_kib) {
    return make_error(store_errc::cannot_decrypt,
                      fmt::format("the token cache {} asks for Argon2id costs out of range (opslimit {}, memlimit {} "
                                  "KiB): it was changed; it was left untouched",
                                  path, h.cost.opslimit, h.cost.memlimit_kib),
                      failure_class::needs_human);
  }
  return h;
}

// The AES-256 key of a passphrase: Argon2id v1.3 with this salt and cost.
core::result<core::secret<std::string>> derive_key(const core::secret<std::string>& passphrase, std::string_view salt,
                                                   const kdf_cost& cost) {
  static const int initialised = sodium_init();  // thread-safe, idempotent; -1 when unusable
  if (initialised < 0) {
    return make_error(store_errc::io_failure, "libsodium could not be initialised.", failure_class::bug);
  }
  std::string key(store_key_octets, '\0');
  const auto& p = passphrase.expose();
  if (crypto_pwhash(reinterpret_cast<unsigned char*>(key.data()), key.size(), p.data(), p.size(),
                    reinterpret_cast<const unsigned char*>(salt.data()), cost.opslimit,
                    static_cast<std::size_t>(cost.memlimit_kib) * 1024, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    core::secure_wipe(key.data(), key.size());
    return make_error(store_errc::io_failure,
                      fmt::format("Argon2id could not derive the token cache key (it needs {} MiB of memory).",
                                  cost.memlimit_kib / 1024),
                      failure_class::transient);
  }
  return core::secret<std::string>(std::move(key));
}

// header | nonce | ciphertext | tag; an empty string means OpenSSL failed.
std::string seal(std::string_view key, std::string_view header, std::string_view plaintext) {
  std::array<unsigned char, nonce_octets> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) return {};
  std::string out(header);
  out.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  const std::size_t body_at = out.size();
  out.resize(body_at + plaintext.size() + tag_octets);
  auto* body = reinterpret_cast<unsigned char*>(out.data() + body_at);

  const cipher_ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_octets), nullptr) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key), nonce.data()) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(header), static_cast<int>(header.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), body, &len, bytes(plaintext), static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), body + len, &final_len) == 1 &&
      static_cast<std::size_t>(len + final_len) == plaintext.size() &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_octets), body + plaintext.size()) == 1;
  return ok ? out : std::string();
}

// The plaintext, or nullopt when the file is not authentic under this key.
std::optional<core::secret<std::string>> open_sealed(std::string_view key, const file_header& h,
                                                     std::string_view file) {
  if (key.size() != store_key_octets || file.size() < h.header.size() + nonce_octets + tag_octets) return std::nullopt;
  const auto nonce = file.substr(h.header.size(), nonce_octets);
  const auto body =
      file.substr(h.header.size() + nonce_octets, file.size() - h.header.size() - nonce_octets - tag_octets);
  std::string tag(file.substr(file.size() - tag_octets));
  std::string plain(body.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(plain.data());

  const cipher_ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  const bool ok =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_octets), nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key), bytes(nonce)) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(h.header), static_cast<int>(h.header.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), out, &len, bytes(body), static_cast<int>(body.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_octets), tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), out + len, &final_len) == 1;  // checks the tag
  if (!ok) {
    core::secure_wipe(plain.data(), plain.size());  // unauthenticated output is not kept either
    return std::nullopt;
  }
  return core::secret<std::string>(std::move(plain));
}

core::error bad_key(std::string message) {
  return make_error(store_errc::bad_key, std::move(message), failure_class::needs_human);
}

core::result<void> check_key(const store_key& key) {
  if (key.type == store_key::kind::direct && key.value.expose().size() != store_key_octets) {
    return bad_key(fmt::format("The token cache key has {} octets; AES-256 needs {}.", key.value.expose().size(),
                               store_key_octets));
  }
  if (key.type == store_key::kind::passphrase && key.value.expose().empty()) {
    return bad_key("The token cache passphrase (token_cache.key) is empty.");
  }
  return {};
}

// Parses decrypted contents.
core::result<store_entries> decode(const core::secret<std::string>& plain_text, const std::string& path) {
  const auto* plain = &plain_text;
  wiping_resource resource;
  const boost::json::storage_ptr sp(&resource);
  unsigned char temp[4096];
  store_entries entries;
  {
    boost::json::parse_options options;
    options.allow_invalid_utf8 = true;  // values are octets: the serializer writes them unchanged
    boost::json::parser p(sp, options, temp);
    p.reset(sp);
    boost::system::error_code ec;
    p.write(plain->expose(), ec);
    bool well_formed = !ec;
    if (well_formed) {
      const boost::json::value v = p.release();
      well_formed = v.is_object();
      if (well_formed) {
        for (const auto& [name, value] : v.get_object()) {
          if (!value.is_string()) {
            well_formed = false;
            break;
          }
          entries.emplace(std::string(name), core::secret<std::string>(std::string(value.get_string())));
        }
      }
    }
    core::secure_wipe(temp, sizeof temp);
    if (!well_formed) {
      // Authentic but not what this version writes: a newer or broken writer. Do not touch it.
      return make_error(store_errc::cannot_decrypt,
                        fmt::format("the token cache {} was decrypted but its contents are not understood (written "
                                    "by another version of oauthmail?); it was left untouched",
                                    path),
                        failure_class::needs_human);
    }
  }
  return entries;
}

// The JSON object {"name": "value", ...}, in memory that is wiped.
core::secret<std::string> encode(const store_entries& entries) {
  wiping_resource resource;
  const boost::json::storage_ptr sp(&resource);
  std::size_t estimate = 2;
  boost::json::object obj(sp);
  for (const auto& [name, value] : entries) {
    obj.emplace(name, boost::json::string(value.expose(), sp));
    estimate += 6 * (name.size() + value.expose().size()) + 8;  // worst case: every octet \u00XX
  }
  std::string out;
  out.reserve(estimate);  // no reallocation: no stray copies of the plaintext
  boost::json::serializer sr;
  sr.reset(&obj);
  char buf[4096];
  while (!sr.done()) out.append(sr.read(buf));
  core::secure_wipe(buf, sizeof buf);
  return core::secret<std::string>(std::move(out));
}

}  // namespace

const std::error_category& store_category() noexcept {
  static const store_category_impl instance;
  return instance;
}

std::error_code make_error_code(store_errc e) noexcept { return {static_cast<int>(e), store_category()}; }

store_key store_key::direct(core::secret<std::string> key) {
  store_key k;
  k.type = kind::direct;
  k.value = std::move(key);
  return k;
}

store_key store_key::passphrase(core::secret<std::string> passphrase, std::vector<core::secret<std::string>> legacy) {
  store_key k;
  k.type = kind::passphrase;
  k.value = std::move(passphrase);
  k.legacy = std::move(legacy);
  return k;
}

namespace {

// The 32 octets that `text` encodes as hex (libsodium) or base64 / base64url with or without
// padding (OpenSSL), if it is such an encoding of exactly 32 octets.
std::optional<core::secret<std::string>> decode_raw_key(std::string_view text) {
  std::string out(store_key_octets, '\0');
  std::size_t got = 0;
  const char* end = nullptr;
  if (text.size() == 2 * store_key_octets &&
      sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr, &got,
                     &end) == 0 &&
      got == store_key_octets && end == text.data() + text.size()) {
    return core::secret<std::string>(std::move(out));
  }
  core::secure_wipe(out.data(), out.size());
  if (text.size() != 43 && text.size() != 44) return std::nullopt;  // 32 octets in base64
  auto decoded = core::base64_decode_lenient(text);
  if (!decoded) return std::nullopt;
  core::secret<std::string> raw(std::move(*decoded));
  if (raw.expose().size() != store_key_octets) return std::nullopt;
  return raw;
}

core::secret<std::string> sha256_of(const core::secret<std::string>& value) {
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(bytes(value.expose()), value.expose().size(), reinterpret_cast<unsigned char*>(digest.data()));
  return core::secret<std::string>(std::move(digest));
}

}  // namespace

core::result<store_key> store_key_from_setting(const core::secret<std::string>& value) {
  const std::string& v = value.expose();
  if (v.empty()) return bad_key("token_cache.key is empty.");
  if (auto raw = decode_raw_key(v)) {
    // Earlier releases hashed this text with SHA-256.
    store_key k = store_key::direct(std::move(*raw));
    k.legacy.push_back(sha256_of(value));
    return k;
  }
  if (v.size() == store_key_octets) {
    const bool printable = std::all_of(v.begin(), v.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    // Earlier releases used any 32-octet value directly.
    if (!printable) return store_key::direct(value);
    return store_key::passphrase(value, {value});
  }
  return store_key::passphrase(value, {sha256_of(value)});
}

// The key specification, and the last key derived from the passphrase (with its salt and cost), so
// that a process derives it once however often it loads and saves.
struct encrypted_store::keys {
  explicit keys(store_key k) : spec(std::move(k)) {}
  store_key spec;
  std::mutex mutex;
  std::string salt;
  kdf_cost cost;
  std::optional<core::secret<std::string>> derived;

  core::result<core::secret<std::string>> derived_for(std::string_view want_salt, const kdf_cost& want_cost) {
    std::lock_guard g(mutex);
    if (derived && salt == want_salt && cost.opslimit == want_cost.opslimit &&
        cost.memlimit_kib == want_cost.memlimit_kib) {
      return *derived;
    }
    auto k = derive_key(spec.value, want_salt, want_cost);
    if (!k) return k.error();
    salt = std::string(want_salt);
    cost = want_cost;
    derived = *k;
    return k;
  }

  // The plaintext of a file, tried with every key that may have written it. `current` tells
  // whether the file is in the format save() writes for this key (else it is migrated then).
  struct opened {
    core::secret<std::string> plain;
    bool current = false;
    std::optional<std::string> salt;  // a version-2 file: its salt, reused by save()
    kdf_cost cost;
  };
  core::result<opened> open(std::string_view file, const std::string& path) {
    auto h = parse_header(file, path);
    if (!h) return h.error();
    const bool passphrase = spec.type == store_key::kind::passphrase;
    if (h->version == direct_key_version) {
      if (!passphrase) {
        if (auto plain = open_sealed(spec.value.expose(), *h, file)) return opened{std::move(*plain), true, {}, {}};
      }
      for (const auto& legacy : spec.legacy) {
        if (auto plain = open_sealed(legacy.expose(), *h, file)) return opened{std::move(*plain), false, {}, {}};
      }
      return passphrase ? cannot_decrypt_with_passphrase(path) : cannot_decrypt(path);
    }
    if (!passphrase) {
      return make_error(store_errc::cannot_decrypt,
                        fmt::format("the token cache {} was written with a passphrase as token_cache.key, and the key "
                                    "configured now is a 32-octet key; it was left untouched. Configure the "
                                    "passphrase again, or run `oauthmail account login NAME` after moving the file "
                                    "away",
                                    path),
                        failure_class::needs_human);
    }
    auto key = derived_for(h->salt, h->cost);
    if (!key) return key.error();
    auto plain = open_sealed(key->expose(), *h, file);
    if (!plain) return cannot_decrypt_with_passphrase(path);
    const bool current_cost = h->cost.opslimit == spec.cost.opslimit && h->cost.memlimit_kib == spec.cost.memlimit_kib;
    return opened{std::move(*plain), current_cost, h->salt, h->cost};
  }
};

encrypted_store::encrypted_store(std::string path, core::secret<std::string> key)
    : encrypted_store(std::move(path), store_key::direct(std::move(key))) {}
encrypted_store::encrypted_store(std::string path, store_key key)
    : path_(std::move(path)), keys_(std::make_unique<keys>(std::move(key))) {}
encrypted_store::~encrypted_store() = default;
encrypted_store::encrypted_store(encrypted_store&&) noexcept = default;
encrypted_store& encrypted_store::operator=(encrypted_store&&) noexcept = default;

core::result<store_entries> encrypted_store::load() const {
  if (auto k = check_key(keys_->spec); !k) return k.error();
  bool missing = false;
  auto file = read_file(path_, max_store_file_octets, missing);
  if (!file) return std::move(file).error();
  if (missing) return store_entries{};
  auto opened = keys_->open(*file, path_);
  if (!opened) return opened.error();
  return decode(opened->plain, path_);
}

core::result<void> encrypted_store::save(const store_entries& entries) const {
  const store_key& spec = keys_->spec;
  if (auto k = check_key(spec); !k) return k;
  // Never replace what cannot be read: it may hold the only refresh token.
  std::optional<std::string> salt;
  kdf_cost cost = spec.cost;
  {
    bool missing = false;
    auto file = read_file(path_, max_store_file_octets, missing);
    if (!file) return std::move(file).error();
    if (!missing) {
      auto opened = keys_->open(*file, path_);
      if (!opened) return opened.error();
      if (opened->current && opened->salt) {
        salt = std::move(opened->salt);
        cost = opened->cost;
      }
    }
  }
  std::string header;
  core::secret<std::string> key;
  if (spec.type == store_key::kind::direct) {
    header = v1_header();
    key = spec.value;
  } else {
    if (!salt) {
      // A new file, or one in an older format: a new salt (one derivation).
      std::string fresh(salt_octets, '\0');
      if (RAND_bytes(reinterpret_cast<unsigned char*>(fresh.data()), static_cast<int>(fresh.size())) != 1) {
        return make_error(store_errc::io_failure, "OpenSSL could not produce random octets.", failure_class::bug);
      }
      salt = std::move(fresh);
    }
    auto derived = keys_->derived_for(*salt, cost);
    if (!derived) return derived.error();
    key = std::move(*derived);
    header = v2_header(*salt, cost);
  }
  const std::string sealed = [&] {
    const auto plain = encode(entries);
    return seal(key.expose(), header, plain.expose());
  }();
  if (sealed.empty()) {
    return make_error(store_errc::io_failure, "OpenSSL could not encrypt the token cache.", failure_class::bug);
  }
  if (sealed.size() > max_store_file_octets) {
    return make_error(store_errc::io_failure,
                      fmt::format("The token cache {} would exceed {} octets.", path_, max_store_file_octets),
                      failure_class::bug);
  }
  std::string tmp;
  if (auto w = write_temporary(path_, bytes(sealed), sealed.size(), tmp); !w) return w;
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return io_error("Cannot replace", path_, e);
  }
  return fsync_directory(directory_of(path_));
}

encrypted_store::lock::lock(lock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

encrypted_store::lock& encrypted_store::lock::operator=(lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

encrypted_store::lock::~lock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

// Every writer holds the lock, so a temporary file found while holding it was left by a process
// that died between creating it and renaming it (kill -9, power loss): remove it.
void encrypted_store::remove_stale_temporaries() const {
  const std::filesystem::path target(path_);
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind(prefix, 0) == 0) {
      std::error_code ignored;
      std::filesystem::remove(it->path(), ignored);
    }
  }
}

core::result<encrypted_store::lock> encrypted_store::lock_exclusive(std::chrono::milliseconds timeout) const {
  const std::string lock_path = path_ + ".lock";
  fd_guard fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (fd.get() < 0) return io_error("Cannot open the lock file", lock_path, errno);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
      remove_stale_temporaries();
      return lock(fd.release());
    }
    if (errno != EWOULDBLOCK && errno != EINTR) return io_error("Cannot lock", lock_path, errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(store_errc::lock_timeout,
                        fmt::format("Another oauthmail process has held the token cache lock {} for more than {} ms.",
                                    lock_path, timeout.count()),
                        failure_class::transient);
    }
    std::this_thread::sleep_for(lock_poll_interval);
  }
}

core::result<core::secret<std::string>> load_or_create_key_file(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() >= 0) {
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) return io_error("Cannot examine", path, errno);
      if (!S_ISREG(st.st_mode)) {
        return make_error(store_errc::bad_key, fmt::format("The key file {} is not a regular file.", path),
                          failure_class::needs_human);
      }
      if ((st.st_mode & 077) != 0) {
        return make_error(store_errc::insecure_key_file,
                          fmt::format("The key file {} may be read by group or others (mode {:04o}); run `chmod 600 "
                                      "{}` (and consider the key exposed).",
                                      path, st.st_mode & 07777, path),
                          failure_class::needs_human);
      }
      if (static_cast<std::size_t>(st.st_size) != store_key_octets) {
        return make_error(store_errc::bad_key,
                          fmt::format("The key file {} holds {} octets; a token cache key is {} random octets.", path,
                                      st.st_size, store_key_octets),
                          failure_class::needs_human);
      }
      std::string raw(store_key_octets, '\0');
      std::size_t got = 0;
      while (got < store_key_octets) {
        const ssize_t n = ::read(fd.get(), raw.data() + got, store_key_octets - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          const int e = n < 0 ? errno : EIO;
          core::secure_wipe(raw.data(), raw.size());
          return io_error("Cannot read", path, e);
        }
        got += static_cast<std::size_t>(n);
      }
      return core::secret<std::string>(std::move(raw));
    }
    if (errno != ENOENT) return io_error("Cannot open the key file", path, errno);

    // Create: random octets in a temporary file, then link() it to the name, which fails if the
    // name exists (another process won the race: use its key).
    std::array<unsigned char, store_key_octets> raw{};
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
      return make_error(store_errc::io_failure, "OpenSSL could not produce random octets.", failure_class::bug);
    }
    std::string tmp;
    auto w = write_temporary(path, raw.data(), raw.size(), tmp);
    core::secret<std::string> key(std::string(reinterpret_cast<const char*>(raw.data()), raw.size()));
    core::secure_wipe(raw.data(), raw.size());
    if (!w) return w.error();
    const int linked = ::link(tmp.c_str(), path.c_str());
    const int e = errno;
    ::unlink(tmp.c_str());
    if (linked == 0) {
      if (auto d = fsync_directory(directory_of(path)); !d) return d.error();
      return key;
    }
    if (e != EEXIST) return io_error("Cannot create the key file", path, e);
  }
  return make_error(store_errc::io_failure, fmt::format("The key file {} keeps changing.", path),
                    failure_class::transient);
}

}  // namespace oauthmail::secrets
