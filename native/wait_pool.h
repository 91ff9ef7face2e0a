// The process-wide pool of waiter threads (native/wait_pool.cc) and the record of one
// lock wait that it serves. The glue (native/waiter.cc) creates waits, submits them,
// cancels them and routes their results back to their environment.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "fslock.h"

namespace fslock {

struct WaitChannel;  // where an async wait reports (native/waiter.cc)

struct Wait {
  enum State { kQueued, kRunning, kDone };

  // Fixed when the wait is created.
  int kind = 0, type = 0;
  file_t fd = -1;      // the descriptor the wait locks through
  bool ownFd = false;  // fd is a private duplicate (os::WaitDescriptor): closed when done
  int64_t start = 0, len = 0;
  std::shared_ptr<WaitChannel> ch;  // null for waitSync
  void *cb = nullptr;               // the JS callback's napi_ref (JS thread only)

  // Guarded by PoolMutex().
  State state = kQueued;
  bool blocking = false;  // kRunning in a blocking call on a pool thread (interruptible)
  bool cancelled = false;
  bool inQueue = false;   // has no blocking thread: the poller tries it (lazily removed)
  ThreadToken token = 0;  // of the blocking thread while `blocking`
  int result = 0;
  const char *sc = "";
  std::chrono::steady_clock::time_point due;  // the poller's next attempt
  int backoffMs = 0;
};

// One mutex for the pool, every wait's state and every channel's queue: all of them
// are held only for bookkeeping, never across a system call that can block.
std::mutex &PoolMutex();
// Notified (under PoolMutex) whenever a wait reaches kDone.
std::condition_variable &PoolDone();

// Hands a wait to the pool. 0, or a negative OS error when no thread could be started
// to serve it (then the wait was not queued; *sc names the call).
int Submit(const std::shared_ptr<Wait> &w, const char **sc);
// Under PoolMutex: a queued wait finishes at once (kInterruptedResult); a blocking one
// is interrupted (repeat until kDone: an interrupt that lands just before the thread
// enters its call is lost); one the poller is trying finishes after that attempt.
void CancelLocked(const std::shared_ptr<Wait> &w);
// Thread budget: waits beyond `maxBlocking` concurrent blocking calls are polled by one
// more thread with a backoff capped at max(pollCapMs, queued / 100) ms; a thread
// parked for `idleMs` exits.
void SetPoolLimits(int maxBlocking, int pollCapMs, int idleMs);
// Pool threads now (blocking, parked and poller), for tests and benchmarks.
int PoolThreads();

// Defined by the glue, called by the pool under PoolMutex when w reaches kDone.
void WaitFinished(const std::shared_ptr<Wait> &w);

}  // namespace fslock
