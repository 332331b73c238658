// Streaming tar reader: libarchive (tar/ustar/pax/GNU formats only, no filters)
// fed from an io::Reader through a bounded buffer. Yields normalized entries and
// their data blocks (sparse files as blocks with holes between them).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/reader.h"
#include "tar/entry.h"
#include "util/budget.h"
#include "vmimage/limits.h"

struct archive;
struct archive_entry;

namespace vmimage::tar {

// What a layer's tar may hold (vmimage/limits.h names these limits).
struct TarOptions {
  PathLimits paths{Limits{}.max_path_bytes, Limits{}.max_path_depth};
  uint64_t max_bytes = Limits{}.max_layer_bytes;  // the tar stream, trailing bytes included
  uint64_t max_trailing_bytes = Limits{}.max_trailing_bytes;
  Budget* image_bytes = nullptr;  // shared by the layers of one image; may be null
};

class TarReader final : public DataReader {
 public:
  // `input` is the uncompressed tar stream and must outlive the reader; `name`
  // names it in messages.
  static Result<std::unique_ptr<TarReader>> open(io::Reader& input, std::string name,
                                                 TarOptions options = {});
  ~TarReader() override;
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // The next entry (valid until the next call), or nullptr at the end of the
  // archive. At the end the input is drained to EOF, so bytes after the
  // end-of-archive marker still pass through (and are checked by) the input;
  // more than options.max_trailing_bytes of them is an error.
  // Unread data of the previous entry is skipped.
  Result<const Entry*> next();
  // The current entry's data. Hardlinks and non-files yield no blocks.
  Result<std::optional<DataBlock>> read_block() override;

  // Problems libarchive reported about entries it could still read (e.g. a
  // malformed pax record it ignored). Charset notices are left out: names are
  // kept as raw bytes.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Tar bytes handed to libarchive so far.
  uint64_t bytes_fed() const { return fed_; }

 private:
  TarReader(io::Reader& input, std::string name, TarOptions options);
  Status count_bytes(uint64_t n);
  Status drain_trailing();
  static ssize_t read_callback(archive* ar, void* self, const void** out);
  Status fill_entry(archive_entry* ae);
  Status fill_type_fields(archive_entry* ae);
  Error entry_error(std::string_view what) const;
  Error archive_failure(std::string_view doing) const;
  void note_warning();

  io::Reader& input_;
  std::string name_;
  TarOptions options_;
  archive* ar_ = nullptr;
  std::vector<std::byte> buf_;
  std::optional<Error> input_error_;
  uint64_t fed_ = 0;
  Entry entry_;
  bool have_entry_ = false;
  bool data_done_ = true;
  bool ended_ = false;
  std::vector<std::string> warnings_;
};

}  // namespace vmimage::tar
