// The registry client a build's options ask for: insecure registries, extra
// CA certificates and the limits. Pulls and the C ABI's push share it.
#pragma once

#include "source/registry/client.h"
#include "vmimage/builder.h"

namespace vmimage::builder {

inline registry::ClientOptions registry_options(const BuildOptions& options) {
  registry::ClientOptions o;
  o.insecure_registries = options.insecure_registries;
  o.ca_file = options.ca_file;
  o.limits = options.limits;
  return o;
}

}  // namespace vmimage::builder
