// Layer identities (OCI image-spec config.md): the ChainID of layer n names the
// whole stack of layers 0..n: ChainID(0) = DiffID(0), ChainID(n) =
// sha256(ChainID(n-1) + " " + DiffID(n)).
#pragma once

#include <string>
#include <vector>

namespace vmimage::builder {

std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids);

}  // namespace vmimage::builder
