// Windows lock calls. Whole-file locks (path locks and flock()) are LockFileEx locks on
// one byte at kSentinel, far beyond any real data: LockFileEx locks are mandatory for
// the region they cover, so locking real bytes would make other handles' reads and
// writes fail. Byte ranges lock the requested region (mandatory: documented).
//
// Waiting: a blocking LockFileEx can be neither cancelled nor bounded portably —
// CancelSynchronousIo does not reach Wine's lock wait, and Wine does not implement
// overlapped lock waits at all (ntdll NtLockFile: "Async I/O lock wait not
// implemented"). So the waiter thread (never a threadpool thread) retries
// LockFileEx(LOCKFILE_FAIL_IMMEDIATELY) with a short backoff, sleeping on a per-thread
// event that os::InterruptThread sets: timeout and abort act at once, a release is
// noticed within the backoff (<= 8 ms).
#include <io.h>

#include <mutex>
#include <unordered_map>

#include "fslock.h"
#include "win32_common.h"

namespace fslock {
namespace os {
namespace {

constexpr ULONGLONG kSentinel = 1ULL << 62;
constexpr DWORD kMaxBackoffMs = 8;

using win32::Err;

HANDLE H(file_t f) {
  return reinterpret_cast<HANDLE>(static_cast<intptr_t>(f));
}

// The event of the current waiter thread (null on threads without a token).
thread_local HANDLE tInterrupt = nullptr;

// What each handle holds on its whole-file region: Windows cannot convert a lock in
// place (a second LockFileEx stacks, UnlockFileEx removes one at a time, exclusive
// first), so conversions are done from this state. kUpgraded = shared + exclusive.
enum Held : int { kNone = 0, kHeldShared = 1, kHeldExclusive = 2, kUpgraded = 3 };
std::mutex gHeldMutex;
std::unordered_map<HANDLE, int> gHeld;

int GetHeld(HANDLE h) {
  std::lock_guard<std::mutex> g(gHeldMutex);
  auto it = gHeld.find(h);
  return it == gHeld.end() ? kNone : it->second;
}
void SetHeld(HANDLE h, int s) {
  std::lock_guard<std::mutex> g(gHeldMutex);
  if (s == kNone)
    gHeld.erase(h);
  else
    gHeld[h] = s;
}

BOOL LockRegion(HANDLE h, bool exclusive, ULONGLONG start, ULONGLONG len) {
  OVERLAPPED ov = {};
  ov.Offset = static_cast<DWORD>(start);
  ov.OffsetHigh = static_cast<DWORD>(start >> 32);
  DWORD flags = LOCKFILE_FAIL_IMMEDIATELY | (exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0);
  return LockFileEx(h, flags, 0, static_cast<DWORD>(len), static_cast<DWORD>(len >> 32), &ov);
}

BOOL UnlockRegion(HANDLE h, ULONGLONG start, ULONGLONG len) {
  OVERLAPPED ov = {};
  ov.Offset = static_cast<DWORD>(start);
  ov.OffsetHigh = static_cast<DWORD>(start >> 32);
  return UnlockFileEx(h, 0, static_cast<DWORD>(len), static_cast<DWORD>(len >> 32), &ov);
}

// One attempt, or (wait) attempts until granted, failed otherwise, or interrupted.
int LockWithRetry(HANDLE h, bool exclusive, ULONGLONG start, ULONGLONG len, bool wait,
                  const char **sc) {
  DWORD backoff = 0;
  for (;;) {
    if (LockRegion(h, exclusive, start, len)) return 0;
    DWORD e = GetLastError();
    if (!wait || (e != ERROR_LOCK_VIOLATION && e != ERROR_IO_PENDING)) {
      SetLastError(e);
      return Err("LockFileEx", sc);
    }
    if (tInterrupt) {
      if (WaitForSingleObject(tInterrupt, backoff) == WAIT_OBJECT_0) {
        *sc = "LockFileEx";
        return -static_cast<int>(ERROR_OPERATION_ABORTED);
      }
    } else {
      Sleep(backoff);
    }
    backoff = backoff ? (backoff * 2 > kMaxBackoffMs ? kMaxBackoffMs : backoff * 2) : 1;
  }
}

// Path-lock whole-file lock on a handle this library opened (its state is tracked until
// os::Close). A conversion drops the old lock, then takes the new one — except that a
// shared -> exclusive request without waiting is tried on top of the shared lock
// first, and an upgraded lock goes back to shared atomically (native/glue_locks.cc
// Commit and PathRelease rely on both never losing the shared lock).
int WholeFile(HANDLE h, int type, bool wait, const char **sc) {
  int held = GetHeld(h);
  if (type == kUnlock) {
    int n = held == kUpgraded ? 2 : held == kNone ? 0 : 1;
    for (int i = 0; i < n; i++) UnlockRegion(h, kSentinel, 1);
    SetHeld(h, kNone);
    return 0;
  }
  if (type == kShared && held == kUpgraded) {
    UnlockRegion(h, kSentinel, 1);  // removes the exclusive one, the shared one stays
    SetHeld(h, kHeldShared);
    return 0;
  }
  if ((type == kShared && held == kHeldShared) ||
      (type == kExclusive && (held == kHeldExclusive || held == kUpgraded)))
    return 0;
  if (type == kExclusive && held == kHeldShared && !wait) {
    int r = LockWithRetry(h, true, kSentinel, 1, false, sc);
    if (r == 0) SetHeld(h, kUpgraded);
    return r;
  }
  if (held != kNone) WholeFile(h, kUnlock, false, sc);
  int r = LockWithRetry(h, type == kExclusive, kSentinel, 1, wait, sc);
  if (r == 0) SetHeld(h, type == kExclusive ? kHeldExclusive : kHeldShared);
  return r;
}

// STATUS_DELETE_PENDING hides behind ERROR_ACCESS_DENIED; the NT status tells them apart.
bool DeletePending() {
  using Fn = LONG(WINAPI *)();
  static Fn fn = reinterpret_cast<Fn>(reinterpret_cast<void *>(
      GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "RtlGetLastNtStatus")));
  return fn && static_cast<ULONG>(fn()) == 0xC0000056UL;  // STATUS_DELETE_PENDING
}

// fs.open() fds belong to node.exe's own (static) C runtime, not to the msvcrt this
// addon links: libuv's uv_get_osfhandle, exported by node.exe, maps them.
HANDLE FromFd(int64_t fd) {
  using Fn = HANDLE (*)(int);
  static Fn uv = reinterpret_cast<Fn>(
      reinterpret_cast<void *>(GetProcAddress(GetModuleHandleW(nullptr), "uv_get_osfhandle")));
  if (uv) return uv(static_cast<int>(fd));
  return reinterpret_cast<HANDLE>(_get_osfhandle(static_cast<int>(fd)));
}

}  // namespace

void Init() {}

ThreadToken CurrentThreadToken() {
  // Manual reset: once interrupted, every later wait on this thread returns at once.
  tInterrupt = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  return reinterpret_cast<ThreadToken>(tInterrupt);
}

void ReleaseThreadToken(ThreadToken t) {
  if (tInterrupt == reinterpret_cast<HANDLE>(t)) tInterrupt = nullptr;
  if (t) CloseHandle(reinterpret_cast<HANDLE>(t));
}

void InterruptThread(ThreadToken t) {
  if (t) SetEvent(reinterpret_cast<HANDLE>(t));
}

bool IsInterrupted(int err) {
  return err == -static_cast<int>(ERROR_OPERATION_ABORTED);
}
bool IsWouldBlock(int err) {
  return err == -static_cast<int>(ERROR_LOCK_VIOLATION) ||
         err == -static_cast<int>(ERROR_IO_PENDING);
}
int NameTooLong() {
  return -static_cast<int>(ERROR_FILENAME_EXCED_RANGE);
}
int NotFound() {
  return -static_cast<int>(ERROR_FILE_NOT_FOUND);
}

int Flock(int64_t fd, int type, bool wait, const char **sc) {
  HANDLE h = FromFd(fd);
  if (h == INVALID_HANDLE_VALUE) {
    *sc = "flock";
    return -static_cast<int>(ERROR_INVALID_HANDLE);
  }
  // Stateless, unlike path locks: a user fd may have been closed and its handle value
  // reused since an earlier call. A conversion drops the old lock first, as flock(2)
  // documents for itself; at most two locks (upgrade) stack on the sentinel.
  for (int i = 0; i < 2 && UnlockRegion(h, kSentinel, 1); i++) {
  }
  if (type == kUnlock) return 0;
  return LockWithRetry(h, type == kExclusive, kSentinel, 1, wait, sc);
}

int LockRange(int64_t fd, int type, int64_t start, int64_t len, bool wait, const char **sc) {
  HANDLE h = FromFd(fd);
  if (h == INVALID_HANDLE_VALUE) {
    *sc = "fcntl";
    return -static_cast<int>(ERROR_INVALID_HANDLE);
  }
  // Length 0 means "to the end of any file", as in fcntl(2); stop short of the
  // whole-file sentinel only when the range starts before it.
  ULONGLONG s = static_cast<ULONGLONG>(start);
  ULONGLONG l = len ? static_cast<ULONGLONG>(len) : (0x7FFFFFFFFFFFFFFFULL - s);
  if (type == kUnlock) {
    if (UnlockRegion(h, s, l)) return 0;
    // fcntl(2) succeeds on a range that is not locked: so does this.
    if (GetLastError() == ERROR_NOT_LOCKED) return 0;
    return Err("UnlockFileEx", sc);
  }
  return LockWithRetry(h, type == kExclusive, s, l, wait, sc);
}

int OpenLockFile(const pathchar *path, int flags, int mode, file_t *out, const char **sc) {
  (void)mode;
  DWORD access = (flags & kOpenReadOnly) ? GENERIC_READ : GENERIC_READ | GENERIC_WRITE;
  // FILE_SHARE_DELETE: the holder that releases may remove the file while waiters
  // have it open (they notice through Stat's nlink = 0 and retry).
  // FILE_FLAG_OPEN_REPARSE_POINT: a symlink or junction at the path is opened itself,
  // never followed (CreateFileW); os::Stat reports it and nothing is locked or written.
  HANDLE h = CreateFileW(path, access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         nullptr, (flags & kOpenCreateNew) ? CREATE_NEW : OPEN_EXISTING,
                         FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    if (GetLastError() == ERROR_ACCESS_DENIED && DeletePending())
      SetLastError(ERROR_DELETE_PENDING);
    return Err("open", sc);
  }
  *out = static_cast<file_t>(reinterpret_cast<intptr_t>(h));
  return 0;
}

int OpenAnonLockFile(const pathchar *, int, file_t *, const char **sc) {
  *sc = "tmpfile";
  return -static_cast<int>(ERROR_NOT_SUPPORTED);  // TypeScript never asks on Windows
}

int LinkLockFile(file_t, const pathchar *, const char **sc) {
  *sc = "link";
  return -static_cast<int>(ERROR_NOT_SUPPORTED);
}

int PathInfo(const pathchar *path, FileInfo *info, const char **sc) {
  HANDLE h = CreateFileW(
      path, FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
      OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (h == INVALID_HANDLE_VALUE) return Err("lstat", sc);
  int r = Stat(static_cast<file_t>(reinterpret_cast<intptr_t>(h)), info, sc);
  CloseHandle(h);
  return r;
}

int Truncate(file_t f, int64_t len, const char **sc) {
  FILE_END_OF_FILE_INFO eof = {};
  eof.EndOfFile.QuadPart = len;
  return SetFileInformationByHandle(H(f), FileEndOfFileInfo, &eof, sizeof eof)
             ? 0
             : Err("ftruncate", sc);
}

int LockFile(file_t f, int type, bool wait, const char **sc) {
  return WholeFile(H(f), type, wait, sc);
}

int ConvertLock(file_t f, int type, const char **sc) {
  return LockFile(f, type, false, sc);  // WholeFile tracks the upgrade itself
}

int OpenLockDir(const pathchar *, file_t *, const char **sc) {
  // TypeScript refuses directories on Windows before calling this.
  *sc = "open";
  return -static_cast<int>(ERROR_NOT_SUPPORTED);
}

int ProbeLockFile(file_t f, const char **sc) {
  // No query exists: try and undo, exclusive then shared (briefly visible: documented).
  HANDLE h = H(f);
  if (LockRegion(h, true, kSentinel, 1)) {
    UnlockRegion(h, kSentinel, 1);
    return 0;
  }
  if (GetLastError() != ERROR_LOCK_VIOLATION) return Err("LockFileEx", sc);
  if (LockRegion(h, false, kSentinel, 1)) {
    UnlockRegion(h, kSentinel, 1);
    return 1;
  }
  return GetLastError() == ERROR_LOCK_VIOLATION ? 2 : Err("LockFileEx", sc);
}

int Stat(file_t f, FileInfo *info, const char **sc) {
  BY_HANDLE_FILE_INFORMATION bi;
  if (!GetFileInformationByHandle(H(f), &bi)) return Err("fstat", sc);
  FILE_STANDARD_INFO si;
  if (!GetFileInformationByHandleEx(H(f), FileStandardInfo, &si, sizeof si))
    return Err("fstat", sc);
  info->dev = static_cast<double>(bi.dwVolumeSerialNumber);
  info->ino =
      static_cast<uint64_t>((static_cast<ULONGLONG>(bi.nFileIndexHigh) << 32) | bi.nFileIndexLow);
  // A file deleted while open stays "delete pending" until its last handle closes:
  // for the protocol it is gone (POSIX: nlink 0).
  info->nlink = si.DeletePending ? 0 : static_cast<double>(bi.nNumberOfLinks);
  info->size =
      static_cast<double>((static_cast<ULONGLONG>(bi.nFileSizeHigh) << 32) | bi.nFileSizeLow);
  info->uid = 0;
  info->type = (bi.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) ? kSymlink
               : (bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)   ? kDirectory
               : GetFileType(H(f)) != FILE_TYPE_DISK                ? kOtherType
                                                                    : kRegular;
  return 0;
}

int ReadAt(file_t f, char *buf, size_t len, int64_t offset, const char **sc) {
  OVERLAPPED ov = {};
  ov.Offset = static_cast<DWORD>(offset);
  ov.OffsetHigh = static_cast<DWORD>(static_cast<ULONGLONG>(offset) >> 32);
  DWORD n = 0;
  if (!ReadFile(H(f), buf, static_cast<DWORD>(len), &n, &ov)) {
    if (GetLastError() == ERROR_HANDLE_EOF) return 0;
    return Err("read", sc);
  }
  return static_cast<int>(n);
}

int WriteRecord(file_t f, bool replace, const char *data, size_t len, const char **sc) {
  HANDLE h = H(f);
  if (replace) {
    FILE_END_OF_FILE_INFO eof = {};
    if (!SetFileInformationByHandle(h, FileEndOfFileInfo, &eof, sizeof eof))
      return Err("ftruncate", sc);
  }
  // Offset 0xFFFFFFFF:0xFFFFFFFF writes at the end of the file, like O_APPEND
  // (WriteFile, "Considerations for working with synchronous file handles").
  OVERLAPPED ov = {};
  ov.Offset = 0xFFFFFFFF;
  ov.OffsetHigh = 0xFFFFFFFF;
  DWORD n = 0;
  if (!WriteFile(h, data, static_cast<DWORD>(len), &n, &ov)) return Err("write", sc);
  return 0;
}

int Unlink(const pathchar *path, const char **sc) {
  // Windows 10 1809+ deletes with POSIX semantics (the name goes at once, even while
  // others have the file open with FILE_SHARE_DELETE); older systems and Wine leave it
  // "delete pending" until the last handle closes, which Stat reports as nlink 0.
  return DeleteFileW(path) ? 0 : Err("unlink", sc);
}

int Close(file_t f) {
  HANDLE h = H(f);
  SetHeld(h, kNone);
  return CloseHandle(h) ? 0 : -static_cast<int>(GetLastError());
}

}  // namespace os
}  // namespace fslock
