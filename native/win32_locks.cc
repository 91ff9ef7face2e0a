// Windows path locks. Whole-file locks (path locks and flock()) are LockFileEx locks on
// one byte at kSentinel, far beyond any real data: LockFileEx locks are mandatory for
// the region they cover, so locking real bytes would make other handles' reads and
// writes fail. Descriptor locks (flock, byte ranges): win32_ranges.cc.
//
// Waiting: a blocking LockFileEx can be neither cancelled nor bounded portably —
// CancelSynchronousIo does not reach Wine's lock wait, and Wine does not implement
// overlapped lock waits at all (ntdll NtLockFile: "Async I/O lock wait not
// implemented"). So the waiter thread (never a threadpool thread) retries
// LockFileEx(LOCKFILE_FAIL_IMMEDIATELY) with a short backoff, sleeping on a per-thread
// event that os::InterruptThread sets: timeout and abort act at once, a release is
// noticed within the backoff (<= 8 ms).
#include <cstring>
#include <cwchar>
#include <mutex>
#include <unordered_map>

#include "fslock.h"
#include "win32_common.h"

namespace fslock {
namespace os {

namespace win32 {

namespace {
constexpr DWORD kMaxBackoffMs = 8;
}  // namespace

// The event of the current waiter thread (null on threads without a token).
thread_local HANDLE tInterrupt = nullptr;

DWORD LockRegion(HANDLE h, bool exclusive, ULONGLONG start, ULONGLONG len) {
  OVERLAPPED ov = {};
  ov.Offset = static_cast<DWORD>(start);
  ov.OffsetHigh = static_cast<DWORD>(start >> 32);
  DWORD flags = LOCKFILE_FAIL_IMMEDIATELY | (exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0);
  if (LockFileEx(h, flags, 0, static_cast<DWORD>(len), static_cast<DWORD>(len >> 32), &ov))
    return 0;
  DWORD e = GetLastError();
  // "Incorrect function": a filesystem without byte-range locks (WSL's \\wsl$ shares do
  // this). libuv names this code EISDIR (a read of a directory); here it means ENOTSUP.
  return e == ERROR_INVALID_FUNCTION ? ERROR_NOT_SUPPORTED : e;
}

DWORD UnlockRegion(HANDLE h, ULONGLONG start, ULONGLONG len) {
  OVERLAPPED ov = {};
  ov.Offset = static_cast<DWORD>(start);
  ov.OffsetHigh = static_cast<DWORD>(start >> 32);
  return UnlockFileEx(h, 0, static_cast<DWORD>(len), static_cast<DWORD>(len >> 32), &ov)
             ? 0
             : GetLastError();
}

int LockWithRetry(HANDLE h, bool exclusive, ULONGLONG start, ULONGLONG len, bool wait,
                  bool (*own)(HANDLE, bool, ULONGLONG, ULONGLONG), const char **sc) {
  DWORD backoff = 0;
  for (;;) {
    DWORD e = LockRegion(h, exclusive, start, len);
    if (e == 0) return 0;
    if (e != ERROR_LOCK_VIOLATION && e != ERROR_IO_PENDING) return Fail(e, "LockFileEx", sc);
    if (own && own(h, exclusive, start, len)) return Fail(kErrOwnRange, "LockFileEx", sc);
    if (!wait) return Fail(e, "LockFileEx", sc);
    if (tInterrupt) {
      if (WaitForSingleObject(tInterrupt, backoff) == WAIT_OBJECT_0)
        return Fail(ERROR_OPERATION_ABORTED, "LockFileEx", sc);
    } else {
      Sleep(backoff);
    }
    backoff = backoff ? (backoff * 2 > kMaxBackoffMs ? kMaxBackoffMs : backoff * 2) : 1;
  }
}

bool Identify(HANDLE h, FileIdentity *id) {
  FILE_ID_INFO fi;
  if (GetFileInformationByHandleEx(h, FileIdInfo, &fi, sizeof fi)) {
    std::memcpy(&id->lo, fi.FileId.Identifier, 8);
    std::memcpy(&id->hi, fi.FileId.Identifier + 8, 8);
    // The low 32 bits: what GetFileInformationByHandle and node's fs.Stats.dev report.
    id->volume = fi.VolumeSerialNumber & 0xFFFFFFFFULL;
    // "For file systems that do not support a 128-bit file ID, this field is 0": ask
    // for the 64-bit index instead.
    if (id->lo != 0 || id->hi != 0) return true;
  }
  // FAT and older SMB servers: the 64-bit index, unique on the volume while the file
  // is open (BY_HANDLE_FILE_INFORMATION).
  BY_HANDLE_FILE_INFORMATION bi;
  if (!GetFileInformationByHandle(h, &bi)) return false;
  id->volume = bi.dwVolumeSerialNumber;
  id->lo = (static_cast<ULONGLONG>(bi.nFileIndexHigh) << 32) | bi.nFileIndexLow;
  id->hi = 0;
  return true;
}

}  // namespace win32

namespace {

using win32::Err;
using win32::Fail;
using win32::H;
using win32::kSentinel;
using win32::LockRegion;
using win32::UnlockRegion;

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
    int r = win32::LockWithRetry(h, true, kSentinel, 1, false, nullptr, sc);
    if (r == 0) SetHeld(h, kUpgraded);
    return r;
  }
  if (held != kNone) WholeFile(h, kUnlock, false, sc);
  int r = win32::LockWithRetry(h, type == kExclusive, kSentinel, 1, wait, nullptr, sc);
  if (r == 0) SetHeld(h, type == kExclusive ? kHeldExclusive : kHeldShared);
  return r;
}

// Resolved once, at load: resolving them at the call would run between a failing call
// and the read of its error (GetProcAddress may change the last error: under Wine it
// cleared an ERROR_ACCESS_DENIED, reported as error 31).
using GetNtStatusFn = LONG(WINAPI *)();
using IsDosDeviceNameFn = ULONG(WINAPI *)(const wchar_t *);
HMODULE Ntdll() {
  return GetModuleHandleW(L"ntdll.dll");
}
const GetNtStatusFn kLastNtStatus = reinterpret_cast<GetNtStatusFn>(
    reinterpret_cast<void *>(GetProcAddress(Ntdll(), "RtlGetLastNtStatus")));
const IsDosDeviceNameFn kIsDosDeviceName = reinterpret_cast<IsDosDeviceNameFn>(
    reinterpret_cast<void *>(GetProcAddress(Ntdll(), "RtlIsDosDeviceName_U")));

// STATUS_DELETE_PENDING hides behind ERROR_ACCESS_DENIED; the NT status, read right
// after the failing call, tells them apart.
bool DeletePending() {
  return kLastNtStatus && static_cast<ULONG>(kLastNtStatus()) == 0xC0000056UL;
}

bool IsDriveLetter(wchar_t c) {
  return (c >= L'A' && c <= L'Z') || (c >= L'a' && c <= L'z');
}

// A directory (not a junction or a directory symlink: those are links, reported as
// such by lstat), looked up by name after an open refused it with access denied.
bool IsPlainDirectory(const wchar_t *path) {
  DWORD a = GetFileAttributesW(path);
  return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY) &&
         !(a & FILE_ATTRIBUTE_REPARSE_POINT);
}

bool Missing(const wchar_t *path) {
  if (GetFileAttributesW(path) != INVALID_FILE_ATTRIBUTES) return false;
  DWORD e = GetLastError();
  return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND;
}

HANDLE OpenHandle(const wchar_t *path, DWORD access, DWORD disposition) {
  // FILE_SHARE_DELETE: the holder that releases may remove the file while waiters
  // have it open (they notice through Stat's nlink = 0 and retry).
  // FILE_FLAG_OPEN_REPARSE_POINT: a symlink or junction at the path is opened itself,
  // never followed (CreateFileW); os::Stat reports it and nothing is locked or written.
  return CreateFileW(path, access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                     disposition, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
}

}  // namespace

// A name that opens a device instead of a file: the reserved DOS device names (CON,
// PRN, AUX, NUL, COM1-9, LPT1-9, CONIN$/CONOUT$), which Windows resolves in every
// directory and, before Windows 11, with any extension (nul.lock, AUX.txt) — the OS's
// own rule, RtlIsDosDeviceName_U —, and paths in the \\.\ or \\?\ device namespace
// other than a drive (X:\), a UNC share or a volume GUID path (\\.\pipe\x, \\.\COM1,
// \\.\PhysicalDrive0). Refused before any open: opening a serial port or a pipe has
// effects on whoever serves it, and may block.
bool win32::IsDeviceName(const wchar_t *p) {
  if (kIsDosDeviceName && kIsDosDeviceName(p) != 0) return true;
  bool ns = (p[0] == L'\\' || p[0] == L'/') && (p[1] == L'\\' || p[1] == L'/' || p[1] == L'?') &&
            (p[2] == L'.' || p[2] == L'?') && (p[3] == L'\\' || p[3] == L'/');
  if (!ns) return false;
  const wchar_t *r = p + 4;
  if (IsDriveLetter(r[0]) && r[1] == L':' && (r[2] == L'\\' || r[2] == L'/')) return false;
  if (_wcsnicmp(r, L"UNC\\", 4) == 0 || _wcsnicmp(r, L"Volume{", 7) == 0) {
    const wchar_t *s = r + 4;
    while (*s && *s != L'\\' && *s != L'/') s++;  // "UNC\server" or "Volume{guid}"
    return *s == 0;                               // the volume or server itself
  }
  return true;
}

void Init() {}

ThreadToken CurrentThreadToken() {
  // Manual reset: once interrupted, every later wait on this thread returns at once.
  win32::tInterrupt = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  return reinterpret_cast<ThreadToken>(win32::tInterrupt);
}

void ReleaseThreadToken(ThreadToken t) {
  if (win32::tInterrupt == reinterpret_cast<HANDLE>(t)) win32::tInterrupt = nullptr;
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

int OpenLockFile(const pathchar *path, int flags, int mode, file_t *out, const char **sc) {
  (void)mode;
  if (win32::IsDeviceName(path)) return Fail(win32::kErrDevice, "open", sc);
  DWORD access = (flags & kOpenReadOnly) ? GENERIC_READ : GENERIC_READ | GENERIC_WRITE;
  bool create = flags & kOpenCreateNew;
  HANDLE h = OpenHandle(path, access, create ? CREATE_NEW : OPEN_EXISTING);
  if (h == INVALID_HANDLE_VALUE) {
    DWORD e = GetLastError();
    bool pending = e == ERROR_ACCESS_DENIED && DeletePending();
    if (pending) {
      e = ERROR_DELETE_PENDING;
    } else if (e == ERROR_ACCESS_DENIED && IsPlainDirectory(path)) {
      // A directory cannot be locked: LockFileEx on a directory handle fails (Windows;
      // Wine: ERROR_INVALID_HANDLE), and containerd's nerdctl gave up on it too.
      e = win32::kErrDirectory;
    } else if (e == ERROR_FILE_EXISTS && create && Missing(path)) {
      // A name that opens as missing and creates as existing (Wine: a dangling
      // symbolic link; a retry would spin for ever). Seen twice, it is not a file that
      // someone created and removed meanwhile: a name that cannot be resolved.
      h = OpenHandle(path, access, CREATE_NEW);
      if (h == INVALID_HANDLE_VALUE) {
        e = GetLastError();
        if (e == ERROR_FILE_EXISTS && Missing(path)) e = ERROR_CANT_RESOLVE_FILENAME;
      }
    }
    if (h == INVALID_HANDLE_VALUE) return Fail(e, "open", sc);
  }
  *out = static_cast<file_t>(reinterpret_cast<intptr_t>(h));
  return 0;
}

int OpenAnonLockFile(const pathchar *, int, file_t *, const char **sc) {
  return Fail(ERROR_NOT_SUPPORTED, "tmpfile", sc);  // TypeScript never asks on Windows
}

int LinkLockFile(file_t, const pathchar *, const char **sc) {
  return Fail(ERROR_NOT_SUPPORTED, "link", sc);
}

int PathInfo(const pathchar *path, FileInfo *info, const char **sc) {
  if (win32::IsDeviceName(path)) return Fail(win32::kErrDevice, "lstat", sc);
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
  // Never called (OpenLockFile reports a directory as kErrDirectory, which TypeScript
  // passes on); the same answer if it were.
  return Fail(win32::kErrDirectory, "open", sc);
}

int ProbeLockFile(file_t f, const char **sc) {
  HANDLE h = H(f);
  // A program that has the file open without FILE_SHARE_WRITE (a scanner, a backup, an
  // indexer) keeps every locker out for as long (their open for writing fails with a
  // sharing violation): busy, as for an exclusive holder. Access denied (a read-only
  // file) says nothing about that.
  HANDLE w = ReOpenFile(h, GENERIC_READ | GENERIC_WRITE,
                        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, 0);
  if (w != INVALID_HANDLE_VALUE)
    CloseHandle(w);
  else if (GetLastError() == ERROR_SHARING_VIOLATION)
    return 2;
  // No query exists: try and undo, exclusive then shared (briefly visible: documented).
  DWORD e = LockRegion(h, true, kSentinel, 1);
  if (e == 0) {
    UnlockRegion(h, kSentinel, 1);
    return 0;
  }
  if (e != ERROR_LOCK_VIOLATION) return Fail(e, "LockFileEx", sc);
  e = LockRegion(h, false, kSentinel, 1);
  if (e == 0) {
    UnlockRegion(h, kSentinel, 1);
    return 1;
  }
  return e == ERROR_LOCK_VIOLATION ? 2 : Fail(e, "LockFileEx", sc);
}

int Stat(file_t f, FileInfo *info, const char **sc) {
  HANDLE h = H(f);
  // First, so that a device (which no other query below may answer: NUL gives
  // ERROR_INVALID_PARAMETER) is reported as what it is.
  SetLastError(NO_ERROR);
  DWORD type = GetFileType(h);
  if (type != FILE_TYPE_DISK) {
    DWORD e = type == FILE_TYPE_UNKNOWN ? GetLastError() : NO_ERROR;
    if (e != NO_ERROR) return Fail(e, "fstat", sc);  // not a type: a failed call
    *info = FileInfo();
    info->nlink = 1;
    info->type = kOtherType;
    return 0;
  }
  win32::FileIdentity id;
  if (!win32::Identify(h, &id)) return Err("fstat", sc);
  FILE_STANDARD_INFO si;
  if (!GetFileInformationByHandleEx(h, FileStandardInfo, &si, sizeof si)) return Err("fstat", sc);
  FILE_ATTRIBUTE_TAG_INFO ti;
  if (!GetFileInformationByHandleEx(h, FileAttributeTagInfo, &ti, sizeof ti))
    return Err("fstat", sc);
  info->dev = static_cast<double>(id.volume);
  info->ino = id.lo;
  info->inoHigh = id.hi;
  // A file deleted while open stays "delete pending" until its last handle closes:
  // for the protocol it is gone (POSIX: nlink 0).
  info->nlink = si.DeletePending ? 0 : static_cast<double>(si.NumberOfLinks);
  info->size = static_cast<double>(si.EndOfFile.QuadPart);
  info->uid = 0;
  info->type = (ti.FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) ? kSymlink
               : si.Directory                                     ? kDirectory
                                                                  : kRegular;
  return 0;
}

int ReadAt(file_t f, char *buf, size_t len, int64_t offset, const char **sc) {
  OVERLAPPED ov = {};
  ov.Offset = static_cast<DWORD>(offset);
  ov.OffsetHigh = static_cast<DWORD>(static_cast<ULONGLONG>(offset) >> 32);
  DWORD n = 0;
  if (!ReadFile(H(f), buf, static_cast<DWORD>(len), &n, &ov)) {
    DWORD e = GetLastError();
    return e == ERROR_HANDLE_EOF ? 0 : Fail(e, "read", sc);
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
