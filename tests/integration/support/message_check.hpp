// Reads a message back with a parser nobody here wrote: peers/parse_message.py (Python's email
// package, default policy). Returns its JSON (see the script's docstring); throws with the script's
// output if it fails.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "integration/support/harness.hpp"

namespace oauthmail::testing {

boost::json::object parse_with_python(const fs::path& eml, const fs::path& work_dir);

// The decoded values of every header called `name` (case-insensitive).
std::vector<std::string> header_values(const boost::json::object& parsed, std::string_view name);
// The [display name, address] pairs of an address header.
std::vector<std::pair<std::string, std::string>> addresses(const boost::json::object& parsed, std::string_view name);

// SHA-256 of a file or string, lower-case hex (with the openssl CLI: nothing of ours).
std::string sha256_hex_of_file(const fs::path& file, const fs::path& work_dir);

}  // namespace oauthmail::testing
