// Helpers shared by the Node-API glue files. Glue converts arguments and results and
// sequences OS calls; it never decides anything the TypeScript layer could.
#pragma once

#include <napi.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "fslock.h"

namespace fslock {

// Per-environment state (one per main thread or worker): the out-parameter array that
// calls fill instead of allocating result objects, and the last failing syscall.
struct WaitChannel;
struct AddonData {
  napi_env env = nullptr;
  bool hookRan = false;  // the environment cleanup hook (native/waiter.cc) ran
  Napi::Reference<Napi::Float64Array> outRef;
  double *out = nullptr;
  // Where path locks put the first bytes of a lock file for TypeScript to judge.
  Napi::Reference<Napi::Uint8Array> readRef;
  uint8_t *readBuf = nullptr;
  size_t readLen = 0;
  const char *lastSyscall = "";
  // Lock files opened by path locks in this environment: a worker that exits (or is
  // terminated) without releasing must not keep holding them for the whole process.
  // Closed at teardown after this environment's waits have ended (native/waiter.cc).
  std::unordered_set<file_t> openFiles;
  // This environment's async lock waits and their way back to its event loop
  // (native/waiter.cc). Environment teardown (an env cleanup hook) cancels them, waits
  // until no thread is in a call on their behalf, and undoes what was granted to them.
  std::shared_ptr<WaitChannel> waits;
  ~AddonData();
};

inline AddonData *Data(Napi::Env env) {
  return env.GetInstanceData<AddonData>();
}

// Records the failing call for binding.lastSyscall() and passes the error through.
inline int Fail(Napi::Env env, int err, const char *sc) {
  if (err < 0) Data(env)->lastSyscall = sc ? sc : "";
  return err;
}

// Paths arrive checked by TypeScript (absolute, no NUL bytes) as JS strings, or on
// POSIX as a Buffer holding the path's bytes when they are not valid UTF-8: those are
// passed through byte for byte, as node:fs does, instead of a lossy conversion that
// would make `a\xff` and `a\xfe` the same name. A path that does not fit is
// reported as truncated (the caller answers ENAMETOOLONG).
class PathArg {
 public:
  PathArg(Napi::Env env, Napi::Value v) {
    size_t n = 0;
    bool isBuffer = false;
    napi_is_buffer(env, v, &isBuffer);
    if (isBuffer) {
      void *bytes = nullptr;
      size_t len = 0;
      napi_get_buffer_info(env, v, &bytes, &len);
#ifdef _WIN32
      // Windows names are UTF-16: the bytes are read as UTF-8, as node:fs does.
      napi_value s;
      napi_create_string_utf8(env, static_cast<const char *>(bytes), len, &s);
      napi_get_value_string_utf16(env, s, reinterpret_cast<char16_t *>(buf_), kMax, &n);
#else
      n = len < kMax - 1 ? len : kMax - 1;
      if (n > 0) std::memcpy(buf_, bytes, n);
      buf_[n] = 0;
#endif
    } else {
#ifdef _WIN32
      napi_get_value_string_utf16(env, v, reinterpret_cast<char16_t *>(buf_), kMax, &n);
#else
      napi_get_value_string_utf8(env, v, buf_, kMax, &n);
#endif
    }
    truncated_ = n >= kMax - 1;
  }
  const pathchar *get() const {
    return buf_;
  }
  bool truncated() const {
    return truncated_;
  }

 private:
  static constexpr size_t kMax = 8192;
  pathchar buf_[kMax];
  bool truncated_ = false;
};

inline int32_t I32(const Napi::CallbackInfo &info, size_t i) {
  return info[i].As<Napi::Number>().Int32Value();
}
inline int64_t I64(const Napi::CallbackInfo &info, size_t i) {
  return info[i].As<Napi::Number>().Int64Value();
}
inline Napi::Number Num(Napi::Env env, double v) {
  return Napi::Number::New(env, v);
}

void InitLocks(Napi::Env env, Napi::Object exports);
void InitWaiter(Napi::Env env, Napi::Object exports);
void InitAtomic(Napi::Env env, Napi::Object exports);
void InitLockCheck(Napi::Env env, Napi::Object exports);

}  // namespace fslock
