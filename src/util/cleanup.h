// Ending on a signal without leaving anything behind. A file being written (an
// output under its temporary name, a store blob before its rename) registers
// its path. The CLI's handler for SIGINT, SIGTERM and SIGHUP first cancels the
// running command (its CancelToken), which unwinds and removes what it made;
// if the command has not ended after a grace period (or a second signal
// comes), the handler unlinks every registered path (unlink is
// async-signal-safe) and the process dies of the first signal.
#pragma once

#include <string>

#include "vmimage/cancel.h"

namespace vmimage {

// Registers `path`; returns a slot for unregister_cleanup, or -1 when the path
// cannot be kept (too long, or every slot in use: the file is then left, as
// after a kill -9).
int register_cleanup(const std::string& path);
void unregister_cleanup(int slot);

// Installs the handlers (for programs, not libraries). `token` (may be null)
// is cancelled by the first signal; it must outlive the program's work.
void install_signal_handlers(const CancelToken* token);
// The first signal received, or 0.
int received_signal();

}  // namespace vmimage
