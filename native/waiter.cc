// Blocking lock waits on dedicated threads (never libuv's threadpool: a lock wait is
// unbounded, and a pool thread stuck in one starves every fs call — fs-ext #49).
//
// Threads: wait() runs on the JS thread and starts one waiter thread per wait. The
// waiter thread makes the blocking call and reports through a ThreadSafeFunction,
// whose callback runs on the JS thread. cancel() runs on the JS thread and interrupts
// the blocking call (a signal without SA_RESTART on POSIX, CancelSynchronousIo on
// Windows). An interrupt that lands just before the thread enters the call is lost,
// so TypeScript repeats cancel() until the waiter reports (see lib/native.ts).
#include <chrono>
#include <condition_variable>
#include <thread>

#include "glue.h"

namespace fslock {

struct Waiter {
  int kind = 0, type = 0;
  int64_t fd = -1, start = 0, len = 0;
  std::mutex m;
  std::condition_variable cv;
  bool started = false, done = false, cancelled = false;
  ThreadToken token = 0;
  int result = 0;
  const char* sc = "";
  Napi::ThreadSafeFunction tsfn;  // empty for waitSync
  AddonData* data = nullptr;
};

namespace {

int BlockingCall(const Waiter& w, const char** sc) {
  switch (w.kind) {
    case kWaitPathLock:
      return os::LockFile(w.fd, w.type, true, sc);
    case kWaitFlock:
      return os::Flock(w.fd, w.type, true, sc);
    default:
      return os::LockRange(w.fd, w.type, w.start, w.len, true, sc);
  }
}

// A lock granted to a waiter nobody can hear any more (its environment is gone).
void Undo(const Waiter& w) {
  const char* sc = nullptr;
  switch (w.kind) {
    case kWaitPathLock:
      os::Close(w.fd);
      break;
    case kWaitFlock:
      os::Flock(w.fd, kUnlock, false, &sc);
      break;
    default:
      os::LockRange(w.fd, kUnlock, w.start, w.len, false, &sc);
  }
}

void Run(std::shared_ptr<Waiter> w) {
  ThreadToken token = os::CurrentThreadToken();
  {
    std::lock_guard<std::mutex> g(w->m);
    w->token = token;
    w->started = true;
  }
  const char* sc = nullptr;
  int r;
  for (;;) {
    {
      std::lock_guard<std::mutex> g(w->m);
      if (w->cancelled) {
        r = kInterruptedResult;
        break;
      }
    }
    r = BlockingCall(*w, &sc);
    if (r < 0 && os::IsInterrupted(r)) {
      std::lock_guard<std::mutex> g(w->m);
      if (w->cancelled) {
        r = kInterruptedResult;
        break;
      }
      continue;  // a stray signal: keep waiting
    }
    break;
  }
  {
    std::lock_guard<std::mutex> g(w->m);
    w->done = true;
    w->result = r;
    if (sc) w->sc = sc;
  }
  w->cv.notify_all();
  os::ReleaseThreadToken(token);
  if (!w->tsfn) return;
  auto* copy = new std::shared_ptr<Waiter>(w);
  napi_status st = w->tsfn.BlockingCall(copy, [](Napi::Env env, Napi::Function cb,
                                                 std::shared_ptr<Waiter>* p) {
    std::shared_ptr<Waiter> w = *p;
    delete p;
    {
      std::lock_guard<std::mutex> g(w->data->waitersMutex);
      w->data->waiters.erase(w);
    }
    if (env != nullptr && cb != nullptr)
      cb.Call({Num(env, w->result), Napi::String::New(env, w->sc)});
  });
  if (st != napi_ok) {
    delete copy;
    if (r == 0) Undo(*w);
  }
  w->tsfn.Release();
}

void Interrupt(Waiter& w) {
  std::lock_guard<std::mutex> g(w.m);
  w.cancelled = true;
  if (w.started && !w.done) os::InterruptThread(w.token);
}

std::shared_ptr<Waiter> Make(const Napi::CallbackInfo& info) {
  // Not make_shared: its RTTI tag check needs GLIBCXX_3.4.26 (libstdc++ of GCC 9).
  std::shared_ptr<Waiter> w(new Waiter());
  w->kind = I32(info, 0);
  w->fd = I64(info, 1);
  w->type = I32(info, 2);
  w->start = I64(info, 3);
  w->len = I64(info, 4);
  w->data = Data(info.Env());
  return w;
}

// wait(kind, fd, type, start, length, callback) -> handle. callback(result) runs on
// the JS thread once: (0 | negative OS error | kInterruptedResult, failing syscall).
Napi::Value Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Waiter> w = Make(info);
  w->tsfn = Napi::ThreadSafeFunction::New(env, info[5].As<Napi::Function>(), "fslock.wait", 0, 1);
  {
    std::lock_guard<std::mutex> g(w->data->waitersMutex);
    w->data->waiters.insert(w);
  }
  std::thread(Run, w).detach();
  return Napi::External<std::shared_ptr<Waiter>>::New(
      env, new std::shared_ptr<Waiter>(w),
      [](Napi::Env, std::shared_ptr<Waiter>* p) { delete p; });
}

Napi::Value Cancel(const Napi::CallbackInfo& info) {
  Interrupt(**info[0].As<Napi::External<std::shared_ptr<Waiter>>>().Data());
  return info.Env().Undefined();
}

// waitSync(kind, fd, type, start, length, timeoutMs) -> result. Blocks this thread;
// timeoutMs < 0 waits forever (the blocking call runs right here).
Napi::Value WaitSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Waiter> w = Make(info);
  double timeout = info[5].As<Napi::Number>().DoubleValue();
  const char* sc = nullptr;
  if (timeout < 0) {
    int r;
    do r = BlockingCall(*w, &sc);
    while (r < 0 && os::IsInterrupted(r));
    return Num(env, Fail(env, r, sc));
  }
  std::thread(Run, w).detach();
  std::unique_lock<std::mutex> lk(w->m);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::microseconds(static_cast<int64_t>(timeout * 1000));
  if (!w->cv.wait_until(lk, deadline, [&] { return w->done; })) {
    // Interrupt until the thread reports: a signal that arrives before the thread
    // enters the call is lost, the next one is not.
    while (!w->done) {
      w->cancelled = true;
      if (w->started) os::InterruptThread(w->token);
      w->cv.wait_for(lk, std::chrono::milliseconds(1), [&] { return w->done; });
    }
  }
  int r = w->result;
  if (r < 0 && r != kInterruptedResult) w->data->lastSyscall = w->sc;
  return Num(env, r);
}

}  // namespace

AddonData::~AddonData() {
  std::lock_guard<std::mutex> g(waitersMutex);
  for (auto& w : waiters) Interrupt(*w);
  for (file_t f : openFiles) os::Close(f);
}

void InitWaiter(Napi::Env env, Napi::Object exports) {
  exports.Set("wait", Napi::Function::New(env, Wait, "wait"));
  exports.Set("cancel", Napi::Function::New(env, Cancel, "cancel"));
  exports.Set("waitSync", Napi::Function::New(env, WaitSync, "waitSync"));
  exports.Set("INTERRUPTED", Num(env, kInterruptedResult));
}

}  // namespace fslock
