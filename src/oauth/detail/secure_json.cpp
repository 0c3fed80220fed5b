#include "oauth/detail/secure_json.hpp"

#include <new>

#include "core/secret.hpp"

namespace oauthmail::oauth::detail {

namespace {

class wiping_resource final : public boost::json::memory_resource {
 protected:
  // Plain new/delete for the usual alignments (pairing aligned new with small alignments confuses
  // sanitizers), aligned ones beyond; both sides decide by the same `align`.
  void* do_allocate(std::size_t n, std::size_t align) override {
    if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator new(n);
    return ::operator new(n, std::align_val_t(align));
  }
  void do_deallocate(void* p, std::size_t n, std::size_t align) override {
    core::secure_wipe(p, n);
    if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      ::operator delete(p);
    } else {
      ::operator delete(p, std::align_val_t(align));  // unsized: clang does not enable sized deallocation
    }
  }
  bool do_is_equal(const boost::json::memory_resource& other) const noexcept override { return this == &other; }
};

}  // namespace

boost::json::storage_ptr secure_storage() {
  static const boost::json::storage_ptr sp = boost::json::make_shared_resource<wiping_resource>();
  return sp;
}

core::secret<std::string> serialize_secret(const boost::json::value& value) {
  boost::json::serializer sr;
  sr.reset(&value);
  std::string out;
  out.reserve(64 * 1024);
  char buf[4096];
  while (!sr.done()) {
    const boost::json::string_view chunk = sr.read(buf, sizeof buf);
    if (out.size() + chunk.size() > out.capacity()) {
      // Grow by hand so that the old buffer is wiped before it is freed.
      std::string bigger;
      bigger.reserve(2 * (out.size() + chunk.size()));
      bigger.append(out);
      core::secure_wipe(out.data(), out.size());
      out.swap(bigger);
    }
    out.append(chunk.data(), chunk.size());
  }
  core::secure_wipe(buf, sizeof buf);
  core::secret<std::string> result(out);
  core::secure_wipe(out.data(), out.size());
  return result;
}

}  // namespace oauthmail::oauth::detail
