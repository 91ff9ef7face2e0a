// Node-API glue for descriptor locks and path locks. Each path-lock function is one
// fixed sequence of OS calls in one crossing (the hot path of lock() + release()); the
// TypeScript layer reads the status written to out[0] and decides what happens next.
#include "glue.h"

namespace fslock {
namespace {

// Status codes written to out[0] by the path-lock calls (mirrored in lib/binding.ts).
enum PathStatus : int {
  kAcquired = 0,  // locked, record written, inode verified still linked
  kContent = 1,   // locked, file has content for TypeScript to judge (out[3] = size)
  kBusy = 2,      // file open (fd returned), lock held by someone else
  kStale = 3,     // locked an inode that was unlinked meanwhile; fd closed, retry
};

constexpr size_t kRecordMax = 2048;

class StrArg {
 public:
  StrArg(Napi::Env env, Napi::Value v) {
    if (v.IsString()) napi_get_value_string_utf8(env, v, buf_, kRecordMax, &len_);
  }
  const char* data() const { return buf_; }
  size_t size() const { return len_; }

 private:
  char buf_[kRecordMax];
  size_t len_ = 0;
};

void TrackOpen(Napi::Env env, file_t f) { Data(env)->openFiles.insert(f); }
void CloseTracked(Napi::Env env, file_t f) {
  Data(env)->openFiles.erase(f);
  os::Close(f);
}

// Retracts a record written into an inode that is no longer at the path, so that a
// fallback process that displaced it (see README, on-disk protocol) stops waiting.
void Retract(file_t f, const StrArg& tombstone) {
  const char* sc = nullptr;
  if (tombstone.size() > 0) os::WriteRecord(f, false, tombstone.data(), tombstone.size(), &sc);
}

// Writes this holder's record and verifies the inode is still linked.
int Commit(Napi::Env env, file_t f, int type, double size, const StrArg& rec,
           const StrArg& tombstone) {
  const char* sc = nullptr;
  double* out = Data(env)->out;
  bool replace = false, downgrade = false;
  if (size > 0) {
    if (type == kExclusive) {
      replace = true;
    } else if (os::LockFile(f, kExclusive, false, &sc) == 0) {
      // Sole holder of a shared lock: compact the records left by earlier holders.
      replace = downgrade = true;
    }
  }
  int r = rec.size() ? os::WriteRecord(f, replace, rec.data(), rec.size(), &sc) : 0;
  // fcntl converts an exclusive OFD lock to shared atomically (no window).
  if (r >= 0 && downgrade) r = os::LockFile(f, kShared, false, &sc);
  FileInfo fi;
  if (r >= 0) r = os::Stat(f, &fi, &sc);
  if (r < 0) {
    CloseTracked(env, f);
    return Fail(env, r, sc);
  }
  if (fi.nlink == 0) {
    Retract(f, tombstone);
    CloseTracked(env, f);
    out[0] = kStale;
    return 0;
  }
  out[0] = kAcquired;
  out[1] = fi.dev;
  out[2] = fi.ino;
  return 0;
}

// After the lock is granted: a stale inode is retried, content goes to TypeScript,
// a fresh empty file is committed at once.
int AfterLock(Napi::Env env, file_t f, int type, const StrArg& rec, const StrArg& tombstone) {
  const char* sc = nullptr;
  FileInfo fi;
  int r = os::Stat(f, &fi, &sc);
  if (r < 0) {
    CloseTracked(env, f);
    return Fail(env, r, sc);
  }
  double* out = Data(env)->out;
  if (fi.nlink == 0) {
    CloseTracked(env, f);
    out[0] = kStale;
    return 0;
  }
  if (fi.size > 0) {
    out[0] = kContent;
    out[3] = fi.size;
    return 0;
  }
  return Commit(env, f, type, 0, rec, tombstone);
}

// pathLock(path, type, mode, record, tombstone) -> fd | -err; status in out[0].
Napi::Value PathLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path(env, info[0]);
  if (path.truncated()) return Num(env, Fail(env, os::NameTooLong(), "open"));
  int type = I32(info, 1);
  StrArg rec(env, info[3]), tombstone(env, info[4]);
  const char* sc = nullptr;
  file_t f = -1;
  int r = os::OpenLockFile(path.get(), os::kOpenCreate, I32(info, 2), &f, &sc);
  if (r < 0) return Num(env, Fail(env, r, sc));
  TrackOpen(env, f);
  r = os::LockFile(f, type, false, &sc);
  if (r < 0) {
    if (os::IsWouldBlock(r)) {
      Data(env)->out[0] = kBusy;
      return Num(env, static_cast<double>(f));
    }
    CloseTracked(env, f);
    return Num(env, Fail(env, r, sc));
  }
  r = AfterLock(env, f, type, rec, tombstone);
  return Num(env, r < 0 ? r : static_cast<double>(f));
}

// pathAfterWait(fd, type, record, tombstone) -> 0 | -err; status in out[0].
Napi::Value PathAfterWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StrArg rec(env, info[2]), tombstone(env, info[3]);
  return Num(env, AfterLock(env, I64(info, 0), I32(info, 1), rec, tombstone));
}

// pathCommit(fd, type, size, record, tombstone) -> 0 | -err; status in out[0].
Napi::Value PathCommit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  StrArg rec(env, info[3]), tombstone(env, info[4]);
  return Num(env, Commit(env, I64(info, 0), I32(info, 1), info[2].As<Napi::Number>().DoubleValue(),
                         rec, tombstone));
}

// pathRelease(path, fd, type, tombstone) -> 0 | -err. The lock file is removed only
// by a process that holds it exclusively and whose inode is still linked, so a
// waiter never holds a removed file without noticing (it re-checks nlink).
Napi::Value PathRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path(env, info[0]);
  file_t f = I64(info, 1);
  int type = I32(info, 2);
  StrArg tombstone(env, info[3]);
  const char* sc = nullptr;
  bool sole = true;
  if (type == kShared && os::LockFile(f, kExclusive, false, &sc) != 0) {
    // Others hold it shared. Drop ours first, then try once more: of several shared
    // holders releasing together, the last one always wins this and cleans up.
    os::LockFile(f, kUnlock, false, &sc);
    sole = os::LockFile(f, kExclusive, false, &sc) == 0;
  }
  FileInfo fi;
  int r = os::Stat(f, &fi, &sc);
  int err = 0;
  if (r < 0) {
    err = Fail(env, r, sc);
  } else if (fi.nlink == 0) {
    Retract(f, tombstone);
  } else if (sole) {
    r = os::Unlink(path.get(), &sc);
    if (r < 0) err = Fail(env, r, sc);
  }
  CloseTracked(env, f);
  return Num(env, err);
}

// pathProbe(path) -> fd | -err; out[0] = 0 free / 1 shared / 2 exclusive, out[3] = size.
Napi::Value PathProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PathArg path(env, info[0]);
  if (path.truncated()) return Num(env, Fail(env, os::NameTooLong(), "open"));
  const char* sc = nullptr;
  file_t f = -1;
  int r = os::OpenLockFile(path.get(), os::kOpenReadOnly, 0, &f, &sc);
  if (r < 0) return Num(env, Fail(env, r, sc));
  TrackOpen(env, f);
  FileInfo fi;
  int state = os::ProbeLockFile(f, &sc);
  if (state >= 0) r = os::Stat(f, &fi, &sc);
  if (state < 0 || r < 0) {
    CloseTracked(env, f);
    return Num(env, Fail(env, state < 0 ? state : r, sc));
  }
  double* out = Data(env)->out;
  out[0] = state;
  out[3] = fi.size;
  return Num(env, static_cast<double>(f));
}

// readAt(fd, buffer, offset) -> bytes read | -err
Napi::Value ReadAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto buf = info[1].As<Napi::Uint8Array>();
  const char* sc = nullptr;
  int r = os::ReadAt(I64(info, 0), reinterpret_cast<char*>(buf.Data()), buf.ByteLength(),
                     I64(info, 2), &sc);
  return Num(env, Fail(env, r, sc));
}

Napi::Value CloseFile(const Napi::CallbackInfo& info) {
  CloseTracked(info.Env(), I64(info, 0));
  return info.Env().Undefined();
}

// flock(fd, type, wait) -> 0 | -err
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sc = nullptr;
  int r = os::Flock(I64(info, 0), I32(info, 1), info[2].As<Napi::Boolean>().Value(), &sc);
  return Num(env, Fail(env, r, sc));
}

// lockRange(fd, type, start, length, wait) -> 0 | -err
Napi::Value LockRange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sc = nullptr;
  int r = os::LockRange(I64(info, 0), I32(info, 1), I64(info, 2), I64(info, 3),
                        info[4].As<Napi::Boolean>().Value(), &sc);
  return Num(env, Fail(env, r, sc));
}

}  // namespace

void InitLocks(Napi::Env env, Napi::Object exports) {
  exports.Set("pathLock", Napi::Function::New(env, PathLock, "pathLock"));
  exports.Set("pathAfterWait", Napi::Function::New(env, PathAfterWait, "pathAfterWait"));
  exports.Set("pathCommit", Napi::Function::New(env, PathCommit, "pathCommit"));
  exports.Set("pathRelease", Napi::Function::New(env, PathRelease, "pathRelease"));
  exports.Set("pathProbe", Napi::Function::New(env, PathProbe, "pathProbe"));
  exports.Set("readAt", Napi::Function::New(env, ReadAt, "readAt"));
  exports.Set("closeFile", Napi::Function::New(env, CloseFile, "closeFile"));
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("lockRange", Napi::Function::New(env, LockRange, "lockRange"));
}

}  // namespace fslock
