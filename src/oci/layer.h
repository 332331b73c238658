// Layer streams: the uncompressed tar (or EROFS image) of a layer, checked
// against its DiffID (the sha256 of the uncompressed content, image-spec
// config.md "layer DiffID").
#pragma once

#include <memory>
#include <string>

#include "io/decompress.h"
#include "io/reader.h"
#include "oci/digest.h"

namespace vmimage::oci {

// Wraps a (verified) compressed layer stream in the decompressor its magic
// bytes call for and a hash of the tar that must equal `diff_id` at end of
// stream; a mismatch is a kImageDigest error from the final read. Callers must
// read to the end (io::drain after the tar's end marker) for the check to run.
// When decompression fails, the compressed stream is drained so that a blob
// digest mismatch (corrupt download) is reported as such, not as bad gzip.
Result<std::unique_ptr<io::Reader>> open_layer_tar(std::unique_ptr<io::Reader> compressed,
                                                   const Digest& diff_id, std::string name);

// An EROFS layer's image, unwrapped as its media type declares (never by
// sniffing: a raw image's bytes are the image) and checked against `diff_id`
// (the sha256 of the raw image) at end of stream, as open_layer_tar.
Result<std::unique_ptr<io::Reader>> open_layer_image(std::unique_ptr<io::Reader> blob,
                                                     io::Compression compression,
                                                     const Digest& diff_id,
                                                     const std::string& name);

}  // namespace vmimage::oci
