// Per-layer progress events, for a CLI to draw progress bars from. Events for
// one layer come from the thread reading it; a sink shared by parallel layer
// downloads must be thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "oci/digest.h"

namespace vmimage::registry {

struct LayerEvent {
  enum class Kind {
    kResolved,    // the layer is known: total = its compressed size
    kBytes,       // done of total compressed bytes have arrived
    kConverting,  // reserved for consumers that convert as bytes arrive
    kDone,        // the blob ended and its digest and size checked out
    kFailed,      // message says why
  };
  Kind kind = Kind::kResolved;
  oci::Digest digest;
  int index = -1;  // position in the manifest's layer list, -1 when unknown
  uint64_t done = 0;
  uint64_t total = 0;
  std::string message;
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void on_layer(const LayerEvent& event) = 0;
};

}  // namespace vmimage::registry
