#include "cli/session.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cstdio>

namespace oauthmail::cli {

std::optional<config::configuration> load_configuration(const std::optional<std::string>& path) {
  const std::string file = config::resolve_path(path);
  auto loaded = config::load_file(file);
  if (!loaded.config) {
    for (const auto& p : loaded.problems) fmt::print(stderr, "oauthmail: {}\n", p.to_string());
    fmt::print(stderr, "oauthmail: error: the configuration {} has problems; fix them (oauthmail config check).\n",
               file);
    return std::nullopt;
  }
  return std::move(*loaded.config);
}

std::unique_ptr<net::token_service> make_token_service(const config::configuration& cfg) {
  net::token_service_options o;
  o.cache_path = cfg.token_cache.path.value_or(net::default_cache_path());
  o.key = cfg.token_cache.key;
  return std::make_unique<net::token_service>(std::move(o));
}

std::string describe_time(oauth::wall_clock::time_point t, oauth::wall_clock::time_point now) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t - now).count();
  const auto abs = secs < 0 ? -secs : secs;
  std::string rel = abs < 120      ? fmt::format("{} s", abs)
                    : abs < 7200   ? fmt::format("{} min", abs / 60)
                    : abs < 172800 ? fmt::format("{} h", abs / 3600)
                                   : fmt::format("{} days", abs / 86400);
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC ({})", fmt::gmtime(oauth::wall_clock::to_time_t(t)),
                     secs > 0 ? "in " + rel : rel + " ago");
}

}  // namespace oauthmail::cli
