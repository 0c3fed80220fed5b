// secrets::encrypted_store and load_or_create_key_file: round trips, the file format (checked with
// OpenSSL independently), wrong keys, every flipped octet and every truncation refused without
// touching the file, mode 0600, no plaintext on disk, a fresh nonce per save, atomic replacement
// (a save that fails midway leaves the old file), the lock between processes with a deadline, and
// the key file (created once, 0600, same key for racing processes, 0644 refused).
#include "secrets/encrypted_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace oauthmail::secrets {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view kRefreshToken = "1//0gKNOWN-REFRESH-TOKEN-do-not-leak-7f3a";
constexpr std::string_view kAccessToken = "eyJ0eXAiOiJKV1QiKNOWN-ACCESS-TOKEN-c9d2";

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

core::secret<std::string> key_of(char fill) { return core::secret<std::string>(std::string(32, fill)); }

core::secret<std::string> secret(std::string_view s) { return core::secret<std::string>(std::string(s)); }

std::string plain(const store_entries& entries, const std::string& name) { return entries.at(name).expose(); }

class temp_directory {
 public:
  temp_directory() {
    std::string pattern = (fs::temp_directory_path() / "oauthmail-store-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = pattern;
  }
  ~temp_directory() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, ec);
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  // Files other than `keep` (e.g. temporary files left behind).
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(path_)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }

 private:
  fs::path path_;
};

class scoped_umask {
 public:
  explicit scoped_umask(mode_t m) : old_(::umask(m)) {}
  ~scoped_umask() { ::umask(old_); }

 private:
  mode_t old_;
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// Runs `body` in a child process; returns its exit code (128 + signal if killed).
template <class F>
int in_child(F body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
      code = 98;
    }
    std::_Exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class EncryptedStoreTest : public ::testing::Test {
 protected:
  temp_directory dir_;
  std::string path_ = (dir_ / "tokens.bin").string();
  encrypted_store store_{path_, key_of('k')};

  store_entries sample() const {
    store_entries e;
    e.emplace("alice@example.com|https://outlook.office.com/SMTP.Send", secret(kRefreshToken));
    e.emplace("robot|.default", secret(kAccessToken));
    e.emplace("empty", secret(""));
    e.emplace("quotes \"and\" \\ newlines\n\t\x01", secret("{\"refresh_token\":\"x\\y\"}\r\n"));
    return e;
  }

  static void expect_cannot_decrypt(const core::result<store_entries>& r, const std::string& path) {
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), make_error_code(store_errc::cannot_decrypt)) << r.error().message();
    EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
    EXPECT_NE(r.error().message().find(path), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().find(kRefreshToken), std::string::npos);
  }
};

// ---- round trips and format ------------------------------------------------------------------

TEST_F(EncryptedStoreTest, MissingFileIsAnEmptyStore) {
  auto r = store_.load();
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_TRUE(r->empty());
  EXPECT_FALSE(fs::exists(path_)) << "load() must not create the file";
}

TEST_F(EncryptedStoreTest, RoundTrip) {
  ASSERT_TRUE(store_.save(sample()).has_value());
  auto r = store_.load();
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_EQ(r->size(), 4u);
  for (const auto& [name, value] : sample()) EXPECT_EQ(plain(*r, name), value.expose()) << name;

  // A new object with the same key reads it too; replacing keeps only the new entries.
  encrypted_store again(path_, key_of('k'));
  store_entries one;
  one.emplace("only", secret("value"));
  ASSERT_TRUE(again.save(one).has_value());
  auto r2 = store_.load();
  ASSERT_TRUE(r2.has_value()) << r2.error().message();
  ASSERT_EQ(r2->size(), 1u);
  EXPECT_EQ(plain(*r2, "only"), "value");

  ASSERT_TRUE(store_.save({}).has_value());
  auto r3 = store_.load();
  ASSERT_TRUE(r3.has_value());
  EXPECT_TRUE(r3->empty());
}

TEST_F(EncryptedStoreTest, EveryOctetValueRoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  store_entries e;
  e.emplace("binary", secret(all));
  e.emplace(std::string("name\xff\x80", 6), secret("invalid utf-8 in the name"));
  e.emplace("utf-8 \xc3\xa9\xe2\x82\xac", secret(std::string(100000, 'z')));
  ASSERT_TRUE(store_.save(e).has_value());
  auto r = store_.load();
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_TRUE(plain(*r, "binary") == all);
  EXPECT_EQ(plain(*r, std::string("name\xff\x80", 6)), "invalid utf-8 in the name");
  EXPECT_EQ(plain(*r, "utf-8 \xc3\xa9\xe2\x82\xac").size(), 100000u);
}

// The documented layout, decrypted here with OpenSSL directly.
TEST_F(EncryptedStoreTest, FileFormatIsTheDocumentedOne) {
  store_entries e;
  e.emplace("a", secret("b"));
  ASSERT_TRUE(store_.save(e).has_value());
  const std::string file = read_all(path_);
  const std::string json = R"({"a":"b"})";
  ASSERT_EQ(file.size(), 8 + 1 + 12 + json.size() + 16);
  EXPECT_EQ(file.substr(0, 8), std::string("OAMTOK1\0", 8));
  EXPECT_EQ(file[8], '\x01');

  const std::string key(32, 'k');
  const auto* u = reinterpret_cast<const unsigned char*>(file.data());
  std::string out(json.size(), '\0');
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  ASSERT_EQ(EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr), 1);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr), 1);
  ASSERT_EQ(EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, reinterpret_cast<const unsigned char*>(key.data()), u + 9),
            1);
  ASSERT_EQ(EVP_DecryptUpdate(ctx.get(), nullptr, &len, u, 9), 1);  // AAD: magic + version
  ASSERT_EQ(EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, u + 21,
                              static_cast<int>(json.size())),
            1);
  std::string tag = file.substr(file.size() - 16);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()), 1);
  int fin = 0;
  ASSERT_EQ(EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &fin), 1);
  EXPECT_EQ(out, json);
}

TEST_F(EncryptedStoreTest, EverySaveUsesANewNonce) {
  store_entries e;
  e.emplace("a", secret("b"));
  ASSERT_TRUE(store_.save(e).has_value());
  const std::string first = read_all(path_);
  ASSERT_TRUE(store_.save(e).has_value());
  const std::string second = read_all(path_);
  ASSERT_EQ(first.size(), second.size());
  EXPECT_NE(first.substr(9, 12), second.substr(9, 12));
  EXPECT_NE(first.substr(21), second.substr(21));
}

// ---- what is on disk -------------------------------------------------------------------------

TEST_F(EncryptedStoreTest, FileIsMode0600WhateverTheUmask) {
  const scoped_umask open_umask(0);
  ASSERT_TRUE(store_.save(sample()).has_value());
  EXPECT_EQ(mode_of(path_), 0600u);
  ::chmod(path_.c_str(), 0644);
  ASSERT_TRUE(store_.save(sample()).has_value());
  EXPECT_EQ(mode_of(path_), 0600u) << "a replaced file is 0600 again";
}

TEST_F(EncryptedStoreTest, NoPlaintextOnDiskAndNothingLeftBehind) {
  ASSERT_TRUE(store_.save(sample()).has_value());
  ASSERT_TRUE(store_.save(sample()).has_value());
  const std::string bytes = read_all(path_);
  for (std::string_view needle :
       {kRefreshToken, kAccessToken, std::string_view("KNOWN"), std::string_view("alice@example.com"),
        std::string_view("refresh_token"), std::string_view("robot")}) {
    EXPECT_EQ(bytes.find(needle), std::string::npos) << needle;
  }
  EXPECT_EQ(dir_.names(), std::vector<std::string>{"tokens.bin"});
}

// ---- tampering, wrong keys, truncation -----------------------------------------------------------

TEST_F(EncryptedStoreTest, WrongKeyIsRefusedAndTheFileIsKept) {
  ASSERT_TRUE(store_.save(sample()).has_value());
  const std::string before = read_all(path_);
  encrypted_store other(path_, key_of('x'));
  auto r = other.load();
  expect_cannot_decrypt(r, path_);
  EXPECT_NE(r.error().message().find("cannot be decrypted"), std::string::npos);
  EXPECT_NE(r.error().message().find("left untouched"), std::string::npos);
  EXPECT_NE(r.error().message().find("oauthmail account login"), std::string::npos);

  // Saving with the wrong key would throw the refresh token away: refused.
  auto s = other.save({});
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), make_error_code(store_errc::cannot_decrypt));
  EXPECT_EQ(s.error().classification(), core::failure_class::needs_human);
  EXPECT_EQ(read_all(path_), before);

  // The right key still reads it.
  auto ok = store_.load();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(plain(*ok, "alice@example.com|https://outlook.office.com/SMTP.Send"), kRefreshToken);
}

TEST_F(EncryptedStoreTest, EveryFlippedOctetIsDetected) {
  store_entries e;
  e.emplace("a", secret("b"));
  ASSERT_TRUE(store_.save(e).has_value());
  const std::string good = read_all(path_);
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ mask);
      write_all(path_, bad);
      SCOPED_TRACE("octet " + std::to_string(i) + " mask " + std::to_string(mask));
      expect_cannot_decrypt(store_.load(), path_);
      auto s = store_.save(e);
      EXPECT_FALSE(s.has_value());
      EXPECT_EQ(read_all(path_), bad) << "the changed file was replaced";
    }
  }
  write_all(path_, good);
  EXPECT_TRUE(store_.load().has_value());
}

TEST_F(EncryptedStoreTest, EveryTruncationAndAnAppendedOctetAreDetected) {
  store_entries e;
  e.emplace("a", secret("b"));
  ASSERT_TRUE(store_.save(e).has_value());
  const std::string good = read_all(path_);
  for (std::size_t n = 0; n < good.size(); ++n) {
    write_all(path_, good.substr(0, n));
    SCOPED_TRACE("length " + std::to_string(n));
    expect_cannot_decrypt(store_.load(), path_);
    EXPECT_EQ(read_all(path_).size(), n);
  }
  write_all(path_, good + "x");
  expect_cannot_decrypt(store_.load(), path_);
}

TEST_F(EncryptedStoreTest, NotATokenCacheIsRefused) {
  write_all(path_, "refresh_token=plaintext\n");
  expect_cannot_decrypt(store_.load(), path_);
  EXPECT_FALSE(store_.save({}).has_value());
  EXPECT_EQ(read_all(path_), "refresh_token=plaintext\n");
  fs::remove(path_);
  fs::create_directory(path_);
  EXPECT_FALSE(store_.load().has_value());
}

TEST_F(EncryptedStoreTest, KeyOfTheWrongSizeIsRefused) {
  encrypted_store short_key(path_, core::secret<std::string>(std::string(16, 'k')));
  auto r = short_key.load();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), make_error_code(store_errc::bad_key));
  EXPECT_FALSE(short_key.save({}).has_value());
  EXPECT_FALSE(fs::exists(path_));
}

// ---- atomic replacement ------------------------------------------------------------------------

TEST_F(EncryptedStoreTest, SaveThatFailsMidwayLeavesTheOldFile) {
  ASSERT_TRUE(store_.save(sample()).has_value());
  const std::string before = read_all(path_);

  // The child may write at most 200 octets into any file: the temporary file's write fails
  // (EFBIG) half way through the new contents.
  store_entries big;
  big.emplace("big", secret(std::string(64 * 1024, 'q')));
  const int code = in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{200, 200};
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 2;
    auto r = store_.save(big);
    if (r.has_value()) return 1;
    return r.error().code() == make_error_code(store_errc::io_failure) ? 0 : 3;
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(read_all(path_), before);
  EXPECT_EQ(dir_.names(), std::vector<std::string>{"tokens.bin"}) << "a temporary file was left behind";
  auto r = store_.load();
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(plain(*r, "alice@example.com|https://outlook.office.com/SMTP.Send"), kRefreshToken);
}

TEST_F(EncryptedStoreTest, SaveIntoAnUnwritableDirectoryLeavesTheOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into any directory (the file-size test covers this)";
  ASSERT_TRUE(store_.save(sample()).has_value());
  const std::string before = read_all(path_);
  fs::permissions(dir_.path(), fs::perms::owner_read | fs::perms::owner_exec);
  auto s = store_.save({});
  fs::permissions(dir_.path(), fs::perms::owner_all);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), make_error_code(store_errc::io_failure));
  EXPECT_EQ(s.error().classification(), core::failure_class::needs_human);
  EXPECT_EQ(read_all(path_), before);
}

TEST_F(EncryptedStoreTest, MissingDirectoryIsAnError) {
  encrypted_store nowhere((dir_ / "no/such/dir/tokens.bin").string(), key_of('k'));
  auto s = nowhere.save(sample());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), make_error_code(store_errc::io_failure));
  EXPECT_EQ(s.error().classification(), core::failure_class::needs_human);
  EXPECT_EQ(s.error().message().find(kRefreshToken), std::string::npos);
}

// ---- the lock ----------------------------------------------------------------------------------

TEST_F(EncryptedStoreTest, LockExcludesAnotherProcessUntilReleased) {
  auto held = store_.lock_exclusive(1s);
  ASSERT_TRUE(held.has_value()) << held.error().message();
  EXPECT_EQ(mode_of(path_ + ".lock"), 0600u);

  // Another process gives up at its deadline.
  const int code = in_child([&] {
    const auto start = std::chrono::steady_clock::now();
    auto r = store_.lock_exclusive(300ms);
    const auto took = std::chrono::steady_clock::now() - start;
    if (r.has_value()) return 1;
    if (r.error().code() != make_error_code(store_errc::lock_timeout)) return 2;
    if (r.error().classification() != core::failure_class::transient) return 3;
    if (took < 290ms || took > 2s) return 4;
    return 0;
  });
  EXPECT_EQ(code, 0);

  // The other way round: another process holds it for 400 ms; this one waits and then gets it.
  // (The holder is forked before this process holds anything: a forked child shares its parent's
  // open file descriptions, and with them the parent's flock.)
  { auto release = std::move(*held); }
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    auto r = store_.lock_exclusive(1s);
    (void)::write(ready[1], r.has_value() ? "y" : "n", 1);
    std::this_thread::sleep_for(400ms);
    std::_Exit(0);  // the lock goes with the process
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(c, 'y');
  const auto start = std::chrono::steady_clock::now();
  auto mine = store_.lock_exclusive(10s);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(mine.has_value());
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 5s);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(EncryptedStoreTest, LockIsReleasedWhenItsHolderDies) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    auto r = store_.lock_exclusive(1s);
    (void)::write(ready[1], r.has_value() ? "y" : "n", 1);
    ::pause();  // killed below while holding the lock
    std::_Exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(c, 'y');
  EXPECT_FALSE(store_.lock_exclusive(100ms).has_value());
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_TRUE(store_.lock_exclusive(1s).has_value());
}

TEST_F(EncryptedStoreTest, LockMovesAndTwoHandlesInOneProcessExcludeEachOther) {
  auto a = store_.lock_exclusive(1s);
  ASSERT_TRUE(a.has_value());
  encrypted_store::lock moved = std::move(*a);
  EXPECT_FALSE(store_.lock_exclusive(60ms).has_value()) << "still held by the moved-to lock";
  { auto drop = std::move(moved); }
  auto b = store_.lock_exclusive(0ms);
  ASSERT_TRUE(b.has_value());

  // Assigning over a held lock releases it.
  encrypted_store other((dir_ / "other.bin").string(), key_of('k'));
  auto c = other.lock_exclusive(0ms);
  ASSERT_TRUE(c.has_value());
  *b = std::move(*c);
  EXPECT_TRUE(store_.lock_exclusive(0ms).has_value());
  EXPECT_FALSE(other.lock_exclusive(0ms).has_value());
}

// ---- the key file ------------------------------------------------------------------------------

TEST(KeyFile, CreatedOnceWith32RandomOctetsAndMode0600) {
  temp_directory dir;
  const scoped_umask open_umask(0);
  const std::string path = (dir / "token_cache.key").string();
  auto k1 = load_or_create_key_file(path);
  ASSERT_TRUE(k1.has_value()) << k1.error().message();
  EXPECT_EQ(k1->expose().size(), 32u);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(read_all(path), k1->expose());
  auto k2 = load_or_create_key_file(path);
  ASSERT_TRUE(k2.has_value());
  EXPECT_EQ(k2->expose(), k1->expose());
  EXPECT_EQ(dir.names(), std::vector<std::string>{"token_cache.key"});

  temp_directory other;
  auto k3 = load_or_create_key_file((other / "token_cache.key").string());
  ASSERT_TRUE(k3.has_value());
  EXPECT_NE(k3->expose(), k1->expose());

  // It works as a store key.
  encrypted_store store((dir / "tokens.bin").string(), *k1);
  store_entries e;
  e.emplace("a", secret("b"));
  ASSERT_TRUE(store.save(e).has_value());
  EXPECT_TRUE(store.load().has_value());
}

TEST(KeyFile, ReadableByOthersIsRefused) {
  temp_directory dir;
  const std::string path = (dir / "token_cache.key").string();
  ASSERT_TRUE(load_or_create_key_file(path).has_value());
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ::chmod(path.c_str(), mode);
    auto r = load_or_create_key_file(path);
    ASSERT_FALSE(r.has_value()) << std::oct << mode;
    EXPECT_EQ(r.error().code(), make_error_code(store_errc::insecure_key_file));
    EXPECT_EQ(r.error().classification(), core::failure_class::needs_human);
    EXPECT_NE(r.error().message().find("chmod 600 " + path), std::string::npos) << r.error().message();
  }
  ::chmod(path.c_str(), 0400);
  EXPECT_TRUE(load_or_create_key_file(path).has_value());
}

TEST(KeyFile, WrongSizeOrNotAFileIsRefused) {
  temp_directory dir;
  const std::string path = (dir / "token_cache.key").string();
  write_all(path, std::string(31, 'k'));
  ::chmod(path.c_str(), 0600);
  auto r = load_or_create_key_file(path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), make_error_code(store_errc::bad_key));
  EXPECT_EQ(read_all(path), std::string(31, 'k')) << "an existing key file is never replaced";

  fs::create_directory(dir / "adir");
  ::chmod((dir / "adir").c_str(), 0700);
  EXPECT_FALSE(load_or_create_key_file((dir / "adir").string()).has_value());
  auto missing_dir = load_or_create_key_file((dir / "no/such/dir/key").string());
  ASSERT_FALSE(missing_dir.has_value());
  EXPECT_EQ(missing_dir.error().code(), make_error_code(store_errc::io_failure));
}

TEST(KeyFile, ProcessesCreatingItAtOnceGetTheSameKey) {
  temp_directory dir;
  const std::string path = (dir / "token_cache.key").string();
  std::vector<pid_t> pids;
  for (int i = 0; i < 8; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      auto k = load_or_create_key_file(path);
      if (!k) std::_Exit(1);
      std::ofstream out((dir / ("seen-" + std::to_string(i))).string(), std::ios::binary);
      out << k->expose();
      out.close();
      std::_Exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const std::string key = read_all(path);
  ASSERT_EQ(key.size(), 32u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(read_all(dir / ("seen-" + std::to_string(i))), key) << i;
  for (const auto& name : dir.names()) EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
}

}  // namespace
}  // namespace oauthmail::secrets
