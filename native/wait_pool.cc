// The waiter threads, shared by every environment of the process (main thread and
// workers): a lock wait is unbounded, so it never runs on libuv's threadpool (fs-ext
// #49), and a thread per wait does not scale (3,000 waits were 3,007 threads).
//
// - Up to maxBlocking waits each get a thread blocked in the kernel's own wait
//   (F_OFD_SETLKW / flock): woken by the kernel at release, interrupted by a signal
//   (os::InterruptThread) for timeout, abort and environment teardown.
// - Further waits queue, oldest first. One poller thread (started before the second
//   blocking thread, see Submit) tries each queued wait without blocking, with a
//   per-wait backoff (1 ms doubling to the cap), so a queued wait is granted when its
//   holder releases even while every blocking thread waits on a lock that is never
//   released. A blocking thread that finishes takes the oldest queued wait (promotion
//   back to a kernel wake-up).
// - Threads park between waits (a hand-off reuses one instead of creating one) and
//   exit after idleMs without work, so an idle process returns to its baseline.
// Nothing here is destroyed: the pool is allocated once and never freed, because its
// threads may still run while exit() destroys static objects (process.exit() on the
// main thread runs no environment cleanup).
#include "wait_pool.h"

#include <algorithm>
#include <deque>
#include <system_error>
#include <thread>
#include <vector>

namespace fslock {
namespace {

using Clock = std::chrono::steady_clock;
using WaitPtr = std::shared_ptr<Wait>;

struct Pool {
  std::mutex mu;
  std::condition_variable work;  // parked blocking threads
  std::condition_variable poll;  // the poller, between rounds
  std::condition_variable done;  // waitSync callers and environment teardown
  std::deque<WaitPtr> queue;     // waits without a blocking thread (stale entries skipped)
  size_t queued = 0;             // entries of `queue` that are inQueue
  int threads = 0;               // blocking threads alive
  int idle = 0;                  // of those, parked and not yet signalled
  int signalled = 0;             // parked threads told that work arrived
  bool poller = false;
  int maxBlocking = 32, pollCapMs = 10, idleMs = 2000;
};

Pool &P() {
  static Pool *p = new Pool();  // never freed: see the top of this file
  return *p;
}

// The call that waits in the kernel.
int Blocking(const Wait &w, const char **sc) {
  switch (w.kind) {
    case kWaitPathLock:
      return os::LockFile(w.fd, w.type, true, sc);
    case kWaitFlock:
      return os::Flock(w.fd, w.type, true, sc);
    default:
      return os::LockRange(w.fd, w.type, w.start, w.len, true, sc);
  }
}

// The same request without waiting (the poller's attempt).
int Attempt(const Wait &w, const char **sc) {
  switch (w.kind) {
    case kWaitPathLock:
      return os::LockFile(w.fd, w.type, false, sc);
    case kWaitFlock:
      return os::Flock(w.fd, w.type, false, sc);
    default:
      return os::LockRange(w.fd, w.type, w.start, w.len, false, sc);
  }
}

// Under the mutex.
void Finish(const WaitPtr &w, int r, const char *sc) {
  if (w->inQueue) {
    w->inQueue = false;
    P().queued--;
  }
  w->state = Wait::kDone;
  w->blocking = false;
  w->result = r;
  w->sc = sc ? sc : "";
  WaitFinished(w);
  P().done.notify_all();
}

// Under the mutex: the oldest queued wait nobody is trying, taken out of the queue.
WaitPtr TakeQueued() {
  Pool &p = P();
  while (!p.queue.empty() && !p.queue.front()->inQueue) p.queue.pop_front();
  for (auto &w : p.queue) {
    if (w->inQueue && w->state == Wait::kQueued) {
      w->inQueue = false;
      p.queued--;
      return w;
    }
  }
  return nullptr;
}

void BlockingThread() {
  Pool &p = P();
  std::unique_lock<std::mutex> lk(p.mu);
  for (;;) {
    WaitPtr w = TakeQueued();
    if (!w) {
      p.idle++;
      if (!p.work.wait_for(lk, std::chrono::milliseconds(p.idleMs),
                           [&] { return p.signalled > 0; })) {
        p.idle--;
        break;
      }
      p.signalled--;
      continue;
    }
    if (w->cancelled) {
      Finish(w, kInterruptedResult, "");
      continue;
    }
    // A token per wait, not per thread: on Windows it is an event that stays set once
    // interrupted (win32_locks.cc), which must not end the thread's next wait.
    ThreadToken token = os::CurrentThreadToken();
    w->state = Wait::kRunning;
    w->blocking = true;
    w->token = token;
    lk.unlock();
    const char *sc = nullptr;
    int r;
    for (;;) {
      r = Blocking(*w, &sc);
      if (r >= 0 || !os::IsInterrupted(r)) break;
      std::lock_guard<std::mutex> g(p.mu);
      if (w->cancelled) {
        r = kInterruptedResult;
        break;
      }
      // A stray signal: keep waiting.
    }
    lk.lock();
    Finish(w, r, sc);  // no interrupt reaches the token after this (w->blocking is false)
    os::ReleaseThreadToken(token);
  }
  p.threads--;
}

// Rebuilds the queue without stale entries and picks the waits due for an attempt
// (marked kRunning); *next is the earliest later due time.
std::vector<WaitPtr> DueWaits(Clock::time_point now, Clock::time_point *next) {
  Pool &p = P();
  std::vector<WaitPtr> due;
  std::deque<WaitPtr> keep;
  *next = now + std::chrono::milliseconds(p.idleMs);
  for (auto &w : p.queue) {
    if (!w->inQueue) continue;
    if (w->state == Wait::kQueued) {
      if (w->due <= now && due.size() < 512) {
        w->state = Wait::kRunning;
        due.push_back(w);
      } else {
        *next = std::min(*next, w->due);
      }
    }
    keep.push_back(std::move(w));
  }
  p.queue.swap(keep);
  return due;
}

void PollerThread() {
  Pool &p = P();
  ThreadToken token = os::CurrentThreadToken();
  std::unique_lock<std::mutex> lk(p.mu);
  for (;;) {
    if (p.queued == 0) {
      if (!p.poll.wait_for(lk, std::chrono::milliseconds(p.idleMs), [&] { return p.queued > 0; }))
        break;
    }
    Clock::time_point next;
    std::vector<WaitPtr> due = DueWaits(Clock::now(), &next);
    if (due.empty()) {
      p.poll.wait_until(lk, next);
      continue;
    }
    lk.unlock();
    std::vector<int> results(due.size());
    std::vector<const char *> calls(due.size(), nullptr);
    for (size_t i = 0; i < due.size(); i++) results[i] = Attempt(*due[i], &calls[i]);
    lk.lock();
    // The cap grows with the queue so that polling stays a small share of one core.
    int cap = std::max(p.pollCapMs, static_cast<int>(p.queued / 100));
    Clock::time_point now = Clock::now();
    for (size_t i = 0; i < due.size(); i++) {
      const WaitPtr &w = due[i];
      int r = results[i];
      bool retry = r < 0 && (os::IsWouldBlock(r) || os::IsInterrupted(r));
      if (retry && w->cancelled) {
        Finish(w, kInterruptedResult, "");
      } else if (retry) {
        w->state = Wait::kQueued;
        w->backoffMs = w->backoffMs ? std::min(w->backoffMs * 2, cap) : 1;
        w->due = now + std::chrono::milliseconds(w->backoffMs);
      } else {
        Finish(w, r, calls[i]);
      }
    }
  }
  p.poller = false;
  lk.unlock();
  os::ReleaseThreadToken(token);
}

// Under the mutex. Starts a thread; false (and *err) when the OS refused one.
bool Start(void (*fn)(), int *err) {
  try {
    std::thread(fn).detach();
    return true;
  } catch (const std::system_error &e) {
    *err = e.code().value();
  } catch (...) {
    *err = 0;
  }
  return false;
}

}  // namespace

std::mutex &PoolMutex() {
  return P().mu;
}
std::condition_variable &PoolDone() {
  return P().done;
}

int Submit(const WaitPtr &w, const char **sc) {
  Pool &p = P();
  std::lock_guard<std::mutex> g(p.mu);
  w->state = Wait::kQueued;
  w->inQueue = true;
  w->due = Clock::now();
  w->backoffMs = 0;
  p.queue.push_back(w);
  p.queued++;
  if (p.idle > 0) {
    p.idle--;
    p.signalled++;
    p.work.notify_one();
    return 0;
  }
  int err = 0;
  // Before a second blocking thread, the poller: it is what guarantees that a queued
  // wait progresses, so where threads run short (a pids cgroup, RLIMIT_NPROC) it must be
  // among the threads that did start. It parks while nothing is queued.
  if (!p.poller && p.threads >= 1 && Start(PollerThread, &err)) p.poller = true;
  if (p.threads < p.maxBlocking) {
    if (Start(BlockingThread, &err)) {
      p.threads++;
      return 0;
    }
  }
  // Every blocking thread is busy (or none could start): the poller serves the wait.
  if (p.poller) {
    p.poll.notify_one();
    return 0;
  }
  if (Start(PollerThread, &err)) {
    p.poller = true;
    return 0;
  }
  w->inQueue = false;
  p.queued--;
  p.queue.pop_back();  // the entry pushed above: no thread ran since (we hold the mutex)
  return os::ThreadStartFailed(err, sc);
}

void CancelLocked(const WaitPtr &w) {
  if (w->state == Wait::kDone) return;
  w->cancelled = true;
  if (w->state == Wait::kQueued) {
    Finish(w, kInterruptedResult, "");
  } else if (w->blocking) {
    os::InterruptThread(w->token);
  }
}

void SetPoolLimits(int maxBlocking, int pollCapMs, int idleMs) {
  Pool &p = P();
  std::lock_guard<std::mutex> g(p.mu);
  p.maxBlocking = std::max(1, maxBlocking);
  p.pollCapMs = std::max(1, pollCapMs);
  p.idleMs = std::max(1, idleMs);
  p.work.notify_all();  // parked threads re-read idleMs on their next park
  p.poll.notify_all();
}

int PoolThreads() {
  Pool &p = P();
  std::lock_guard<std::mutex> g(p.mu);
  return p.threads + (p.poller ? 1 : 0);
}

}  // namespace fslock
