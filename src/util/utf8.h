// UTF-8 validation (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF), for text that must go into JSON unchanged.
#pragma once

#include <string>
#include <string_view>

namespace vmimage {

bool is_valid_utf8(std::string_view text);
// The text for a message: valid UTF-8 sequences kept, other bytes as \xNN.
std::string escape_non_utf8(std::string_view text);

}  // namespace vmimage
