// Test helpers: tar streams built with libarchive's write API, or byte by byte
// when a test needs headers libarchive would not write.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "io/reader.h"

namespace vmimage::testing {

class TarBuilder {
 public:
  explicit TarBuilder(int format = ARCHIVE_FORMAT_TAR_PAX_RESTRICTED) : ar_(archive_write_new()) {
    archive_write_set_format(ar_, format);
    archive_write_set_bytes_in_last_block(ar_, 1);
    archive_write_open(ar_, this, nullptr, &TarBuilder::write_cb, nullptr);
  }
  ~TarBuilder() { archive_write_free(ar_); }

  // Adds an entry set up by `setup` (path, type and mode are preset), then `data`.
  void add(const std::string& path, unsigned type, const std::string& data = "",
           const std::function<void(archive_entry*)>& setup = nullptr) {
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    if (setup) setup(e);
    if (archive_write_header(ar_, e) != ARCHIVE_OK) {
      std::fprintf(stderr, "archive_write_header: %s\n", archive_error_string(ar_));
      std::abort();
    }
    if (!data.empty()) archive_write_data(ar_, data.data(), data.size());
    archive_entry_free(e);
  }
  void file(const std::string& path, const std::string& data,
            const std::function<void(archive_entry*)>& setup = nullptr) {
    add(path, AE_IFREG, data, setup);
  }
  void dir(const std::string& path) { add(path, AE_IFDIR); }
  // A sparse file of `size` bytes holding only `runs` (offset → bytes); the pax
  // writer stores it as GNU sparse 1.0.
  void sparse_file(const std::string& path, int64_t size,
                   const std::map<int64_t, std::string>& runs) {
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, size);
    for (const auto& [offset, data] : runs) {
      archive_entry_sparse_add_entry(e, offset, static_cast<la_int64_t>(data.size()));
    }
    archive_write_header(ar_, e);
    // The pax writer takes the whole logical content and skips the holes.
    std::string content(static_cast<size_t>(size), '\0');
    for (const auto& [offset, data] : runs) content.replace(offset, data.size(), data);
    archive_write_data(ar_, content.data(), content.size());
    archive_entry_free(e);
  }

  std::string finish() {
    archive_write_close(ar_);
    return out_;
  }

 private:
  static la_ssize_t write_cb(archive*, void* self, const void* buf, size_t n) {
    static_cast<TarBuilder*>(self)->out_.append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }
  archive* ar_;
  std::string out_;
};

// One 512-byte ustar header. `size` is written as given, whatever data follows.
inline std::string ustar_header(const std::string& name, uint64_t size, char typeflag = '0',
                                const std::string& linkname = "") {
  std::string h(512, '\0');
  std::memcpy(&h[0], name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(&h[100], 8, "%07o", 0644);
  std::snprintf(&h[108], 8, "%07o", 0);
  std::snprintf(&h[116], 8, "%07o", 0);
  std::snprintf(&h[124], 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(&h[136], 12, "%011o", 0);
  h[156] = typeflag;
  std::memcpy(&h[157], linkname.data(), std::min<size_t>(linkname.size(), 100));
  std::memcpy(&h[257],
              "ustar\0"
              "00",
              8);
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(&h[148], 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

inline std::string pad512(std::string data) {
  data.resize((data.size() + 511) / 512 * 512, '\0');
  return data;
}

// A pax extended header ('x') carrying `records` (key → value, raw bytes).
inline std::string pax_header(const std::map<std::string, std::string>& records) {
  std::string body;
  for (const auto& [key, value] : records) {
    std::string rec = " " + key + "=" + value + "\n";
    size_t len = rec.size() + 1;
    while (std::to_string(len).size() + rec.size() != len) ++len;
    body += std::to_string(len) + rec;
  }
  return ustar_header("PaxHeader", body.size(), 'x') + pad512(body);
}

inline std::string end_of_archive() {
  return std::string(1024, '\0');
}

// Yields bytes from a string in chunks of at most `chunk`, to exercise buffering.
class ChunkReader : public io::Reader {
 public:
  ChunkReader(std::string data, size_t chunk) : data_(std::move(data)), chunk_(chunk) {}
  Result<size_t> read(std::span<std::byte> buf) override {
    size_t n = std::min({buf.size(), chunk_, data_.size() - pos_});
    std::memcpy(buf.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  size_t pos() const { return pos_; }

 private:
  std::string data_;
  size_t chunk_;
  size_t pos_ = 0;
};

}  // namespace vmimage::testing
