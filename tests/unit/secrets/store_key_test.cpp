// token_cache.key as a passphrase: the AES-256 key is derived with Argon2id (libsodium) and a random
// salt kept in the header of a version-2 file (checked here independently with libsodium and
// OpenSSL); 32 random octets (raw, hex, base64) stay keys used directly; caches that earlier
// releases wrote with the SHA-256 of the value (or the 32-octet value itself) are read and
// rewritten in the new format on the next save; a wrong passphrase is a clear error and never
// overwrites the file.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "core/base64.hpp"
#include "secrets/encrypted_store.hpp"

namespace oauthmail::secrets {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kRefreshToken = "1//0gKNOWN-REFRESH-TOKEN-passphrase-test-91b2";
constexpr std::string_view kPassphrase = "correct horse battery staple";

core::secret<std::string> secret(std::string_view s) { return core::secret<std::string>(std::string(s)); }

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string sha256(std::string_view s) {
  std::string d(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), reinterpret_cast<unsigned char*>(d.data()));
  return d;
}

std::uint32_t be32(std::string_view s) {
  std::uint32_t v = 0;
  for (const char c : s.substr(0, 4)) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

store_entries sample() {
  store_entries e;
  e.emplace("token:alice:SMTP.Send offline_access", secret(kRefreshToken));
  e.emplace("attention:bob", secret("{\"message\":\"m\"}"));
  return e;
}

// A cheap Argon2id cost so that the tests run fast (the default is checked once).
store_key cheap(store_key k) {
  k.cost = {1, 8 * 1024};
  return k;
}

class StoreKeyTest : public ::testing::Test {
 protected:
  static fs::path make_directory() {
    std::string pattern = (fs::temp_directory_path() / "oauthmail-storekey-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    return pattern;
  }
  ~StoreKeyTest() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  store_key passphrase_key(std::string_view p = kPassphrase) {
    auto k = store_key_from_setting(secret(p));
    EXPECT_TRUE(k.has_value());
    return cheap(std::move(*k));
  }
  fs::path dir_ = make_directory();
  std::string path_ = (dir_ / "tokens").string();
};

// ---- what token_cache.key's value means ---------------------------------------------------------

TEST(StoreKeyFromSetting, HexAndBase64Of32OctetsAreUsedDirectly) {
  std::string raw(32, '\0');
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i * 7 + 1);
  std::string hex(64, '\0');
  sodium_bin2hex(hex.data(), hex.size() + 1, reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  const std::string b64 = core::base64_encode(raw);  // 44 characters with "="
  const std::string b64url = core::base64url_encode(raw);
  for (const std::string& text : {hex, b64, b64url, b64.substr(0, 43)}) {
    auto k = store_key_from_setting(secret(text));
    ASSERT_TRUE(k.has_value()) << text;
    EXPECT_EQ(k->type, store_key::kind::direct) << text;
    EXPECT_EQ(k->value.expose(), raw) << text;
    // Earlier releases hashed the text: that key is kept to read their caches.
    ASSERT_EQ(k->legacy.size(), 1u);
    EXPECT_EQ(k->legacy[0].expose(), sha256(text));
  }
  // Upper-case hex too.
  std::string upper = hex;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(store_key_from_setting(secret(upper))->value.expose(), raw);
}

TEST(StoreKeyFromSetting, Binary32OctetsAreUsedDirectly) {
  std::string raw(32, '\x01');
  raw[5] = '\xff';
  auto k = store_key_from_setting(secret(raw));
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->type, store_key::kind::direct);
  EXPECT_EQ(k->value.expose(), raw);
  EXPECT_TRUE(k->legacy.empty());
}

TEST(StoreKeyFromSetting, EverythingElseIsAPassphrase) {
  auto k = store_key_from_setting(secret(kPassphrase));
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->type, store_key::kind::passphrase);
  EXPECT_EQ(k->value.expose(), kPassphrase);
  ASSERT_EQ(k->legacy.size(), 1u);
  EXPECT_EQ(k->legacy[0].expose(), sha256(kPassphrase));
  EXPECT_EQ(k->cost.opslimit, 2u);
  EXPECT_EQ(k->cost.memlimit_kib, 64u * 1024);

  // 32 printable characters: a passphrase now (earlier releases used them as the key itself).
  const std::string typed = "my-32-character-cache-passphrase";
  ASSERT_EQ(typed.size(), 32u);
  auto t = store_key_from_setting(secret(typed));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->type, store_key::kind::passphrase);
  ASSERT_EQ(t->legacy.size(), 1u);
  EXPECT_EQ(t->legacy[0].expose(), typed);

  // Not quite hex or base64 of 32 octets.
  for (const std::string& text : {std::string(63, 'a'), std::string(64, 'g'), std::string(42, 'A'),
                                  std::string(44, 'A') /* 33 octets */, std::string(43, '!')}) {
    auto p = store_key_from_setting(secret(text));
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->type, store_key::kind::passphrase) << text;
  }

  auto empty = store_key_from_setting(secret(""));
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), make_error_code(store_errc::bad_key));
}

// ---- the passphrase format ---------------------------------------------------------------------

TEST_F(StoreKeyTest, PassphraseFileIsVersion2WithArgon2idAndItsSaltAsDocumented) {
  encrypted_store store(path_, passphrase_key());
  ASSERT_TRUE(store.save(sample()).has_value());
  const std::string file = read_all(path_);
  ASSERT_GT(file.size(), 34u + 12 + 16);
  EXPECT_EQ(file.substr(0, 8), std::string("OAMTOK1\0", 8));
  EXPECT_EQ(file[8], 2);  // version 2: passphrase
  EXPECT_EQ(file[9], 1);  // Argon2id v1.3
  EXPECT_EQ(be32(file.substr(10)), 1u);
  EXPECT_EQ(be32(file.substr(14)), 8u * 1024);
  const std::string salt = file.substr(18, 16);
  EXPECT_EQ(file.find(kRefreshToken), std::string::npos);

  // Independently: Argon2id(passphrase, salt) with libsodium, then AES-256-GCM with OpenSSL, the
  // whole header as additional data.
  ASSERT_GE(sodium_init(), 0);
  std::string key(32, '\0');
  ASSERT_EQ(crypto_pwhash(reinterpret_cast<unsigned char*>(key.data()), key.size(), kPassphrase.data(),
                          kPassphrase.size(), reinterpret_cast<const unsigned char*>(salt.data()), 1, 8 * 1024 * 1024,
                          crypto_pwhash_ALG_ARGON2ID13),
            0);
  const auto* u = reinterpret_cast<const unsigned char*>(file.data());
  const std::size_t body_at = 34 + 12;
  const std::size_t body_len = file.size() - body_at - 16;
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string plain(body_len, '\0');
  int len = 0;
  ASSERT_EQ(EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr), 1);
  ASSERT_EQ(EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, reinterpret_cast<const unsigned char*>(key.data()), u + 34),
            1);
  ASSERT_EQ(EVP_DecryptUpdate(ctx.get(), nullptr, &len, u, 34), 1);
  ASSERT_EQ(
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, u + body_at, int(body_len)),
      1);
  std::string tag = file.substr(file.size() - 16);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()), 1);
  int final_len = 0;
  ASSERT_EQ(EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &final_len), 1);
  EXPECT_NE(plain.find(kRefreshToken), std::string::npos);

  // Another process (a new object) reads it; saving again keeps the salt and draws a new nonce.
  encrypted_store again(path_, passphrase_key());
  auto loaded = again.load();
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  EXPECT_EQ(loaded->at("token:alice:SMTP.Send offline_access").expose(), kRefreshToken);
  ASSERT_TRUE(again.save(*loaded).has_value());
  const std::string second = read_all(path_);
  EXPECT_EQ(second.substr(0, 34), file.substr(0, 34));
  EXPECT_NE(second.substr(34, 12), file.substr(34, 12));
}

TEST_F(StoreKeyTest, DefaultCostIsWrittenAndRead) {
  auto k = store_key_from_setting(secret(kPassphrase));
  ASSERT_TRUE(k.has_value());
  encrypted_store store(path_, std::move(*k));
  ASSERT_TRUE(store.save(sample()).has_value());
  const std::string file = read_all(path_);
  EXPECT_EQ(be32(file.substr(10)), 2u);
  EXPECT_EQ(be32(file.substr(14)), 64u * 1024);
  // A reader configured with another (cheap) cost still reads what the file says.
  encrypted_store reader(path_, passphrase_key());
  auto loaded = reader.load();
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  EXPECT_EQ(loaded->size(), 2u);
}

TEST_F(StoreKeyTest, WrongPassphraseIsAClearErrorAndNothingIsOverwritten) {
  encrypted_store store(path_, passphrase_key());
  ASSERT_TRUE(store.save(sample()).has_value());
  const std::string before = read_all(path_);

  encrypted_store wrong(path_, passphrase_key("incorrect horse battery staple"));
  auto r = wrong.load();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), make_error_code(store_errc::cannot_decrypt));
  EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
  EXPECT_NE(r.error().message().find("passphrase"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find(path_), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("left untouched"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("incorrect horse"), std::string::npos);

  store_entries other;
  other.emplace("token:mallory:x", secret("y"));
  auto saved = wrong.save(other);
  ASSERT_FALSE(saved.has_value());
  EXPECT_EQ(saved.error().code(), make_error_code(store_errc::cannot_decrypt));
  EXPECT_EQ(read_all(path_), before);

  // A 32-octet key where a passphrase wrote the file: said so, and nothing written either.
  encrypted_store direct(path_, core::secret<std::string>(std::string(32, '\x07')));
  auto d = direct.load();
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().message().find("written with a passphrase"), std::string::npos) << d.error().message();
  EXPECT_FALSE(direct.save(other).has_value());
  EXPECT_EQ(read_all(path_), before);

  // The right passphrase still reads everything.
  encrypted_store right(path_, passphrase_key());
  auto ok = right.load();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->size(), 2u);
}

TEST_F(StoreKeyTest, ChangedHeaderIsDetected) {
  encrypted_store store(path_, passphrase_key());
  ASSERT_TRUE(store.save(sample()).has_value());
  const std::string good = read_all(path_);
  // Every header octet after the version: KDF id, costs, salt.
  for (std::size_t i = 9; i < 34; ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    write_all(path_, bad);
    encrypted_store reader(path_, passphrase_key());
    auto r = reader.load();
    ASSERT_FALSE(r.has_value()) << "octet " << i;
    EXPECT_EQ(r.error().code(), make_error_code(store_errc::cannot_decrypt)) << "octet " << i;
    EXPECT_EQ(read_all(path_), bad);
  }
  // Costs beyond the limits are refused before any derivation.
  std::string greedy = good;
  greedy[14] = '\x7f';  // memlimit of about 2 TiB
  write_all(path_, greedy);
  encrypted_store reader(path_, passphrase_key());
  auto r = reader.load();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("out of range"), std::string::npos) << r.error().message();
}

// ---- migration from the earlier SHA-256 derivation ---------------------------------------------

// What earlier releases did with token_cache.key: SHA-256 of the value, unless it had 32 octets.
core::secret<std::string> earlier_release_key(std::string_view value) {
  if (value.size() == 32) return secret(value);
  return secret(sha256(value));
}

TEST_F(StoreKeyTest, OldPassphraseCacheIsReadAndRewrittenInTheNewFormat) {
  for (const std::string& passphrase : {std::string(kPassphrase), std::string("my-32-character-cache-passphrase")}) {
    fs::remove(path_);
    encrypted_store old(path_, earlier_release_key(passphrase));
    ASSERT_TRUE(old.save(sample()).has_value());
    ASSERT_EQ(read_all(path_)[8], 1);

    encrypted_store store(path_, passphrase_key(passphrase));
    auto loaded = store.load();
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    EXPECT_EQ(loaded->at("token:alice:SMTP.Send offline_access").expose(), kRefreshToken);
    EXPECT_EQ(read_all(path_)[8], 1) << "loading does not write";

    // The next save writes version 2; the refresh token is still there, under the passphrase.
    ASSERT_TRUE(store.save(*loaded).has_value());
    EXPECT_EQ(read_all(path_)[8], 2);
    encrypted_store fresh(path_, passphrase_key(passphrase));
    auto again = fresh.load();
    ASSERT_TRUE(again.has_value()) << again.error().message();
    EXPECT_EQ(again->at("token:alice:SMTP.Send offline_access").expose(), kRefreshToken);
    // The SHA-256 key no longer opens it.
    EXPECT_FALSE(encrypted_store(path_, earlier_release_key(passphrase)).load().has_value());
  }
}

TEST_F(StoreKeyTest, OldCacheOfABase64KeyIsRewrittenWithTheDecodedKey) {
  std::string raw(32, '\0');
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(255 - i);
  const std::string text = core::base64_encode(raw);
  encrypted_store old(path_, earlier_release_key(text));
  ASSERT_TRUE(old.save(sample()).has_value());

  auto k = store_key_from_setting(secret(text));
  ASSERT_TRUE(k.has_value());
  encrypted_store store(path_, std::move(*k));
  auto loaded = store.load();
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  ASSERT_TRUE(store.save(*loaded).has_value());
  EXPECT_EQ(read_all(path_)[8], 1);  // a key used directly keeps version 1
  auto direct = encrypted_store(path_, secret(raw)).load();
  ASSERT_TRUE(direct.has_value()) << direct.error().message();
  EXPECT_EQ(direct->at("token:alice:SMTP.Send offline_access").expose(), kRefreshToken);
}

TEST_F(StoreKeyTest, WrongPassphraseOnAnOldCacheIsRefusedToo) {
  encrypted_store old(path_, earlier_release_key(kPassphrase));
  ASSERT_TRUE(old.save(sample()).has_value());
  const std::string before = read_all(path_);
  encrypted_store wrong(path_, passphrase_key("not the passphrase"));
  auto r = wrong.load();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("passphrase"), std::string::npos) << r.error().message();
  EXPECT_FALSE(wrong.save({}).has_value());
  EXPECT_EQ(read_all(path_), before);
}

}  // namespace
}  // namespace oauthmail::secrets
