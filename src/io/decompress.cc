#include "io/decompress.h"

#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <cstring>
#include <vector>


namespace vmimage::io {

namespace {

constexpr size_t kInBufSize = 256 * 1024;

class GzipReader : public Reader {
 public:
  GzipReader(std::unique_ptr<Reader> inner, std::string name)
      : inner_(std::move(inner)), name_(std::move(name)), in_(kInBufSize) {
    isal_inflate_init(&state_);
    state_.crc_flag = ISAL_GZIP;
  }

  Result<size_t> read(std::span<std::byte> buf) override {
    if (buf.empty()) return size_t{0};
    while (true) {
      if (finished_) return size_t{0};
      if (state_.block_state == ISAL_BLOCK_FINISH) {
        VMI_CHECK(start_next_member());
        continue;
      }
      if (state_.avail_in == 0 && !eof_) VMI_CHECK(fill());
      state_.next_out = reinterpret_cast<uint8_t*>(buf.data());
      state_.avail_out = static_cast<uint32_t>(std::min<size_t>(buf.size(), UINT32_MAX));
      int ret = isal_inflate(&state_);
      if (ret < 0) return corrupt(ret);
      size_t produced = buf.size() - state_.avail_out;
      if (produced > 0) return produced;
      if (state_.block_state != ISAL_BLOCK_FINISH && state_.avail_in == 0 && eof_) {
        return Error(ErrorKind::kExtract, name_ + ": gzip stream is truncated (input ended " +
                                              "inside a compressed member)");
      }
    }
  }

 private:
  Status fill() {
    VMI_TRY(size_t n, inner_->read(in_));
    if (n == 0) eof_ = true;
    state_.next_in = reinterpret_cast<uint8_t*>(in_.data());
    state_.avail_in = static_cast<uint32_t>(n);
    return {};
  }

  // A gzip file may hold several members back to back; anything else after
  // the first member is an error rather than silently ignored data.
  Status start_next_member() {
    if (state_.avail_in == 0 && !eof_) VMI_CHECK(fill());
    if (state_.avail_in == 0 && eof_) {
      finished_ = true;
      return {};
    }
    if (state_.avail_in < 2 && !eof_) {
      uint8_t first = *state_.next_in;
      VMI_CHECK(fill_keeping(first));
    }
    if (state_.avail_in >= 2 && state_.next_in[0] == 0x1f && state_.next_in[1] == 0x8b) {
      uint8_t* next = state_.next_in;
      uint32_t avail = state_.avail_in;
      isal_inflate_reset(&state_);
      state_.crc_flag = ISAL_GZIP;
      state_.next_in = next;
      state_.avail_in = avail;
      return {};
    }
    return Error(ErrorKind::kExtract, name_ + ": unexpected data after the end of the gzip stream");
  }

  Status fill_keeping(uint8_t first) {
    in_[0] = std::byte{first};
    VMI_TRY(size_t n, inner_->read(std::span(in_).subspan(1)));
    if (n == 0) eof_ = true;
    state_.next_in = reinterpret_cast<uint8_t*>(in_.data());
    state_.avail_in = static_cast<uint32_t>(n + 1);
    return {};
  }

  Error corrupt(int code) const {
    const char* why = "corrupt deflate data";
    if (code == ISAL_INCORRECT_CHECKSUM) why = "checksum mismatch (corrupt data)";
    if (code == ISAL_INVALID_WRAPPER) why = "invalid gzip header";
    if (code == ISAL_UNSUPPORTED_METHOD) why = "unsupported compression method";
    return Error(ErrorKind::kExtract, name_ + ": gzip: " + why + " (isa-l code " +
                                          std::to_string(code) + ")");
  }

  std::unique_ptr<Reader> inner_;
  std::string name_;
  std::vector<std::byte> in_;
  inflate_state state_{};
  bool eof_ = false;
  bool finished_ = false;
};

class ZstdReader : public Reader {
 public:
  ZstdReader(std::unique_ptr<Reader> inner, std::string name)
      : inner_(std::move(inner)), name_(std::move(name)), in_(ZSTD_DStreamInSize()),
        dctx_(ZSTD_createDCtx()) {}
  ~ZstdReader() override { ZSTD_freeDCtx(dctx_); }

  Result<size_t> read(std::span<std::byte> buf) override {
    if (buf.empty()) return size_t{0};
    ZSTD_outBuffer out{buf.data(), buf.size(), 0};
    while (out.pos == 0) {
      if (input_.pos == input_.size) {
        VMI_TRY(size_t n, inner_->read(in_));
        if (n == 0) {
          if (frame_open_) {
            return Error(ErrorKind::kExtract, name_ + ": zstd stream is truncated");
          }
          return size_t{0};
        }
        input_ = {in_.data(), n, 0};
      }
      size_t ret = ZSTD_decompressStream(dctx_, &out, &input_);
      if (ZSTD_isError(ret)) {
        return Error(ErrorKind::kExtract,
                     name_ + ": zstd: " + ZSTD_getErrorName(ret) + " (corrupt data)");
      }
      frame_open_ = ret != 0;
    }
    return out.pos;
  }

 private:
  std::unique_ptr<Reader> inner_;
  std::string name_;
  std::vector<std::byte> in_;
  ZSTD_DCtx* dctx_;
  ZSTD_inBuffer input_{nullptr, 0, 0};
  bool frame_open_ = false;
};

}  // namespace

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
    case Compression::kZstd: return "zstd";
  }
  return "unknown";
}

std::unique_ptr<Reader> make_gzip_reader(std::unique_ptr<Reader> inner, std::string name) {
  return std::make_unique<GzipReader>(std::move(inner), std::move(name));
}

std::unique_ptr<Reader> make_zstd_reader(std::unique_ptr<Reader> inner, std::string name) {
  return std::make_unique<ZstdReader>(std::move(inner), std::move(name));
}

Result<Decompressed> open_decompressed(std::unique_ptr<Reader> inner, std::string name) {
  auto peek = std::make_unique<PeekReader>(std::move(inner));
  VMI_TRY(auto head, peek->peek(4));
  auto byte = [&](size_t i) { return std::to_integer<uint8_t>(head[i]); };
  Decompressed d;
  if (head.size() >= 2 && byte(0) == 0x1f && byte(1) == 0x8b) {
    d = Decompressed{make_gzip_reader(std::move(peek), std::move(name)), Compression::kGzip};
  } else if (head.size() >= 4 && byte(0) == 0x28 && byte(1) == 0xb5 && byte(2) == 0x2f &&
             byte(3) == 0xfd) {
    d = Decompressed{make_zstd_reader(std::move(peek), std::move(name)), Compression::kZstd};
  } else {
    return Decompressed{std::move(peek), Compression::kNone};
  }
  return d;
}

}  // namespace vmimage::io
