// Corpus replay driver: runs every file below the given directories (or the given files) through
// LLVMFuzzerTestOneInput once. Built with any compiler, so `make test` replays the fuzz corpus
// under g++ and the sanitizers without needing libFuzzer. Exits non-zero if no input was found.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
int run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  int count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg)) {
        if (entry.is_regular_file()) count += run_file(entry.path());
      }
    } else if (std::filesystem::is_regular_file(arg)) {
      count += run_file(arg);
    }
  }
  if (count == 0) {
    std::cerr << "fuzz replay: no corpus files found\n";
    return 1;
  }
  std::cout << "fuzz replay: " << count << " inputs ran without a crash\n";
  return 0;
}
