// Small helpers shared by the Windows OS files.
#pragma once

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <cstdint>

namespace fslock {
namespace os {
namespace win32 {

// fslock's own results, named by lib/native/win32-errors.ts. Win32 reserves bit 29 of
// an error code for applications (winerror.h, "Customer code flag"), so none of these
// can ever be taken for an OS error, or an OS error for one of them.
constexpr DWORD kErrDirectory = 0x20000001;  // a directory: LockFileEx locks files only
constexpr DWORD kErrDevice = 0x20000002;     // a device name (NUL, COM1, AUX.txt, \\.\pipe\x)
constexpr DWORD kErrOwnRange = 0x20000003;   // overlaps a lock this handle holds

// A name that opens a device instead of a file (CON, NUL, COM1, AUX.txt before Windows
// 11, \\.\pipe\x): such a path is never opened, locked or replaced (win32_locks.cc).
bool IsDeviceName(const wchar_t *path);

// Names the failing call and returns -e (the contract of native/fslock.h). `e` is the
// GetLastError() read right after the failing call, before any other call can change
// it (GetProcAddress, GetFileAttributesW and CloseHandle all may).
inline int Fail(DWORD e, const char *name, const char **sc) {
  *sc = name;
  return -static_cast<int>(e ? e : ERROR_GEN_FAILURE);
}

// Fail(GetLastError()): only directly after the failing call.
inline int Err(const char *name, const char **sc) {
  return Fail(GetLastError(), name, sc);
}

inline HANDLE H(int64_t f) {
  return reinterpret_cast<HANDLE>(static_cast<intptr_t>(f));
}

// LockFileEx / UnlockFileEx on [start, start + len), never waiting in the kernel: waits
// are retries (win32_locks.cc, top). Both return 0 or the GetLastError() of the call.
DWORD LockRegion(HANDLE h, bool exclusive, ULONGLONG start, ULONGLONG len);
DWORD UnlockRegion(HANDLE h, ULONGLONG start, ULONGLONG len);

// One attempt, or (wait) attempts until granted, failed otherwise, or interrupted
// (ERROR_OPERATION_ABORTED). `own` (may be null) is asked after each refusal whether
// the conflicting lock is this handle's own, which no wait can end: then kErrOwnRange.
int LockWithRetry(HANDLE h, bool exclusive, ULONGLONG start, ULONGLONG len, bool wait,
                  bool (*own)(HANDLE, bool, ULONGLONG, ULONGLONG), const char **sc);

// A file's identity: volume serial and file id, 128 bits where the filesystem has them
// (ReFS, Dev Drive: its 64-bit index is not unique there), else the 64-bit index in
// `lo`. False (GetLastError() set) where neither query works.
struct FileIdentity {
  ULONGLONG volume = 0, lo = 0, hi = 0;
};
bool Identify(HANDLE h, FileIdentity *id);

// The whole-file lock region of path locks and flock(): one byte at 2^62, far beyond
// any real data (LockFileEx locks are mandatory for the bytes they cover).
constexpr ULONGLONG kSentinel = 1ULL << 62;

}  // namespace win32
}  // namespace os
}  // namespace fslock
