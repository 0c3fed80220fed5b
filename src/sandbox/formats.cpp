#include "sandbox/formats.hpp"

#include <fmt/format.h>

namespace oauthmail::sandbox {

namespace {

struct civil {
  int year;
  unsigned month, day, weekday;  // weekday 0 = Sunday
  long long hour, minute, second, millisecond;
};

civil to_civil(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto days = floor<std::chrono::days>(ms);
  const year_month_day ymd{days};
  const weekday wd{days};
  const hh_mm_ss hms{ms - days};
  return {static_cast<int>(ymd.year()),
          static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()),
          wd.c_encoding(),
          static_cast<long long>(hms.hours().count()),
          static_cast<long long>(hms.minutes().count()),
          static_cast<long long>(hms.seconds().count()),
          static_cast<long long>(hms.subseconds().count())};
}

}  // namespace

std::string format_rfc3339_ms(std::chrono::system_clock::time_point t) {
  const civil c = to_civil(t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", c.year, c.month, c.day, c.hour, c.minute, c.second,
                     c.millisecond);
}

std::string format_rfc5322(std::chrono::system_clock::time_point t) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const civil c = to_civil(t);
  return fmt::format("{}, {} {} {:04} {:02}:{:02}:{:02} +0000", days[c.weekday], c.day, months[c.month - 1], c.year,
                     c.hour, c.minute, c.second);
}

}  // namespace oauthmail::sandbox
