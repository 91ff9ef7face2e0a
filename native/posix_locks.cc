// POSIX lock calls. Linux: path locks and byte ranges are open-file-description locks
// (fcntl(2) F_OFD_SETLK/F_OFD_SETLKW/F_OFD_GETLK, Linux >= 3.15): owned by the open
// file description, so closing another fd of the same file never drops them, two
// descriptions in one process conflict exactly like two processes, and F_OFD_GETLK
// lets isLocked() look without taking anything. Elsewhere (macOS, BSD) path locks use
// flock(2) and byte ranges classic process-owned fcntl locks (documented in README).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fslock.h"
#include "posix_common.h"

namespace fslock {
namespace os {
namespace {

// The signal that interrupts a waiter thread's blocking lock call. Real-time signals
// cannot be claimed from JavaScript (process.on has no name for them), so libuv never
// re-installs this one with SA_RESTART, which would make flock/F_OFD_SETLKW restart
// instead of failing with EINTR (signal(7), "Interruption of system calls").
int InterruptSignal() {
#ifdef SIGRTMAX
  return SIGRTMAX - 2;
#else
  return SIGURG;  // default action: ignore
#endif
}

extern "C" void OnInterrupt(int) {}

using posix::Err;

int LockCmd(bool wait) {
#ifdef F_OFD_SETLK
  return wait ? F_OFD_SETLKW : F_OFD_SETLK;
#else
  return wait ? F_SETLKW : F_SETLK;
#endif
}

short LockTypeOf(int type) {
  return type == kUnlock ? F_UNLCK : type == kExclusive ? F_WRLCK : F_RDLCK;
}

int FcntlLock(int fd, int type, int64_t start, int64_t len, bool wait, const char **sc) {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);  // OFD locks require l_pid == 0
  fl.l_type = LockTypeOf(type);
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(start);
  fl.l_len = static_cast<off_t>(len);
  return fcntl(fd, LockCmd(wait), &fl) == 0 ? 0 : Err("fcntl", sc);
}

int FlockOp(int type, bool wait) {
  int op = type == kUnlock ? LOCK_UN : type == kShared ? LOCK_SH : LOCK_EX;
  return wait ? op : op | LOCK_NB;
}

}  // namespace

void Init() {
  // A function-local static: initialised once, thread-safe (no std::call_once, whose
  // pthread_once would raise the glibc floor, see glibc_compat.h).
  static const bool installed = [] {
    struct sigaction old;
    if (sigaction(InterruptSignal(), nullptr, &old) != 0) return false;
    // Someone else's handler stays: ours only needs to exist, not to run.
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
      return false;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnInterrupt;
    sa.sa_flags = 0;  // no SA_RESTART: the blocking call must fail with EINTR
    sigemptyset(&sa.sa_mask);
    return sigaction(InterruptSignal(), &sa, nullptr) == 0;
  }();
  (void)installed;
}

ThreadToken CurrentThreadToken() {
  // Only the interrupt reaches waiter threads; process signals go to other threads.
  // (sigprocmask is per-thread on Linux and glibc; pthread_sigmask would need 2.32.)
  sigset_t set;
  sigfillset(&set);
  sigdelset(&set, InterruptSignal());
#ifdef __linux__
  sigprocmask(SIG_SETMASK, &set, nullptr);
  return static_cast<ThreadToken>(syscall(SYS_gettid));
#else
  pthread_sigmask(SIG_SETMASK, &set, nullptr);
  pthread_t self = pthread_self();
  static_assert(sizeof(pthread_t) <= sizeof(ThreadToken), "pthread_t fits a token");
  ThreadToken t = 0;
  std::memcpy(&t, &self, sizeof self);
  return t;
#endif
}

void ReleaseThreadToken(ThreadToken) {}

void InterruptThread(ThreadToken t) {
#ifdef __linux__
  // tgkill(2) by thread id: the waiter thread outlives every call (it reports done
  // under the waiter's mutex before exiting), so the id cannot have been reused.
  syscall(SYS_tgkill, static_cast<pid_t>(getpid()), static_cast<pid_t>(t), InterruptSignal());
#else
  pthread_t thread;
  std::memcpy(&thread, &t, sizeof thread);
  pthread_kill(thread, InterruptSignal());
#endif
}

bool IsInterrupted(int err) {
  return err == -EINTR;
}
// fcntl(2): a conflicting F_SETLK fails with EACCES or EAGAIN; flock(2) with EWOULDBLOCK.
bool IsWouldBlock(int err) {
  return err == -EAGAIN || err == -EWOULDBLOCK || err == -EACCES;
}
int NameTooLong() {
  return -ENAMETOOLONG;
}
int NotFound() {
  return -ENOENT;
}

int Flock(int64_t fd, int type, bool wait, const char **sc) {
  return flock(static_cast<int>(fd), FlockOp(type, wait)) == 0 ? 0 : Err("flock", sc);
}

int StatUserFd(int64_t fd, FileInfo *info, const char **sc) {
  return Stat(static_cast<file_t>(fd), info, sc);
}

int LockRange(int64_t fd, int type, int64_t start, int64_t len, bool wait, const char **sc) {
  return FcntlLock(static_cast<int>(fd), type, start, len, wait, sc);
}

int OpenLockFile(const pathchar *path, int flags, int mode, file_t *out, const char **sc) {
  // O_NOFOLLOW: a planted symlink fails with ELOOP instead of being followed (open(2)).
  // O_NONBLOCK: a FIFO or a file under a lease never blocks the open; it changes
  // nothing for reads, writes or locks of a regular file. O_NOCTTY: a terminal planted
  // at the path never becomes our controlling terminal.
  int oflags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
               ((flags & kOpenReadOnly) ? O_RDONLY : O_RDWR | O_APPEND);
  if (flags & kOpenCreateNew) {
    oflags |= O_CREAT | O_EXCL;
  } else {
    // Opening a FIFO completes the open(2) another program is blocked in (its reader
    // or writer partner), and our close then gives it EOF or SIGPIPE; opening a device
    // can act on it (a tape rewinds on close). No open flag refuses them, so the name
    // is looked at first, in place of the fstat before the lock (the one after the lock
    // re-checks the type): a name replaced by a FIFO between the two calls is the
    // window left (documented in docs/path-locks.md). open(O_PATH), fstat and a reopen
    // through /proc/self/fd would close it at 2 more calls per lock (+30% CPU, measured).
    posix::StatInfo st;
    if (posix::StatOf(-1, path, &st, true) != 0) return Err("lstat", sc);
    if (!S_ISREG(st.mode) && !S_ISDIR(st.mode) && !S_ISLNK(st.mode)) {
      *sc = "open";
      return kNotOpened;
    }
  }
  int fd;
  do fd = open(path, oflags, static_cast<mode_t>(mode));
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return Err("open", sc);
  // The umask applied at creation: set exactly the bits asked for, so that other users
  // can share the lock. A filesystem without permissions (vfat, some FUSE) refuses:
  // that changes nothing for locking.
  if ((flags & kOpenCreateNew) && fchmod(fd, static_cast<mode_t>(mode)) != 0) errno = 0;
  *out = fd;
  return 0;
}

int OpenAnonLockFile(const pathchar *dir, int mode, file_t *out, const char **sc) {
#ifdef O_TMPFILE
  int fd;
  do fd = open(dir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, static_cast<mode_t>(mode));
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return Err("tmpfile", sc);  // named apart: TypeScript tries by name then
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0) errno = 0;  // as in OpenLockFile
  *out = fd;
  return 0;
#else
  (void)dir, (void)mode, (void)out;
  *sc = "tmpfile";
  return -EOPNOTSUPP;
#endif
}

int LinkLockFile(file_t f, const pathchar *path, const char **sc) {
  // The /proc/self/fd form is the unprivileged way (open(2), the O_TMPFILE example);
  // linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH before Linux 6.10.
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", static_cast<int>(f));
  return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : Err("linkat", sc);
}

namespace {
void Fill(const posix::StatInfo &st, FileInfo *info) {
  info->dev = st.dev;
  info->ino = st.ino;
  info->nlink = st.nlink;
  info->size = st.size;
  info->uid = st.uid;
  info->type = S_ISREG(st.mode)   ? kRegular
               : S_ISDIR(st.mode) ? kDirectory
               : S_ISLNK(st.mode) ? kSymlink
                                  : kOtherType;
}
}  // namespace

int PathInfo(const pathchar *path, FileInfo *info, const char **sc) {
  posix::StatInfo st;
  if (posix::StatOf(-1, path, &st, true) != 0) return Err("lstat", sc);
  Fill(st, info);
  return 0;
}

int Truncate(file_t f, int64_t len, const char **sc) {
  int r;
  do r = ftruncate(static_cast<int>(f), static_cast<off_t>(len));
  while (r != 0 && errno == EINTR);
  return r == 0 ? 0 : Err("ftruncate", sc);
}

#ifdef F_OFD_SETLK
// Linux path locks are two locks on one open file description: flock(2) and a
// whole-file OFD lock. On local filesystems the kernel keeps the two kinds apart
// (flock(2), "NOTES"), and every other program takes one of them: flock(1), Python's
// filelock, cargo, uv, Go and Rust take flock(2); lockf(3), Java and SQLite take POSIX
// record locks, which OFD locks conflict with. Holding both excludes both, and both
// exclude us. On NFS and GlusterFS the two are one lock on the server (same owner:
// this open file description), so they never conflict with each other.
namespace {
int FlockCall(int fd, int op, const char **sc) {
  int r;
  do r = flock(fd, op);
  while (r != 0 && errno == EINTR && (op & LOCK_NB));
  return r == 0 ? 0 : Err("flock", sc);
}

// Drops both (unlocking what is not held is harmless); the first failure is kept.
int UnlockBoth(int fd, const char **sc) {
  const char *sc2 = nullptr;
  int r = FcntlLock(fd, kUnlock, 0, 0, false, sc);
  int r2 = FlockCall(fd, LOCK_UN, &sc2);
  if (r == 0 && r2 < 0) *sc = sc2;
  return r < 0 ? r : r2;
}

// One blocking lock of either kind while the other is not held, then the other without
// waiting: never holding one while blocked on the other, so no program that takes the
// two in the other order can deadlock with us. fslock processes all wait in flock(2);
// the holder's close drops both at once, so a woken waiter finds the OFD lock free and
// is granted on one wake-up. Only a POSIX locker makes a waiter move to the OFD side.
int WaitBoth(int fd, int type, const char **sc) {
  for (;;) {
    int r = FlockCall(fd, FlockOp(type, true), sc);
    if (r < 0) return r;  // EINTR: interrupted (timeout, abort), nothing held
    r = FcntlLock(fd, type, 0, 0, false, sc);
    if (r == 0) return 0;
    const char *sc2 = nullptr;
    FlockCall(fd, LOCK_UN, &sc2);
    if (!IsWouldBlock(r)) return r;
    r = FcntlLock(fd, type, 0, 0, true, sc);
    if (r < 0) return r;
    r = FlockCall(fd, FlockOp(type, false), sc);
    if (r == 0) return 0;
    FcntlLock(fd, kUnlock, 0, 0, false, &sc2);
    if (!IsWouldBlock(r)) return r;
  }
}
}  // namespace
#endif

int LockFile(file_t f, int type, bool wait, const char **sc) {
#ifdef F_OFD_SETLK
  int fd = static_cast<int>(f);
  if (type == kUnlock) return UnlockBoth(fd, sc);
  if (wait) return WaitBoth(fd, type, sc);
  int r = FlockCall(fd, FlockOp(type, false), sc);
  if (r < 0) return r;
  r = FcntlLock(fd, type, 0, 0, false, sc);
  if (r < 0) {
    const char *sc2 = nullptr;
    FlockCall(fd, LOCK_UN, &sc2);  // a failed attempt holds nothing
  }
  return r;
#else
  return Flock(f, type, wait, sc);
#endif
}

int ConvertLock(file_t f, int type, const char **sc) {
#ifdef F_OFD_SETLK
  // fcntl(2) converts an OFD lock atomically; flock(2) conversions are not atomic (the
  // old lock goes first), so the flock(2) lock keeps the mode it was taken with. Every
  // fslock holder holds an OFD lock, so the OFD lock alone tells who else holds it.
  return FcntlLock(static_cast<int>(f), type, 0, 0, false, sc);
#else
  return Flock(f, type, false, sc);
#endif
}

int OpenLockDir(const pathchar *path, file_t *out, const char **sc) {
  // flock(1) locks a directory through a read-only descriptor (open(2): O_RDONLY is the
  // only access mode a directory allows; flock(2) does not care). O_NOFOLLOW: a final
  // symlink is refused as for files.
  int fd;
  do fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return Err("open", sc);
  *out = fd;
  return 0;
}

int ProbeLockFile(file_t f, const char **sc) {
#ifdef F_OFD_GETLK
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(static_cast<int>(f), F_OFD_GETLK, &fl) != 0) return Err("fcntl", sc);
  return fl.l_type == F_UNLCK ? 0 : fl.l_type == F_RDLCK ? 1 : 2;
#else
  // flock(2) has no query: try and undo (briefly visible to others; documented).
  int fd = static_cast<int>(f);
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return flock(fd, LOCK_UN), 0;
  if (errno != EWOULDBLOCK) return Err("flock", sc);
  if (flock(fd, LOCK_SH | LOCK_NB) == 0) return flock(fd, LOCK_UN), 1;
  return errno == EWOULDBLOCK ? 2 : Err("flock", sc);
#endif
}

int Stat(file_t f, FileInfo *info, const char **sc) {
  posix::StatInfo st;
  if (posix::StatOf(static_cast<int>(f), nullptr, &st) != 0) return Err("fstat", sc);
  Fill(st, info);
  return 0;
}

int ReadAt(file_t f, char *buf, size_t len, int64_t offset, const char **sc) {
  ssize_t n;
  do n = pread(static_cast<int>(f), buf, len, static_cast<off_t>(offset));
  while (n < 0 && errno == EINTR);
  return n < 0 ? Err("read", sc) : static_cast<int>(n);
}

int WriteRecord(file_t f, bool replace, const char *data, size_t len, const char **sc) {
  int fd = static_cast<int>(f);
  if (replace && ftruncate(fd, 0) != 0) return Err("ftruncate", sc);
  // O_APPEND: every holder's record lands at the end, never over another's.
  return posix::WriteAll(fd, data, len, sc);
}

int Unlink(const pathchar *path, const char **sc) {
  return unlink(path) == 0 ? 0 : Err("unlink", sc);
}

int Close(file_t f) {
  return close(static_cast<int>(f));
}

}  // namespace os
}  // namespace fslock

#if defined(__linux__) && defined(_GLIBCXX_RELEASE) && _GLIBCXX_RELEASE >= 11
// libstdc++ headers of GCC 11+ call this from every allocator (GLIBCXX_3.4.29, absent
// from older systems' libstdc++). Defined here, hidden, it binds locally; it is only
// reached for an allocation larger than the address space.
namespace std {
void __throw_bad_array_new_length() {
  std::abort();
}
}  // namespace std
#endif
