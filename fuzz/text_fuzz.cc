// Text from outside, by grammar: image references, platforms, sizes and limit
// assignments, WWW-Authenticate challenges, token answers, Retry-After values,
// registry error bodies. The first byte picks the parser.
#include <cstdint>

#include "oci/platform.h"
#include "oci/reference.h"
#include "source/registry/auth.h"
#include "source/registry/retry.h"
#include "source/registry/session.h"
#include "util/size.h"
#include "util/utf8.h"
#include "vmimage/limits.h"

using namespace vmimage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0:
      if (auto r = oci::parse_reference(text); r.ok()) {
        auto again = oci::parse_reference(r->str());  // the normal form parses to itself
        if (!again.ok() || again->str() != r->str()) std::abort();
        if (!is_valid_utf8(r->str())) std::abort();
      }
      (void)oci::parse_repository(text);
      break;
    case 1:
      (void)oci::parse_platform(text);
      (void)parse_size(text);
      break;
    case 2: {
      Limits limits;
      (void)apply_limits(limits, text);
      break;
    }
    case 3:
      (void)registry::parse_challenges(text);
      break;
    case 4:
      if (auto t = registry::parse_token_response(text); t.ok()) {
        if (!registry::is_b64token(t->value)) std::abort();  // nothing else may reach a header
      }
      break;
    case 5:
      (void)registry::parse_retry_after(text, std::chrono::system_clock::now());
      break;
    case 6:
      (void)registry::registry_error_summary(text);
      (void)escape_non_utf8(text);
      break;
  }
  return 0;
}
