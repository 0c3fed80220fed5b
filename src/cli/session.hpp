// What the account-aware commands share: loading the configuration (problems printed, exit code),
// and the token service built from its [token_cache] section.
// Must not: print a secret.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "net/token_service.hpp"

namespace oauthmail::cli {

// Loads the configuration; on problems prints them to stderr and returns nullopt.
std::optional<config::configuration> load_configuration(const std::optional<std::string>& path);

std::unique_ptr<net::token_service> make_token_service(const config::configuration& cfg);

// "2026-11-22 14:03:00 UTC (in 52 min)" for people.
std::string describe_time(oauth::wall_clock::time_point t, oauth::wall_clock::time_point now);

}  // namespace oauthmail::cli
