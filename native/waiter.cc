// Node-API glue of the lock waits. The waiting itself happens on the process-wide pool
// of waiter threads (native/wait_pool.cc), never on libuv's threadpool.
//
// Threads: wait(), cancel() and waitSync() run on the JS thread of some environment
// (the main thread or a worker). A pool thread finishes a wait under PoolMutex() and,
// through WaitFinished, appends it to its environment's WaitChannel and pokes that
// environment's one threadsafe function; CallJs then runs on the JS thread and calls
// each wait's callback. An interrupt can land just before a pool thread enters its
// blocking call and be lost, so TypeScript repeats cancel() until the wait reports
// (lib/native/native-wait.ts), and teardown and waitSync repeat it themselves.
//
// Teardown (a worker terminated or calling process.exit(), or the main environment
// freed): Node deletes the threadsafe function once the environment's handles close,
// so no pool thread may touch it after the cleanup hook below has marked the channel
// dead — it runs before that deletion (hooks run before the handles they closed are
// freed). The hook cancels the environment's waits, waits (bounded: an interrupt ends a
// blocking call at once, a poll attempt does not block) until no thread is in a call
// on their behalf, undoes every lock granted to a wait nobody will hear of, and closes
// the environment's lock files. process.exit() on the main thread runs no cleanup:
// pool threads then simply die with the process, and the pool is never freed (see
// wait_pool.cc), so they touch no destroyed object meanwhile.
#include <algorithm>
#include <unordered_set>
#include <vector>

#include "glue.h"
#include "wait_pool.h"

namespace fslock {

using WaitPtr = std::shared_ptr<Wait>;

struct WaitChannel {
  napi_threadsafe_function tsfn = nullptr;
  // Guarded by PoolMutex().
  bool alive = true;
  bool posted = false;               // a call of tsfn is on its way
  std::vector<WaitPtr> completed;    // finished, not yet reported to JS
  std::unordered_set<WaitPtr> live;  // submitted, not yet reported to JS
  // JS thread only.
  int pending = 0;  // live waits: the event loop stays alive while there are any
  bool tornDown = false;
};

void WaitFinished(const WaitPtr &w) {
  WaitChannel *ch = w->ch.get();
  if (!ch || !ch->alive) return;  // waitSync waits on PoolDone(); teardown undoes the rest
  ch->completed.push_back(w);
  if (!ch->posted) {
    ch->posted = true;
    // Non-blocking with an unbounded queue (one entry per batch). napi_closing after
    // the threadsafe function's own cleanup hook: the results stay in `completed` for
    // the teardown below.
    napi_call_threadsafe_function(ch->tsfn, nullptr, napi_tsfn_nonblocking);
  }
}

namespace {

// A lock granted to a wait whose environment is gone: nobody will ever release it.
void Undo(const Wait &w) {
  const char *sc = nullptr;
  switch (w.kind) {
    case kWaitPathLock:
      os::LockFile(w.fd, kUnlock, false, &sc);  // the fd itself is closed with openFiles
      break;
    case kWaitFlock:
      os::Flock(w.fd, kUnlock, false, &sc);
      break;
    default:
      os::LockRange(w.fd, kUnlock, w.start, w.len, false, &sc);
  }
}

void CloseOwnFd(Wait &w) {
  if (!w.ownFd) return;
  w.ownFd = false;
  os::Close(w.fd);
}

// Runs on the JS thread (env null when Node drops queued calls at teardown: then the
// teardown hook has taken care of everything).
void CallJs(napi_env env, napi_value, void *context, void *) {
  if (env == nullptr) return;
  auto *ch = static_cast<WaitChannel *>(context);
  std::vector<WaitPtr> batch;
  {
    std::lock_guard<std::mutex> g(PoolMutex());
    if (!ch->alive) return;  // torn down already: nothing may run (env is still valid here)
    batch.swap(ch->completed);
    ch->posted = false;
    for (auto &w : batch) ch->live.erase(w);
  }
  for (auto &w : batch) {
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value cb, recv, argv[2];
    napi_get_reference_value(env, static_cast<napi_ref>(w->cb), &cb);
    napi_get_undefined(env, &recv);
    napi_create_double(env, w->result, &argv[0]);
    napi_create_string_utf8(env, w->sc, NAPI_AUTO_LENGTH, &argv[1]);
    bool heard = napi_call_function(env, recv, cb, 2, argv, nullptr) == napi_ok;
    if (!heard) {
      bool threw = false;
      napi_is_exception_pending(env, &threw);
      if (threw) {
        // The callback ran and threw: an uncaught exception like any other (a no-op
        // once JavaScript cannot run), and the rest of the batch still goes through.
        heard = true;
        napi_value e;
        napi_get_and_clear_last_exception(env, &e);
        napi_fatal_exception(env, e);
      }
    }
    napi_close_handle_scope(env, scope);
    if (!heard) {
      // JavaScript can no longer run here: the environment is being torn down (a
      // terminated worker still drains its handles first). The result goes back to
      // the channel, for the teardown hook to undo.
      std::lock_guard<std::mutex> g(PoolMutex());
      ch->live.insert(w);
      continue;
    }
    napi_delete_reference(env, static_cast<napi_ref>(w->cb));
    w->cb = nullptr;
    CloseOwnFd(*w);
    ch->pending--;
  }
  if (ch->pending == 0 && !batch.empty()) napi_unref_threadsafe_function(env, ch->tsfn);
}

void Teardown(AddonData *d) {
  std::shared_ptr<WaitChannel> ch = d->waits;
  if (ch && !ch->tornDown) {
    ch->tornDown = true;
    std::vector<WaitPtr> mine;
    {
      std::unique_lock<std::mutex> lk(PoolMutex());
      ch->alive = false;
      mine.assign(ch->live.begin(), ch->live.end());
      ch->live.clear();
      ch->completed.clear();
      auto running = [&] {
        for (auto &w : mine)
          if (w->state != Wait::kDone) return true;
        return false;
      };
      while (running()) {
        for (auto &w : mine) CancelLocked(w);  // again: an interrupt may have been lost
        PoolDone().wait_for(lk, std::chrono::milliseconds(1));
      }
    }
    for (auto &w : mine) {
      if (w->result == 0) Undo(*w);
      CloseOwnFd(*w);
    }
  }
  for (file_t f : d->openFiles) os::Close(f);
  d->openFiles.clear();
}

void TeardownHook(void *arg) {
  auto *d = static_cast<AddonData *>(arg);
  d->hookRan = true;  // a hook that ran is gone: never remove it again
  Teardown(d);
}

WaitPtr Make(const Napi::CallbackInfo &info) {
  // Not make_shared: its RTTI tag check needs GLIBCXX_3.4.26 (libstdc++ of GCC 9).
  WaitPtr w(new Wait());
  w->kind = I32(info, 0);
  w->fd = I64(info, 1);
  w->type = I32(info, 2);
  w->start = I64(info, 3);
  w->len = I64(info, 4);
  return w;
}

// The descriptor the wait locks through (os::WaitDescriptor).
int UseWaitDescriptor(Wait &w, const char **sc) {
  file_t fd = -1;
  int r = os::WaitDescriptor(w.kind, w.fd, &fd, sc);
  if (r < 0) return r;
  w.fd = fd;
  w.ownFd = r == 1;
  return 0;
}

// wait(kind, fd, type, start, length, callback) -> handle. callback(result, syscall)
// runs on the JS thread once, later: 0, a negative OS error (also when no thread could
// be started: -EAGAIN 'pthread_create'), or INTERRUPTED after cancel().
Napi::Value Wait_(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  AddonData *d = Data(env);
  std::shared_ptr<WaitChannel> ch = d->waits;
  if (!ch || !ch->tsfn) {
    Napi::Error::New(env, "fslock: no threadsafe function for lock waits")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // The callback's reference and the handle first: while the environment is being torn
  // down (a worker stopped by process.exit() or terminate()) Node-API calls fail, and
  // then nothing is submitted (JavaScript is ending; the teardown hook follows).
  napi_ref ref = nullptr;
  if (napi_create_reference(env, info[5], 1, &ref) != napi_ok) return env.Undefined();
  WaitPtr w = Make(info);
  auto *handle = new WaitPtr(w);
  napi_value ext;
  if (napi_create_external(
          env, handle, [](napi_env, void *p, void *) { delete static_cast<WaitPtr *>(p); }, nullptr,
          &ext) != napi_ok) {
    delete handle;
    napi_delete_reference(env, ref);
    return env.Undefined();
  }
  w->ch = ch;
  w->cb = ref;
  if (ch->pending++ == 0) napi_ref_threadsafe_function(env, ch->tsfn);
  {
    std::lock_guard<std::mutex> g(PoolMutex());
    ch->live.insert(w);
  }
  const char *sc = nullptr;
  int r = UseWaitDescriptor(*w, &sc);
  if (r >= 0) r = Submit(w, &sc);
  if (r < 0) {
    CloseOwnFd(*w);
    std::lock_guard<std::mutex> g(PoolMutex());
    w->state = Wait::kDone;
    w->result = r;
    w->sc = sc ? sc : "";
    WaitFinished(w);  // reported like any result: asynchronously, through the callback
  }
  return Napi::Value(env, ext);
}

Napi::Value Cancel(const Napi::CallbackInfo &info) {
  // Not a handle: wait() returned undefined because the environment is ending.
  if (!info[0].IsExternal()) return info.Env().Undefined();
  const WaitPtr &w = *info[0].As<Napi::External<WaitPtr>>().Data();
  std::lock_guard<std::mutex> g(PoolMutex());
  if (w->ch && w->ch->alive) CancelLocked(w);
  return info.Env().Undefined();
}

// waitSync(kind, fd, type, start, length, timeoutMs) -> result. Blocks this thread;
// timeoutMs < 0 waits forever (the blocking call runs right here), otherwise a pool
// thread waits and is interrupted at the deadline.
Napi::Value WaitSync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  WaitPtr w = Make(info);
  double timeout = info[5].As<Napi::Number>().DoubleValue();
  const char *sc = nullptr;
  if (timeout < 0) {
    int r;
    switch (w->kind) {
      case kWaitPathLock:
        do r = os::LockFile(w->fd, w->type, true, &sc);
        while (r < 0 && os::IsInterrupted(r));
        break;
      case kWaitFlock:
        do r = os::Flock(w->fd, w->type, true, &sc);
        while (r < 0 && os::IsInterrupted(r));
        break;
      default:
        do r = os::LockRange(w->fd, w->type, w->start, w->len, true, &sc);
        while (r < 0 && os::IsInterrupted(r));
    }
    return Num(env, Fail(env, r, sc));
  }
  int r = UseWaitDescriptor(*w, &sc);
  if (r >= 0) r = Submit(w, &sc);
  if (r < 0) {
    CloseOwnFd(*w);
    return Num(env, Fail(env, r, sc));
  }
  // 1e12 ms (31 years) keeps the deadline inside steady_clock's range.
  auto span = std::chrono::microseconds(static_cast<int64_t>(std::min(timeout, 1e12) * 1000));
  auto deadline = std::chrono::steady_clock::now() + span;
  {
    std::unique_lock<std::mutex> lk(PoolMutex());
    auto done = [&] { return w->state == Wait::kDone; };
    if (!PoolDone().wait_until(lk, deadline, done)) {
      while (!done()) {
        CancelLocked(w);  // again until it reports: an interrupt may have been lost
        PoolDone().wait_for(lk, std::chrono::milliseconds(1), done);
      }
    }
    r = w->result;
    sc = w->sc;
  }
  CloseOwnFd(*w);
  if (r < 0 && r != kInterruptedResult) Data(env)->lastSyscall = sc;
  return Num(env, r);
}

// waitLimits(maxBlocking, pollCapMs, idleMs): the process-wide thread budget (see
// native/wait_pool.cc); waitThreads() -> pool threads alive now.
Napi::Value WaitLimits(const Napi::CallbackInfo &info) {
  SetPoolLimits(I32(info, 0), I32(info, 1), I32(info, 2));
  return info.Env().Undefined();
}

Napi::Value WaitThreads(const Napi::CallbackInfo &info) {
  return Num(info.Env(), PoolThreads());
}

}  // namespace

AddonData::~AddonData() {
  // Normally the cleanup hook ran already (then this only finds nothing left to do).
  Teardown(this);
  // Only a hook that has not run yet may be removed: Deno's Node-API panics otherwise
  // ("Cannot remove cleanup hook which was not registered").
  if (env != nullptr && !hookRan) napi_remove_env_cleanup_hook(env, TeardownHook, this);
}

void InitWaiter(Napi::Env env, Napi::Object exports) {
  AddonData *d = Data(env);
  d->env = env;
  std::shared_ptr<WaitChannel> ch(new WaitChannel());
  napi_value name;
  napi_create_string_utf8(env, "fslock.wait", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, ch.get(),
                                      CallJs, &ch->tsfn) == napi_ok) {
    napi_unref_threadsafe_function(env, ch->tsfn);  // referenced only while waits are pending
  } else {
    ch->tsfn = nullptr;
  }
  d->waits = ch;
  // Added after the threadsafe function, so it runs before that function's own hook
  // (hooks run in reverse order of addition); either order is safe (see the top).
  napi_add_env_cleanup_hook(env, TeardownHook, d);
  exports.Set("wait", Napi::Function::New(env, Wait_, "wait"));
  exports.Set("cancel", Napi::Function::New(env, Cancel, "cancel"));
  exports.Set("waitSync", Napi::Function::New(env, WaitSync, "waitSync"));
  exports.Set("waitLimits", Napi::Function::New(env, WaitLimits, "waitLimits"));
  exports.Set("waitThreads", Napi::Function::New(env, WaitThreads, "waitThreads"));
  exports.Set("INTERRUPTED", Num(env, kInterruptedResult));
}

}  // namespace fslock
