// Decompressing readers: gzip (isa-l igzip, multi-member) and zstd (libzstd),
// chosen by the stream's magic bytes, never by name or media type alone.
#pragma once

#include <memory>
#include <string>

#include "io/reader.h"

namespace vmimage::io {

enum class Compression { kNone, kGzip, kZstd };

std::string_view compression_name(Compression c);

std::unique_ptr<Reader> make_gzip_reader(std::unique_ptr<Reader> inner, std::string name);
std::unique_ptr<Reader> make_zstd_reader(std::unique_ptr<Reader> inner, std::string name);

struct Decompressed {
  std::unique_ptr<Reader> reader;
  Compression compression = Compression::kNone;
};

// Sniffs the first bytes of `inner` and wraps it in the matching decompressor
// (or passes it through). `name` appears in error messages.
// (To decompress on another thread, wrap the result in a ReadAheadReader or a
// HashingReader with HashOn::kReadAhead.)
Result<Decompressed> open_decompressed(std::unique_ptr<Reader> inner, std::string name);

}  // namespace vmimage::io
