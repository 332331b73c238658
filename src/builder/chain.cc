#include "builder/chain.h"

#include "io/sha256.h"

namespace vmimage::builder {

std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  out.reserve(diff_ids.size());
  for (const std::string& diff_id : diff_ids) {
    out.push_back(out.empty() ? diff_id : io::sha256_digest(out.back() + " " + diff_id));
  }
  return out;
}

}  // namespace vmimage::builder
