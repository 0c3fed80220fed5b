#include <gtest/gtest.h>

#include "oauth/presets.hpp"

namespace oauthmail::oauth {
namespace {
TEST(Presets, Placeholder) { EXPECT_EQ(provider_name(config::provider_kind::google), "google"); }
}  // namespace
}  // namespace oauthmail::oauth
