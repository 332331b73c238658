#include "util/cleanup.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace vmimage {
namespace {

constexpr int kSlots = 1024;  // files written at once: an image's layers, its squash, an output
constexpr size_t kPathMax = 4096;

enum State : int { kFree = 0, kFilling = 1, kActive = 2 };

struct Slot {
  std::atomic<int> state{kFree};
  char path[kPathMax];
};

constexpr unsigned kGraceSeconds = 3;  // for a cancelled command to unwind

Slot g_slots[kSlots];
const CancelToken* g_token = nullptr;
std::atomic<int> g_signal{0};

[[noreturn]] void remove_and_die(int sig) {
  for (Slot& s : g_slots) {
    if (s.state.load(std::memory_order_acquire) == kActive) ::unlink(s.path);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  ::_exit(128 + sig);
}

void on_signal(int sig) {
  int saved = errno;
  int first = 0;
  if (sig != SIGALRM && g_signal.compare_exchange_strong(first, sig) && g_token != nullptr) {
    g_token->cancel();
    ::alarm(kGraceSeconds);
    errno = saved;
    return;
  }
  remove_and_die(first != 0 ? first : (sig == SIGALRM ? g_signal.load() : sig));
}

}  // namespace

int register_cleanup(const std::string& path) {
  if (path.size() >= kPathMax) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!g_slots[i].state.compare_exchange_strong(expected, kFilling)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(kActive, std::memory_order_release);
    return i;
  }
  return -1;
}

void unregister_cleanup(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  g_slots[slot].state.store(kFree, std::memory_order_release);
}

void install_signal_handlers(const CancelToken* token) {
  g_token = token;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);  // no SA_RESTART: a blocked read returns EINTR
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    // A signal the caller chose to ignore (nohup, a shell's background job) stays ignored.
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    ::sigaction(sig, &sa, nullptr);
  }
  ::sigaction(SIGALRM, &sa, nullptr);
}

int received_signal() { return g_signal.load(); }

}  // namespace vmimage
