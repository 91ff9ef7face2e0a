// Windows atomic-file calls: the same fixed sequence as posix_atomic.cc on Win32 calls.
// The temp file is created with CREATE_NEW (ERROR_FILE_EXISTS when its name is taken),
// written, flushed with FlushFileBuffers on the writable handle, and then renamed while
// still open: first with POSIX semantics (SetFileInformationByHandle FileRenameInfoEx,
// FILE_RENAME_FLAG_POSIX_SEMANTICS | REPLACE_IF_EXISTS: Windows 10 1809+, NTFS),
// which replaces a target that readers hold open; else with MoveFileExW
// (MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH). Sharing violations from
// scanners and readers are retried by TypeScript (lib/atomic/atomic.ts), not here.
#include <cstring>
#include <cwchar>
#include <vector>

#include "fslock.h"
#include "win32_common.h"

namespace fslock {
namespace os {
namespace {

// FILE_INFO_BY_HANDLE_CLASS FileRenameInfoEx and its flags (winbase.h, Windows 10
// 1709+ SDKs; older mingw-w64 headers lack them).
constexpr int kFileRenameInfoEx = 22;
constexpr DWORD kRenameReplaceIfExists = 0x1;
constexpr DWORD kRenamePosixSemantics = 0x2;

struct RenameInfoEx {
  DWORD Flags;
  HANDLE RootDirectory;
  DWORD FileNameLength;
  WCHAR FileName[1];
};

using win32::Err;

bool Unsupported(DWORD e) {
  return e == ERROR_INVALID_PARAMETER || e == ERROR_NOT_SUPPORTED || e == ERROR_INVALID_FUNCTION ||
         e == ERROR_CALL_NOT_IMPLEMENTED;
}

// POSIX-semantics replace through the open temp handle (needs DELETE access).
// Returns TRUE on success; FALSE with GetLastError() set otherwise.
BOOL PosixRename(HANDLE h, const wchar_t *to) {
  size_t chars = wcslen(to);
  std::vector<char> buf(sizeof(RenameInfoEx) + chars * sizeof(WCHAR));
  auto *info = reinterpret_cast<RenameInfoEx *>(buf.data());
  info->Flags = kRenameReplaceIfExists | kRenamePosixSemantics;
  info->RootDirectory = nullptr;
  info->FileNameLength = static_cast<DWORD>(chars * sizeof(WCHAR));
  std::memcpy(info->FileName, to, chars * sizeof(WCHAR));
  return SetFileInformationByHandle(h, static_cast<FILE_INFO_BY_HANDLE_CLASS>(kFileRenameInfoEx),
                                    info, static_cast<DWORD>(buf.size()));
}

int WriteAll(HANDLE h, const uint8_t *data, size_t len, const char **sc) {
  while (len > 0) {
    DWORD chunk = len > 0x40000000 ? 0x40000000 : static_cast<DWORD>(len);
    DWORD n = 0;
    if (!WriteFile(h, data, chunk, &n, nullptr)) return Err("write", sc);
    data += n;
    len -= n;
  }
  return 0;
}

// After the temp file is closed: link, no-replace move, or MoveFileExW replace.
int Commit(const AtomicWriteArgs &a, const char **sc) {
  if (a.flags & kLink) {
    // CreateHardLinkW never replaces: ERROR_ALREADY_EXISTS if the target exists.
    // "Incorrect function" (FAT, exFAT: no hard links) is named EISDIR by libuv's table:
    // here it means ENOTSUP, which makes TypeScript commit with a no-replace rename.
    if (!CreateHardLinkW(a.target, a.temp, nullptr)) {
      DWORD e = GetLastError();
      return win32::Fail(e == ERROR_INVALID_FUNCTION ? ERROR_NOT_SUPPORTED : e, "link", sc);
    }
    DeleteFileW(a.temp);
    return 0;
  }
  DWORD flags = MOVEFILE_WRITE_THROUGH | ((a.flags & kNoReplace) ? 0 : MOVEFILE_REPLACE_EXISTING);
  return MoveFileExW(a.temp, a.target, flags) ? 0 : Err("rename", sc);
}

// kNoSymlink: whether the target is a symbolic link (a reparse point tagged
// IO_REPARSE_TAG_SYMLINK; other reparse points, such as cloud-file placeholders and
// deduplicated files, are files to replace like any other).
bool IsSymlink(const wchar_t *path) {
  DWORD attrs = GetFileAttributesW(path);
  if (attrs == INVALID_FILE_ATTRIBUTES || !(attrs & FILE_ATTRIBUTE_REPARSE_POINT)) return false;
  WIN32_FIND_DATAW fd;
  HANDLE h = FindFirstFileW(path, &fd);
  if (h == INVALID_HANDLE_VALUE) return false;
  FindClose(h);
  return fd.dwReserved0 == IO_REPARSE_TAG_SYMLINK;
}

}  // namespace

bool IsUnsupported(int err) {
  return err < 0 && Unsupported(static_cast<DWORD>(-err));
}

int SyncDir(const pathchar *, const char **) {
  return 0;
}  // NTFS journals renames itself

int CopyMeta(file_t, const pathchar *, int, int, const char *, const char **) {
  return 0;  // the node:fs sequence on Windows copies nothing more (see AtomicWrite)
}

int Rename(const pathchar *from, const pathchar *to, bool noReplace, const char **sc) {
  DWORD flags = MOVEFILE_WRITE_THROUGH | (noReplace ? 0 : MOVEFILE_REPLACE_EXISTING);
  return MoveFileExW(from, to, flags) ? 0 : Err("rename", sc);
}

int AtomicWrite(const AtomicWriteArgs &a, const char **sc) {
  if (a.flags & kTmpFile) {
    *sc = "open";
    return -static_cast<int>(ERROR_NOT_SUPPORTED);
  }
  if (!(a.flags & kCommitOnly)) {
    if ((a.flags & kRegularOnly) && win32::IsDeviceName(a.target)) return kNotRegularResult;
    if ((a.flags & kNoSymlink) && IsSymlink(a.target)) return kSymlinkResult;
  }
  HANDLE h = INVALID_HANDLE_VALUE;
  int r = 0;
  if (!(a.flags & kCommitOnly)) {
    // Readers may open the temp file meanwhile only if they allow it to be renamed.
    h = CreateFileW(a.temp, GENERIC_WRITE | DELETE, FILE_SHARE_READ | FILE_SHARE_DELETE, nullptr,
                    CREATE_NEW, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) return Err("open", sc);
    r = WriteAll(h, a.data, a.len, sc);
    if (r == 0 && (a.flags & kSync) && !FlushFileBuffers(h)) r = Err("fsync", sc);
    if (r != 0 || (a.flags & kWriteOnly)) {
      CloseHandle(h);
      if (r != 0) DeleteFileW(a.temp);
      return r;
    }
  }
  if (h != INVALID_HANDLE_VALUE && !(a.flags & (kLink | kNoReplace))) {
    // POSIX-semantics replace while the handle is open; where the OS or filesystem
    // lacks it, the classic MoveFileExW below.
    if (PosixRename(h, a.target)) {
      CloseHandle(h);
      return 0;
    }
    DWORD e = GetLastError();
    if (!Unsupported(e)) {
      CloseHandle(h);
      DeleteFileW(a.temp);
      SetLastError(e);
      return Err("rename", sc);
    }
  }
  if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
  r = Commit(a, sc);
  if (r != 0 && !(a.flags & kCommitOnly)) DeleteFileW(a.temp);
  return r;
}

}  // namespace os
}  // namespace fslock
