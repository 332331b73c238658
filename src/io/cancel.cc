#include "io/cancel.h"

namespace vmimage::io {

Error cancelled_error() { return Error(ErrorKind::kCancelled, "cancelled"); }

}  // namespace vmimage::io
