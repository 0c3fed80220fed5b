// core::secret<T>: prints "***" through fmt and ostream, reaches its value only through expose(),
// and wipes its bytes (destruction, assignment, moved-from inline buffers).
#include "core/secret.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <iostream>
#include <new>
#include <sstream>
#include <string_view>
#include <vector>

namespace oauthmail::core {
namespace {

constexpr std::string_view kSecret = "ya29.TOPSECRET";  // short: lives in the inline string buffer

bool contains(const std::byte* data, std::size_t size, std::string_view needle) {
  const auto* begin = reinterpret_cast<const char*>(data);
  return std::search(begin, begin + size, needle.begin(), needle.end()) != begin + size;
}

TEST(Secret, FormatsAsStars) {
  const secret<std::string> s{std::string(kSecret)};
  EXPECT_EQ(fmt::format("{}", s), "***");
  EXPECT_EQ(fmt::format("token={} end", s), "token=*** end");
  EXPECT_EQ(fmt::format("[{:>6}]", s), "[   ***]");
  EXPECT_EQ(fmt::format("{}", fmt::streamed(s)), "***");
  std::ostringstream os;
  os << s << ' ' << secret<int>(1234);
  EXPECT_EQ(os.str(), "*** ***");
  EXPECT_EQ(fmt::format("{}", secret<int>(1234)), "***");
}

TEST(Secret, NothingPrintedContainsTheValue) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const secret<std::string> s{std::string(kSecret)};
  std::cout << s << '\n';
  std::cerr << s << '\n';
  fmt::print("{} {:*^20}\n", s, s);
  fmt::print(stderr, "{}\n", s);
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("***"), std::string::npos);
  EXPECT_EQ(out.find("TOPSECRET"), std::string::npos) << out;
  EXPECT_EQ(err.find("TOPSECRET"), std::string::npos) << err;
}

TEST(Secret, ExposeEmptyCopyMove) {
  const secret<std::string> none;
  EXPECT_TRUE(none.empty());
  secret<std::string> a{std::string(kSecret)};
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a.expose(), kSecret);
  const secret<std::string> copy = a;
  EXPECT_EQ(copy.expose(), kSecret);
  secret<std::string> moved = std::move(a);
  EXPECT_EQ(moved.expose(), kSecret);
  secret<std::string> assigned;
  assigned = copy;
  EXPECT_EQ(assigned.expose(), kSecret);
  assigned = secret<std::string>(std::string("other"));
  EXPECT_EQ(assigned.expose(), "other");
  auto& self = assigned;
  assigned = self;  // self-assignment keeps the value
  EXPECT_EQ(assigned.expose(), "other");
  assigned = std::move(self);
  EXPECT_EQ(assigned.expose(), "other");
}

TEST(Secret, SecureWipeZeroes) {
  std::vector<unsigned char> buf(64, 0xAB);
  secure_wipe(buf.data(), buf.size());
  EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](unsigned char c) { return c == 0; }));
  secure_wipe(nullptr, 0);  // no-op
}

TEST(Secret, DestructionWipesTheBytes) {
  // Build the secret in raw storage, destroy it, and look at the bytes it occupied: the short
  // value was held inline, so without the wipe it would still be there.
  alignas(secret<std::string>) std::byte storage[sizeof(secret<std::string>)];
  auto* s = new (storage) secret<std::string>(std::string(kSecret));
  if (!contains(storage, sizeof storage, kSecret)) GTEST_SKIP() << "this std::string keeps no inline buffer";
  EXPECT_EQ(s->expose(), kSecret);
  s->~secret();
  EXPECT_FALSE(contains(storage, sizeof storage, kSecret));
  EXPECT_FALSE(contains(storage, sizeof storage, "TOPSECRET"));
}

TEST(Secret, MovedFromInlineBufferIsScrubbed) {
  alignas(secret<std::string>) std::byte storage[sizeof(secret<std::string>)];
  auto* from = new (storage) secret<std::string>(std::string(kSecret));
  if (!contains(storage, sizeof storage, kSecret)) GTEST_SKIP() << "this std::string keeps no inline buffer";
  secret<std::string> to(std::move(*from));
  EXPECT_EQ(to.expose(), kSecret);
  EXPECT_TRUE(from->empty());
  EXPECT_FALSE(contains(storage, sizeof storage, "TOPSECRET"));

  new (storage + 0) secret<std::string>(std::string(kSecret));  // `from` is reused below
  from = std::launder(reinterpret_cast<secret<std::string>*>(storage));
  secret<std::string> target{std::string("x")};
  target = std::move(*from);
  EXPECT_EQ(target.expose(), kSecret);
  EXPECT_FALSE(contains(storage, sizeof storage, "TOPSECRET"));
  from->~secret();
}

TEST(Secret, AssignmentWipesTheOldValueFirst) {
  // A long value lives on the heap; copy-assigning a shorter one reuses that buffer, and the tail
  // of the old value must not stay behind it.
  const std::string long_value = std::string(100, 'S') + "TOPSECRET";
  secret<std::string> s{long_value};
  const char* buffer = s.expose().data();
  const std::size_t capacity = s.expose().capacity();
  const secret<std::string> shorter{std::string(20, 'n')};
  s = shorter;
  if (s.expose().data() != buffer) GTEST_SKIP() << "the buffer was not reused";
  const std::string_view old_region(buffer, capacity);
  EXPECT_EQ(old_region.find("TOPSECRET"), std::string_view::npos);
  EXPECT_EQ(old_region.find("SSSS"), std::string_view::npos);
}

}  // namespace
}  // namespace oauthmail::core
