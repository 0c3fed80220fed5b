// Fuzz target: sandbox::parse_fault_plan over arbitrary JSON (PUT /api/faults takes it from any
// local client). Invariants: no crash; a plan that parses serialises (to_json) to a document that
// parses again to the same serialisation; errors name where they are.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sandbox/faults.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace oauthmail::sandbox;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec) return 0;
  const auto plan = parse_fault_plan(v);
  if (!plan) {
    check(plan.error().message().find(": ") != std::string::npos);
    return 0;
  }
  const auto json = to_json(*plan);
  const auto again = parse_fault_plan(json);
  check(again.has_value());
  check(boost::json::serialize(to_json(*again)) == boost::json::serialize(json));
  // The registry takes any valid plan and fires only what it holds.
  fault_registry reg(size);
  reg.replace(*plan);
  for (int i = 0; i < 16; ++i) {
    const auto f = reg.fire_smtp(static_cast<smtp_step>(i % 11));
    if (f) check(static_cast<int>(f->step) == i % 11);
  }
  return 0;
}
