// The one work queue: tasks by index on a few threads, the first error wins.
#pragma once

#include <cstddef>
#include <functional>

#include "vmimage/result.h"

namespace vmimage {

// Runs task(i) for every i in [0, count) on up to `jobs` threads, the caller's
// among them. After a task fails no new one starts; the first error (in time)
// is returned once every running task has ended.
Status parallel_for(size_t count, int jobs, const std::function<Status(size_t)>& task);

}  // namespace vmimage
