// Node-API glue for descriptor locks and path locks. Each path-lock function is one
// fixed sequence of OS calls in one crossing (the hot path of lock() + release()); the
// TypeScript layer reads the status written to out[0] and decides what happens next
// (lib/native/path-protocol.ts; the protocol: docs/protocol.md).
#include "glue.h"

namespace fslock {
namespace {

// Status codes written to out[0] by the path-lock calls (mirrored in lib/native/binding.ts).
enum PathStatus : int {
  kAcquired = 0,     // record written, inode verified still linked
  kLocked = 1,       // an existing regular file is locked; its first bytes are in the read
                     // buffer (out[4] of them) for TypeScript to judge
  kBusy = 2,         // regular file open (fd returned), lock held by someone else
  kRetry = 3,        // the name went or changed meanwhile (fd closed): start again
  kNotRegular = 4,   // not a regular file (out[6] = FileType); fd closed, nothing locked
  kCreated = 5,      // created by this call, locked, content written: held
  kCreatedBusy = 6,  // created by this call, but someone locked it first (fd returned)
};

// Secondary results: out[1] dev, out[2] ino (as a double, for messages), out[3] size,
// out[4] bytes read, out[5] nlink, out[6] file type, out[7] owner uid, out[8] and out[9]
// the high and low 32 bits of ino: with dev, the file's exact identity.
void Report(double *out, const FileInfo &fi) {
  out[1] = fi.dev;
  out[2] = static_cast<double>(fi.ino);
  out[3] = fi.size;
  out[5] = fi.nlink;
  out[6] = fi.type;
  out[7] = fi.uid;
  out[8] = static_cast<double>(fi.ino >> 32);
  out[9] = static_cast<double>(fi.ino & 0xffffffffu);
}

constexpr size_t kRecordMax = 2048;

// A string argument converted where it is used: most calls need only some of theirs
// (a record only when a file is created, a tombstone only on a rare branch), and each
// conversion flattens and copies the string (perf: 6% of a kept lock cycle).
class StrArg {
 public:
  StrArg(Napi::Env env, Napi::Value v) {
    if (v.IsString()) napi_get_value_string_utf8(env, v, buf_, kRecordMax, &len_);
  }
  const char *data() const { return buf_; }
  size_t size() const { return len_; }

 private:
  char buf_[kRecordMax];
  size_t len_ = 0;
};

void TrackOpen(Napi::Env env, file_t f) {
  Data(env)->openFiles.insert(f);
}
void CloseTracked(Napi::Env env, file_t f) {
  Data(env)->openFiles.erase(f);
  os::Close(f);
}
// A FIFO, socket or device at the path, left unopened (os::kNotOpened).
int NotOpened(double *out) {
  out[6] = kOtherType;
  out[0] = kNotRegular;
  return 0;
}
// What was opened is not a regular file (a name replaced between the type check and the
// open, or Windows): closed, nothing written; its lock, if taken, goes with the close.
int NotRegularClose(Napi::Env env, file_t f, const FileInfo &fi) {
  CloseTracked(env, f);
  double *out = Data(env)->out;
  out[6] = fi.type;
  out[0] = kNotRegular;
  return 0;
}
// The file was removed meanwhile (nlink 0): closed, start again (never wait on it).
int GoneClose(Napi::Env env, file_t f) {
  CloseTracked(env, f);
  Data(env)->out[0] = kRetry;
  return 0;
}
// Closes a failed attempt's file and passes the error through.
int FailClose(Napi::Env env, file_t f, int err, const char *sc) {
  CloseTracked(env, f);
  return Fail(env, err, sc);
}

// A lock attempt found the file held: the open descriptor is kept for the wait, after a
// check that it is still a regular file with a name (else closed, and said why).
double BusyReport(Napi::Env env, file_t f, double *out) {
  FileInfo fi;
  const char *sc = nullptr;
  int r = os::Stat(f, &fi, &sc);
  if (r < 0) return FailClose(env, f, r, sc);
  if (fi.type != kRegular) return NotRegularClose(env, f, fi);
  if (fi.nlink == 0) return GoneClose(env, f);
  Report(out, fi);
  out[0] = kBusy;
  return static_cast<double>(f);
}

int Append(file_t f, const StrArg &s) {
  const char *sc = nullptr;
  return s.size() > 0 ? os::WriteRecord(f, false, s.data(), s.size(), &sc) : 0;
}

// The first bytes of a locked file into the read buffer, for TypeScript to judge.
int ReadHead(Napi::Env env, file_t f, const FileInfo &fi) {
  AddonData *d = Data(env);
  const char *sc = nullptr;
  int n = fi.size > 0 ? os::ReadAt(f, reinterpret_cast<char *>(d->readBuf), d->readLen, 0, &sc) : 0;
  if (n < 0) return FailClose(env, f, n, sc);
  Report(d->out, fi);
  d->out[4] = n;
  d->out[0] = kLocked;
  return 0;
}

// What TypeScript asks to have done at once when the locked file turns out to be exactly
// the first `len` bytes of `content` (its header: fslock's own file, no record in it):
// append the rest of `content`, this holder's record. That is the commit settle() in
// lib/native/path-protocol.ts would ask for next, so a grant needs one crossing instead
// of two (a hand-off about 10 µs sooner, p50). len 0: the head goes to TypeScript.
struct Commit {
  const Napi::Value content;
  int64_t len;
};

// Appends the record and checks the inode is still linked. A file removed meanwhile
// (nlink 0: a fallback reclaimer replaced it) is cut back to its header, which
// retracts the record as a tombstone would (this holder is alone on it): start again.
int CommitAtOnce(Napi::Env env, file_t f, const StrArg &content, size_t len) {
  const char *sc = nullptr;
  double *out = Data(env)->out;
  FileInfo fi;
  int r = os::WriteRecord(f, false, content.data() + len, content.size() - len, &sc);
  if (r >= 0) r = os::Stat(f, &fi, &sc);
  if (r < 0) return FailClose(env, f, r, sc);
  if (fi.nlink == 0) {
    os::Truncate(f, static_cast<int64_t>(len), &sc);
    CloseTracked(env, f);
    out[0] = kRetry;
    return 0;
  }
  Report(out, fi);
  out[0] = kAcquired;
  return 0;
}

// After the lock is granted on an existing file: a removed inode is retried, a live one
// is read for TypeScript (fslock's own lock file, or someone else's file to leave
// alone), or committed at once when it is exactly the header TypeScript gave.
int AfterLock(Napi::Env env, file_t f, const Commit &c) {
  const char *sc = nullptr;
  FileInfo fi;
  int r = os::Stat(f, &fi, &sc);
  if (r < 0) return FailClose(env, f, r, sc);
  if (fi.type != kRegular) return NotRegularClose(env, f, fi);  // replaced before the open
  if (fi.nlink == 0) {
    CloseTracked(env, f);
    Data(env)->out[0] = kRetry;
    return 0;
  }
  r = ReadHead(env, f, fi);
  if (r < 0 || c.len <= 0 || fi.size != c.len || Data(env)->out[4] != c.len) return r;
  StrArg content(env, c.content);
  size_t len = static_cast<size_t>(c.len);
  if (content.size() <= len || std::memcmp(Data(env)->readBuf, content.data(), len) != 0) return 0;
  return CommitAtOnce(env, f, content, len);
}

// Creates the lock file (exclusive create, exact mode), locks it before anyone can, and
// writes header + record: nobody ever sees it unlocked and empty. Someone who opened the
// brand-new file and locked it first only makes this a normal wait.
// Linux: an unnamed O_TMPFILE file in `dir`, locked and filled, then linked at the
// path: it appears whole and already locked, so no one ever finds it empty.
double CreateAnon(Napi::Env env, const PathArg &path, const PathArg &dir, int type, int mode,
                  const StrArg &content) {
  const char *sc = nullptr;
  double *out = Data(env)->out;
  file_t f = -1;
  int r = os::OpenAnonLockFile(dir.get(), mode, &f, &sc);
  if (r < 0) return Fail(env, r, sc);
  TrackOpen(env, f);
  r = os::LockFile(f, type, false, &sc);
  if (r >= 0) r = os::WriteRecord(f, false, content.data(), content.size(), &sc);
  if (r >= 0) r = os::LinkLockFile(f, path.get(), &sc);  // EEXIST: TypeScript starts again
  if (r < 0) return FailClose(env, f, r, sc);
  // No fstat: the file was linked already locked and holding this record, so nobody
  // can have removed or replaced it, and nothing of it is reported (out[1] = -1: its
  // identity is asked for with statFd only if it is ever needed).
  out[1] = -1;
  out[6] = kRegular;
  out[0] = kCreated;
  return static_cast<double>(f);
}

double Create(Napi::Env env, const PathArg &path, int type, int mode, const StrArg &content) {
  const char *sc = nullptr;
  double *out = Data(env)->out;
  file_t f = -1;
  int r = os::OpenLockFile(path.get(), os::kOpenCreateNew, mode, &f, &sc);
  if (r < 0) return Fail(env, r, sc);
  TrackOpen(env, f);
  out[6] = kRegular;
  r = os::LockFile(f, type, false, &sc);
  if (r < 0) {
    if (!os::IsWouldBlock(r)) return FailClose(env, f, r, sc);
    out[0] = kCreatedBusy;
    out[1] = -1;  // not reported (statFd)
    out[3] = 0;
    return static_cast<double>(f);
  }
  FileInfo fi, at;
  r = os::WriteRecord(f, false, content.data(), content.size(), &sc);
  if (r >= 0) r = os::Stat(f, &fi, &sc);
  if (r < 0) {
    // ENOSPC, EDQUOT…: the file this call created goes again (it holds no record).
    const char *sc2 = nullptr;
    if (os::Stat(f, &fi, &sc2) == 0 && os::PathInfo(path.get(), &at, &sc2) == 0 && SameFile(at, fi))
      os::Unlink(path.get(), &sc2);
    return FailClose(env, f, r, sc);
  }
  if (fi.nlink == 0) {
    // Between the create and the lock, someone else locked the new file, held it and
    // removed it on release: this lock is on a removed inode. Retract (the inode is
    // this call's own; a fallback reclaimer may still read it), start again.
    const char *sc2 = nullptr;
    os::Truncate(f, 0, &sc2);
    CloseTracked(env, f);
    out[0] = kRetry;
    return 0;
  }
  Report(out, fi);
  out[0] = kCreated;
  return static_cast<double>(f);
}

// pathOpen(path, type, mode, content, dir, commitLen) -> fd | -err; status in out[0].
// Opens an existing lock file (never following a final link, never blocking), checks
// that it is a regular file, and tries the lock (held: AfterLock, commitLen is
// Commit::len); a missing name is created with `content` (header + record): unnamed in
// `dir` (a string) first and then linked (Linux), or created exclusively.
Napi::Value PathOpen(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  PathArg path(env, info[0]);
  if (path.truncated()) return Num(env, Fail(env, os::NameTooLong(), "open"));
  int type = I32(info, 1);
  double *out = Data(env)->out;
  const char *sc = nullptr;
  file_t f = -1;
  int r = os::OpenLockFile(path.get(), 0, 0, &f, &sc);
  if (r == kNotOpened) return Num(env, NotOpened(out));
  if (r < 0) {
    if (r != os::NotFound()) return Num(env, Fail(env, r, sc));
    StrArg content(env, info[3]);
    if (content.size() == 0) return Num(env, Fail(env, r, sc));
    if (info[4].IsString() || info[4].IsBuffer()) {
      PathArg dir(env, info[4]);
      return Num(env, CreateAnon(env, path, dir, type, I32(info, 2), content));
    }
    return Num(env, Create(env, path, type, I32(info, 2), content));
  }
  TrackOpen(env, f);
  FileInfo fi;
#ifdef _WIN32
  // POSIX checked the type before opening (os::OpenLockFile); the fstat after the lock
  // (AfterLock, or the busy branch below) checks what was opened.
  r = os::Stat(f, &fi, &sc);
  if (r < 0) return Num(env, FailClose(env, f, r, sc));
  if (fi.type != kRegular) return Num(env, NotRegularClose(env, f, fi));
  if (fi.nlink == 0) return Num(env, GoneClose(env, f));
#endif
  r = os::LockFile(f, type, false, &sc);
  if (r < 0) {
    if (!os::IsWouldBlock(r)) return Num(env, FailClose(env, f, r, sc));
    return Num(env, BusyReport(env, f, out));
  }
  r = AfterLock(env, f, Commit{info[3], I64(info, 5)});
  return Num(env, r < 0                                       ? r
                  : out[0] == kRetry || out[0] == kNotRegular ? 0
                                                              : static_cast<double>(f));
}

// pathAfterWait(fd, content, commitLen) -> 0 | -err; status in out[0] (kLocked,
// kAcquired or kRetry), as after pathOpen's lock.
Napi::Value PathAfterWait(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  return Num(env, AfterLock(env, I64(info, 0), Commit{info[1], I64(info, 2)}));
}

// pathCommit(fd, type, content, record, tombstone, commit) -> 0 | -err; status in out[0].
// Writes this holder's record into fslock's own lock file and verifies the inode is
// still linked (a fallback reclaimer may have replaced it: docs/protocol.md). `commit`
// (CommitMode in lib/native/binding.ts): > 0 cut the file back to that many bytes (its
// header) and append the record; 0 rewrite it whole with `content`; < 0 append only (the
// file is exactly its header, seen under this lock).
Napi::Value PathCommit(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  file_t f = I64(info, 0);
  int type = I32(info, 1);
  int64_t commit = I64(info, 5);
  const char *sc = nullptr;
  double *out = Data(env)->out;
  // Exclusive, or the only shared holder (fcntl converts an exclusive OFD lock back to
  // shared atomically): the content becomes header + own record, compacting what
  // earlier holders left. Shared among others: append the own record. The file is cut
  // back to its header, never to zero: ext4 (auto_da_alloc) flushes a file truncated to
  // zero and rewritten when it is closed, which costs a disk write per lock. A file that
  // is exactly its header is not cut at all: ftruncate to the same size still updates
  // and dirties the inode (a fifth of a kept lock cycle on ext4, perf).
  bool sole = type == kExclusive || os::ConvertLock(f, kExclusive, &sc) == 0;
  int r;
  if (!sole || commit < 0) {
    r = Append(f, StrArg(env, info[3]));
  } else if (commit > 0) {
    r = os::Truncate(f, commit, &sc);
    if (r >= 0) r = Append(f, StrArg(env, info[3]));
  } else {
    StrArg content(env, info[2]);
    r = os::WriteRecord(f, true, content.data(), content.size(), &sc);
  }
  if (r >= 0 && sole && type == kShared) r = os::ConvertLock(f, kShared, &sc);
  FileInfo fi;
  if (r >= 0) r = os::Stat(f, &fi, &sc);
  if (r < 0) return Num(env, FailClose(env, f, r, sc));
  if (fi.nlink == 0) {
    Append(f, StrArg(env, info[4]));
    CloseTracked(env, f);
    out[0] = kRetry;
    return Num(env, 0);
  }
  Report(out, fi);
  out[0] = kAcquired;
  return Num(env, 0);
}

enum ReleaseFlags : int {
  kReleaseRetract = 1,  // fslock's own file: take the record back
  kReleaseRemove = 2,   // and remove the file when no one else holds it
  kReleaseUnlock = 4,   // unlock before closing: a child inherited this descriptor
};

// pathRelease(path, fd, type, flags, header, tombstone, cut) -> 0 | -err; out[0] = 1 when
// the file was removed. The lock is released whatever happens (close drops it); a file
// that is not removed keeps only its header: cut back to it (`cut`: the file starts
// with it) or rewritten to it (a file of fslock 0.1), or, shared with others, gets a
// tombstone. Removal needs the lock exclusively and
// the name still naming this inode, so a waiter never holds a removed file unnoticed
// (it re-checks nlink) and no other file is ever removed.
Napi::Value PathRelease(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  file_t f = I64(info, 1);
  int type = I32(info, 2);
  int flags = I32(info, 3);
  bool cut = info[6].As<Napi::Boolean>().Value();
  const char *sc = nullptr;
  double *out = Data(env)->out;
  out[0] = 0;
  int err = 0;
  if (flags & kReleaseRetract) {
    bool sole = true;
    if (type == kShared && os::LockFile(f, kExclusive, false, &sc) != 0) {
      // Others hold it shared. Drop ours first, then try once more: of several shared
      // holders releasing together, the last one always wins this and cleans up.
      os::LockFile(f, kUnlock, false, &sc);
      sole = os::LockFile(f, kExclusive, false, &sc) == 0;
    }
    // Sole holder of a file that stays (kept, or on a shared filesystem): cut it back,
    // which retracts the record whether or not a fallback reclaimer replaced the file
    // meanwhile (its re-read then finds no record, as it would find a tombstone), so no
    // fstat is needed. A file to remove is checked first: still linked, once, and
    // still the inode the name denotes.
    FileInfo fi, at;
    bool removable = sole && (flags & kReleaseRemove);
    int r = removable ? os::Stat(f, &fi, &sc) : 0;
    if (r < 0) {
      err = Fail(env, r, sc);
    } else if (!sole || (removable && fi.nlink == 0)) {
      r = Append(f, StrArg(env, info[5]));  // shared with others, or removed meanwhile
    } else {
      bool removed = false;
      if (removable && fi.nlink == 1) {
        PathArg path(env, info[0]);
        if (os::PathInfo(path.get(), &at, &sc) == 0 && SameFile(at, fi) && at.type == kRegular)
          removed = os::Unlink(path.get(), &sc) == 0;  // EPERM, EACCES, EBUSY…: kept
      }
      out[0] = removed ? 1 : 0;
      if (!removed) {
        StrArg header(env, info[4]);
        r = cut ? os::Truncate(f, static_cast<int64_t>(header.size()), &sc)
                : os::WriteRecord(f, true, header.data(), header.size(), &sc);
      }
    }
    if (r < 0 && err == 0) err = Fail(env, r, sc);
  }
  // Copies of the descriptor a child inherited (the fslock command hands it on, as
  // flock(1) does) must not keep the lock after this holder released it. Otherwise
  // close alone drops it: no other descriptor shares this open file description.
  if (flags & kReleaseUnlock) os::LockFile(f, kUnlock, false, &sc);
  CloseTracked(env, f);
  return Num(env, err);
}

// pathProbe(path) -> state | -err: 0 free, 1 shared, 2 exclusive; out[0] = kLocked with
// the head of the file in the read buffer (out[4] bytes), or kNotRegular.
Napi::Value PathProbe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  PathArg path(env, info[0]);
  if (path.truncated()) return Num(env, Fail(env, os::NameTooLong(), "open"));
  const char *sc = nullptr;
  double *out = Data(env)->out;
  file_t f = -1;
  int r = os::OpenLockFile(path.get(), os::kOpenReadOnly, 0, &f, &sc);
  if (r == kNotOpened) return Num(env, NotOpened(out));
  if (r < 0) return Num(env, Fail(env, r, sc));
  TrackOpen(env, f);
  FileInfo fi;
  r = os::Stat(f, &fi, &sc);
  if (r < 0) return Num(env, FailClose(env, f, r, sc));
  if (fi.type != kRegular && fi.type != kDirectory) {
    CloseTracked(env, f);
    out[6] = fi.type;
    out[0] = kNotRegular;
    return Num(env, 0);
  }
  int state = os::ProbeLockFile(f, &sc);
  if (state >= 0 && fi.type == kDirectory) {
    // A directory is locked as itself (flock(2) only): nothing to read.
    CloseTracked(env, f);
    Report(out, fi);
    out[4] = 0;
    out[0] = kLocked;
    return Num(env, state);
  }
  if (state < 0) return Num(env, FailClose(env, f, state, sc));
  r = ReadHead(env, f, fi);
  if (r < 0) return Num(env, r);
  CloseTracked(env, f);
  return Num(env, state);
}

// pathOpenDir(path, type) -> fd | -err; out[0] kLocked (held) or kBusy, with out[1..]
// (Report). A directory path locks the directory itself, as flock(1) does: a
// read-only descriptor and flock(2) alone (an exclusive fcntl lock needs a writable
// descriptor, which a directory cannot have). Nothing is created or written.
Napi::Value PathOpenDir(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  PathArg path(env, info[0]);
  if (path.truncated()) return Num(env, Fail(env, os::NameTooLong(), "open"));
  int type = I32(info, 1);
  double *out = Data(env)->out;
  const char *sc = nullptr;
  file_t f = -1;
  int r = os::OpenLockDir(path.get(), &f, &sc);
  if (r < 0) return Num(env, Fail(env, r, sc));
  TrackOpen(env, f);
  FileInfo fi;
  r = os::Stat(f, &fi, &sc);
  if (r < 0) return Num(env, FailClose(env, f, r, sc));
  Report(out, fi);
  if (fi.type != kDirectory) {
    CloseTracked(env, f);
    out[0] = kNotRegular;
    return Num(env, 0);
  }
  r = os::Flock(f, type, false, &sc);
  if (r < 0 && !os::IsWouldBlock(r)) return Num(env, FailClose(env, f, r, sc));
  out[0] = r < 0 ? kBusy : kLocked;
  return Num(env, static_cast<double>(f));
}

// pathOpenRead(path, type) -> fd | -err; out[0] kLocked (held, its head read) or kBusy
// (fd returned), kNotRegular or kRetry (closed), with out[1..] (Report). An existing
// file this process may read but not write (a root-owned script), locked as flock(1)
// locks it: through a read-only descriptor, `type` kShared or kExclusiveRead. Nothing
// is written (TypeScript never commits a record on it).
Napi::Value PathOpenRead(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  PathArg path(env, info[0]);
  if (path.truncated()) return Num(env, Fail(env, os::NameTooLong(), "open"));
  int type = I32(info, 1);
  double *out = Data(env)->out;
  const char *sc = nullptr;
  file_t f = -1;
  int r = os::OpenLockFile(path.get(), os::kOpenReadOnly, 0, &f, &sc);
  if (r == kNotOpened) return Num(env, NotOpened(out));
  if (r < 0) return Num(env, Fail(env, r, sc));
  TrackOpen(env, f);
  r = os::LockFile(f, type, false, &sc);
  if (r < 0) {
    if (!os::IsWouldBlock(r)) return Num(env, FailClose(env, f, r, sc));
    return Num(env, BusyReport(env, f, out));
  }
  r = AfterLock(env, f, Commit{info[0], 0});
  return Num(env, r < 0                                       ? r
                  : out[0] == kRetry || out[0] == kNotRegular ? 0
                                                              : static_cast<double>(f));
}

// fd -> 0 | -err, out[1..] as Report, through `stat` (os::Stat or os::StatUserFd).
Napi::Value StatReport(const Napi::CallbackInfo &info,
                       int (*stat)(file_t, FileInfo *, const char **)) {
  Napi::Env env = info.Env();
  FileInfo fi;
  const char *sc = nullptr;
  int r = stat(I64(info, 0), &fi, &sc);
  if (r >= 0) Report(Data(env)->out, fi);
  return Num(env, Fail(env, r, sc));
}

// statFd(fd): a descriptor this library opened (a directory lock after its wait).
Napi::Value StatFd(const Napi::CallbackInfo &info) {
  return StatReport(info, os::Stat);
}

// statUserFd(fd): a user's descriptor (descriptor locks' own-thread checks; on Windows a
// C runtime fd, not a handle of this library's).
Napi::Value StatUserFd(const Napi::CallbackInfo &info) {
  return StatReport(info, os::StatUserFd);
}

// readAt(fd, buffer, offset) -> bytes read | -err
Napi::Value ReadAt(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto buf = info[1].As<Napi::Uint8Array>();
  const char *sc = nullptr;
  int r = os::ReadAt(I64(info, 0), reinterpret_cast<char *>(buf.Data()), buf.ByteLength(),
                     I64(info, 2), &sc);
  return Num(env, Fail(env, r, sc));
}

Napi::Value CloseFile(const Napi::CallbackInfo &info) {
  CloseTracked(info.Env(), I64(info, 0));
  return info.Env().Undefined();
}

// The descriptor calls are the pair users put around their own work: written in plain
// Node-API, without node-addon-api's wrapper (its CallbackInfo and exception plumbing),
// which was measurable beside a flock(2) of ~125 ns. Never waiting: waits go to a
// waiter thread (native/waiter.cc).

// flock(fd, type) -> 0 | -err
napi_value Flock(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1, type = kUnlock;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int32(env, argv[1], &type);
  const char *sc = nullptr;
  int r = os::Flock(fd, type, false, &sc);
  napi_value result;
  napi_create_int32(env, Fail(Napi::Env(env), r, sc), &result);
  return result;
}

// lockRange(fd, type, start, length) -> 0 | -err
napi_value LockRange(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd = -1, type = kUnlock;
  int64_t start = 0, length = 0;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int32(env, argv[1], &type);
  napi_get_value_int64(env, argv[2], &start);
  napi_get_value_int64(env, argv[3], &length);
  const char *sc = nullptr;
  int r = os::LockRange(fd, type, start, length, false, &sc);
  napi_value result;
  napi_create_int32(env, Fail(Napi::Env(env), r, sc), &result);
  return result;
}

void SetRaw(Napi::Env env, Napi::Object exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  exports.Set(name, Napi::Value(env, fn));
}

}  // namespace

void InitLocks(Napi::Env env, Napi::Object exports) {
  exports.Set("pathOpen", Napi::Function::New(env, PathOpen, "pathOpen"));
  exports.Set("pathAfterWait", Napi::Function::New(env, PathAfterWait, "pathAfterWait"));
  exports.Set("pathCommit", Napi::Function::New(env, PathCommit, "pathCommit"));
  exports.Set("pathRelease", Napi::Function::New(env, PathRelease, "pathRelease"));
  exports.Set("pathProbe", Napi::Function::New(env, PathProbe, "pathProbe"));
  exports.Set("pathOpenDir", Napi::Function::New(env, PathOpenDir, "pathOpenDir"));
  exports.Set("pathOpenRead", Napi::Function::New(env, PathOpenRead, "pathOpenRead"));
  exports.Set("statFd", Napi::Function::New(env, StatFd, "statFd"));
  exports.Set("statUserFd", Napi::Function::New(env, StatUserFd, "statUserFd"));
  exports.Set("readAt", Napi::Function::New(env, ReadAt, "readAt"));
  exports.Set("closeFile", Napi::Function::New(env, CloseFile, "closeFile"));
  SetRaw(env, exports, "flock", Flock);
  SetRaw(env, exports, "lockRange", LockRange);
}

}  // namespace fslock
