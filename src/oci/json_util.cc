// Typed JSON field access without exceptions reaching callers.
#include "oci/json_util.h"

#include <algorithm>

namespace vmimage::oci::json {

namespace {

// The deepest nesting of arrays and objects, strings skipped (a scan, no parse).
size_t nesting_depth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

Result<Json> parse_document(std::string_view text, std::string_view what, ErrorKind kind) {
  if (nesting_depth(text) > kMaxDepth) {
    return Error(kind, std::string(what) + ": JSON nested deeper than " +
                           std::to_string(kMaxDepth) + " levels");
  }
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error(kind, std::string(what) + ": not valid JSON");
  return doc;
}

Result<Json> parse_object(std::string_view text, std::string_view what, ErrorKind kind) {
  VMI_TRY(Json doc, parse_document(text, what, kind));
  if (!doc.is_object()) return Error(kind, std::string(what) + ": not a JSON object");
  return doc;
}

std::string Fields::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

Error Fields::error(std::string_view key, std::string_view problem) const {
  return Error(kind_, "field \"" + path_of(key) + "\": " + std::string(problem));
}

bool Fields::has(std::string_view key) const {
  return find(key) != nullptr;
}

const Json* Fields::find(std::string_view key) const {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> Fields::string(std::string_view key) const {
  const Json* v = find(key);
  if (!v) return error(key, "missing");
  if (!v->is_string()) return error(key, "not a string");
  return v->get<std::string>();
}

Result<std::string> Fields::optional_string(std::string_view key) const {
  if (!find(key)) return std::string();
  return string(key);
}

Result<int64_t> Fields::integer(std::string_view key) const {
  const Json* v = find(key);
  if (!v) return error(key, "missing");
  if (!v->is_number_integer()) return error(key, "not an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX}) {
    return error(key, "integer out of range");
  }
  return v->get<int64_t>();
}

Result<std::vector<std::string>> Fields::string_list(std::string_view key) const {
  std::vector<std::string> out;
  const Json* v = find(key);
  if (!v) return out;
  if (!v->is_array()) return error(key, "not an array of strings");
  for (const Json& item : *v) {
    if (!item.is_string()) return error(key, "not an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<std::map<std::string, std::string>> Fields::string_map(std::string_view key) const {
  std::map<std::string, std::string> out;
  const Json* v = find(key);
  if (!v) return out;
  if (!v->is_object()) return error(key, "not an object of strings");
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_string()) return error(key, "value of \"" + it.key() + "\" not a string");
    out.emplace(it.key(), it.value().get<std::string>());
  }
  return out;
}

Result<std::vector<std::string>> Fields::key_set(std::string_view key) const {
  std::vector<std::string> out;
  const Json* v = find(key);
  if (!v) return out;
  if (!v->is_object()) return error(key, "not an object");
  for (auto it = v->begin(); it != v->end(); ++it) out.push_back(it.key());
  return out;
}

Result<const Json*> Fields::array(std::string_view key, bool optional) const {
  const Json* v = find(key);
  if (!v) {
    if (optional) return static_cast<const Json*>(nullptr);
    return error(key, "missing");
  }
  if (!v->is_array()) return error(key, "not an array");
  return v;
}

Result<const Json*> Fields::object(std::string_view key, bool optional) const {
  const Json* v = find(key);
  if (!v) {
    if (optional) return static_cast<const Json*>(nullptr);
    return error(key, "missing");
  }
  if (!v->is_object()) return error(key, "not an object");
  return v;
}

}  // namespace vmimage::oci::json
