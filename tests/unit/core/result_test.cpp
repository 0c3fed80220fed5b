// core::result<T> and result<void>, core::error and the core error category.
#include "core/result.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace oauthmail::core {
namespace {

error sample_error() {
  return error(make_error_code(errc::limit_exceeded), "the line is longer than 998 octets", failure_class::permanent);
}

result<int> parse_positive(int v) {
  if (v <= 0) return unexpected(error(make_error_code(errc::invalid_argument), "not positive"));
  return v;
}

TEST(Result, HoldsAValue) {
  const result<int> r = parse_positive(42);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(r.value_or(7), 42);
  EXPECT_THROW((void)r.error(), std::logic_error);
}

TEST(Result, HoldsAnError) {
  const result<int> r = parse_positive(-1);
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code(), errc::invalid_argument);
  EXPECT_EQ(r.error().message(), "not positive");
  EXPECT_EQ(r.error().classification(), failure_class::permanent);  // the constructor's default
  EXPECT_EQ(r.value_or(7), 7);
  EXPECT_THROW((void)r.value(), std::logic_error);
  try {
    (void)r.value();
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("not positive"), std::string::npos);
  }
}

TEST(Result, ConstructsFromErrorDirectly) {
  result<std::string> r = sample_error();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::limit_exceeded);
  const error moved = std::move(r).error();
  EXPECT_EQ(moved.message(), "the line is longer than 998 octets");
}

TEST(Result, MoveOnlyValues) {
  result<std::unique_ptr<int>> r(std::make_unique<int>(5));
  ASSERT_TRUE(r);
  EXPECT_EQ(**r, 5);
  std::unique_ptr<int> owned = std::move(r).value();
  ASSERT_NE(owned, nullptr);
  EXPECT_EQ(*owned, 5);
}

TEST(Result, InPlaceAndArrow) {
  const result<std::string> r(std::in_place, 3, 'x');
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "xxx");
  EXPECT_EQ(r->size(), 3u);
  result<std::string> m(std::string("abc"));
  m->push_back('d');
  EXPECT_EQ(*m, "abcd");
}

TEST(Result, ValueAndErrorTypesMayBothBeStrings) {
  // A result<error>-like ambiguity must not arise for string values: construction picks the value.
  const result<std::string> r(std::string("value"));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "value");
}

TEST(ResultVoid, DefaultIsSuccess) {
  const result<void> r;
  EXPECT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_NO_THROW(r.value());
  EXPECT_THROW((void)r.error(), std::logic_error);
}

TEST(ResultVoid, HoldsAnError) {
  const result<void> a = unexpected(sample_error());
  const result<void> b = sample_error();
  for (const auto* r : {&a, &b}) {
    ASSERT_FALSE(r->has_value());
    EXPECT_EQ(r->error().code(), errc::limit_exceeded);
    EXPECT_EQ(r->error().classification(), failure_class::permanent);
    EXPECT_THROW(r->value(), std::logic_error);
  }
}

TEST(Error, DefaultAndClassification) {
  const error none;
  EXPECT_FALSE(none.code());
  EXPECT_TRUE(none.message().empty());
  EXPECT_EQ(none.classification(), failure_class::none);

  error e = sample_error();
  e.with_class(failure_class::needs_human);
  EXPECT_EQ(e.classification(), failure_class::needs_human);
  const error t = error(make_error_code(errc::io_failure), "x").with_class(failure_class::transient);
  EXPECT_EQ(t.classification(), failure_class::transient);
}

TEST(Error, ClassNames) {
  EXPECT_EQ(to_string(failure_class::none), "none");
  EXPECT_EQ(to_string(failure_class::transient), "transient");
  EXPECT_EQ(to_string(failure_class::permanent), "permanent");
  EXPECT_EQ(to_string(failure_class::token_rejected), "token-rejected");
  EXPECT_EQ(to_string(failure_class::needs_human), "needs-human");
  EXPECT_EQ(to_string(failure_class::protocol), "protocol");
  EXPECT_EQ(to_string(failure_class::bug), "bug");
}

TEST(Error, CoreCategory) {
  const std::error_code ec = errc::io_failure;
  EXPECT_STREQ(ec.category().name(), "oauthmail.core");
  EXPECT_EQ(&ec.category(), &core_category());
  EXPECT_EQ(ec.message(), "input/output failure");
  EXPECT_EQ(make_error_code(errc::ok).message(), "success");
  EXPECT_EQ(make_error_code(static_cast<errc>(77)).message(), "unknown core error");
  EXPECT_NE(make_error_code(errc::internal), make_error_code(errc::invalid_argument));
}

}  // namespace
}  // namespace oauthmail::core
