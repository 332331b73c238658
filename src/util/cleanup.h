// Temporary files to remove if the process is ended by a signal. A file being
// written (an output under its temporary name, a store blob before its rename)
// registers its path; the CLI's SIGINT/SIGTERM/SIGHUP handler unlinks every
// registered path (unlink is async-signal-safe), then dies of the signal.
#pragma once

#include <string>

namespace vmimage {

// Registers `path`; returns a slot for unregister_cleanup, or -1 when the path
// cannot be kept (too long, or every slot in use: the file is then left, as
// after a kill -9).
int register_cleanup(const std::string& path);
void unregister_cleanup(int slot);

// Installs the handler for SIGINT, SIGTERM and SIGHUP (for programs, not libraries).
void install_cleanup_handlers();

}  // namespace vmimage
