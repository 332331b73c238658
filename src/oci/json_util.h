// Strict, exception-free access to JSON documents (nlohmann-json): each getter
// checks the type and names the field path ("layers[2].digest") in its error.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::oci::json {

using Json = nlohmann::json;

// Arrays and objects nested deeper than this are refused before parsing: no
// OCI or Docker document comes near it, and a deep one costs memory for nothing.
constexpr size_t kMaxDepth = 64;

// Parses `text` as one JSON document of any type, at most kMaxDepth deep;
// `what` names the document in errors.
Result<Json> parse_document(std::string_view text, std::string_view what, ErrorKind kind);
// The same, for a document that must be an object.
Result<Json> parse_object(std::string_view text, std::string_view what, ErrorKind kind);

// A field reader bound to one object and its path inside the document.
class Fields {
 public:
  Fields(const Json& object, std::string path, ErrorKind kind)
      : object_(object), path_(std::move(path)), kind_(kind) {}

  bool has(std::string_view key) const;
  // The value of `key` if present and not null.
  const Json* find(std::string_view key) const;

  Result<std::string> string(std::string_view key) const;  // required
  Result<std::string> optional_string(std::string_view key) const;
  Result<int64_t> integer(std::string_view key) const;                       // required
  Result<std::vector<std::string>> string_list(std::string_view key) const;  // null = empty
  Result<std::map<std::string, std::string>> string_map(std::string_view key) const;
  // Keys of an object whose values are ignored ({"80/tcp": {}}); null = empty.
  Result<std::vector<std::string>> key_set(std::string_view key) const;
  // An array field (required unless `optional`); each element checked by the caller.
  Result<const Json*> array(std::string_view key, bool optional = false) const;
  Result<const Json*> object(std::string_view key, bool optional = false) const;

  std::string path_of(std::string_view key) const;
  Error error(std::string_view key, std::string_view problem) const;

 private:
  const Json& object_;
  std::string path_;
  ErrorKind kind_;
};

}  // namespace vmimage::oci::json
