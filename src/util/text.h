// Lists for messages: a hostile document may name 20,000 images; a message
// shows a few and says how many more.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vmimage {

// "a, b, c and 19997 more" (each item at most 128 bytes, "..." after).
std::string join_some(const std::vector<std::string>& items, size_t shown = 5,
                      std::string_view separator = ", ");

}  // namespace vmimage
