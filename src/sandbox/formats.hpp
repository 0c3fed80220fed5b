// Date formats the sandbox writes: RFC 3339 UTC with milliseconds ("2024-03-20T10:27:56.998Z",
// as in Exchange's 535 texts and the capture JSON) and the RFC 5322 date of Exchange's greeting
// ("Mon, 27 Mar 2023 18:17:53 +0000").
// Must not: read the clock (times are passed in).
#pragma once

#include <chrono>
#include <string>

namespace oauthmail::sandbox {

std::string format_rfc3339_ms(std::chrono::system_clock::time_point t);
std::string format_rfc5322(std::chrono::system_clock::time_point t);

}  // namespace oauthmail::sandbox
