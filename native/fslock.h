// The contract between the Node-API glue (binding.cc, glue_*.cc, waiter.cc) and the
// per-OS files (posix_*.cc, win32_*.cc). The OS files make system calls and nothing
// else: every function returns >= 0 on success or a negative OS error (-errno on
// POSIX, -GetLastError() on Windows) and names the failing call in *sc. TypeScript
// turns that pair into a Node-style error and makes every decision (retries,
// strategy, argument checks); native code trusts its caller.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fslock {

#ifdef _WIN32
using pathchar = wchar_t;  // paths reach Windows as UTF-16
#else
using pathchar = char;  // and POSIX as UTF-8
#endif

// A descriptor this library opened itself: an fd on POSIX, a HANDLE value on Windows.
using file_t = int64_t;

// kExclusiveRead: a path lock through a read-only descriptor (POSIX): flock(2) exclusive
// and an OFD read lock, since an OFD write lock needs a descriptor open for writing.
enum LockType : int { kUnlock = 0, kShared = 1, kExclusive = 2, kExclusiveRead = 3 };

// Kinds of lock a waiter thread can block on.
enum WaitKind : int {
  kWaitPathLock = 0,  // os::LockFile on a file_t from os::OpenLockFile
  kWaitFlock = 1,     // os::Flock on a user fd
  kWaitRange = 2,     // os::LockRange on a user fd
};

// What a path lock needs to know of a file it opened (never following a final link).
enum FileType : int { kRegular = 0, kDirectory = 1, kSymlink = 2, kOtherType = 3 };
struct FileInfo {
  double dev = 0;
  // With dev, the file's identity (a 64-bit NTFS file index does not fit a double).
  uint64_t ino = 0;
  // Windows: the high half of a 128-bit file id (ReFS, Dev Drive, where the 64-bit
  // index in `ino` is not unique); 0 elsewhere. Part of the identity (SameFile).
  uint64_t inoHigh = 0;
  double nlink = 0;
  double size = 0;
  double uid = 0;  // POSIX owner (for EACCES messages); 0 on Windows
  int type = kRegular;
};

// The same file: device (Windows: volume serial) and file id.
inline bool SameFile(const FileInfo &a, const FileInfo &b) {
  return a.dev == b.dev && a.ino == b.ino && a.inoHigh == b.inoHigh;
}

// What a wait reports when os::InterruptThread stopped it (not an OS error code).
constexpr int kInterruptedResult = -1000000;
// What os::OpenLockFile reports for a FIFO, socket or device at the path, which it does
// not open (not an OS error code): opening one has effects (a FIFO's blocked peer).
constexpr int kNotOpened = -1000001;

// Opaque identity of a thread that os::InterruptThread can wake from a blocking call.
using ThreadToken = uintptr_t;

namespace os {

// ---- process setup ----------------------------------------------------------
// Installs whatever os::InterruptThread needs (a signal handler on POSIX). Idempotent.
void Init();

// ---- interruptible blocking waits ---------------------------------------------
// Called on the waiting thread before it blocks; the token stays valid until
// os::ReleaseThreadToken, which the waiting thread calls after it has stopped blocking.
ThreadToken CurrentThreadToken();
void ReleaseThreadToken(ThreadToken t);
// Makes a blocking lock call on that thread return early with an "interrupted" error
// (os::IsInterrupted). May be called more than once; harmless after the call returned.
void InterruptThread(ThreadToken t);
bool IsInterrupted(int err);  // EINTR / ERROR_OPERATION_ABORTED
// The descriptor a wait of `kind` on `f` blocks through (posix_wait.cc, win32_wait.cc):
// a private duplicate where it locks exactly what `f` locks (same open file
// description: flock and OFD locks), so that the wait and the undo of a lock granted
// to an environment that is gone never touch a descriptor number the caller may have
// closed and reused; `f` itself otherwise. Returns 1 (duplicate: os::Close it after),
// 0 (`f` itself) or a negative error.
int WaitDescriptor(int kind, file_t f, file_t *out, const char **sc);
// The negative error for a thread that could not be started (std::system_error's
// value, 0 if unknown): -EAGAIN "pthread_create" on POSIX.
int ThreadStartFailed(int err, const char **sc);
bool IsWouldBlock(int err);  // EAGAIN/EWOULDBLOCK/EACCES (fcntl) / ERROR_LOCK_VIOLATION
// The negative error for a path longer than the glue's buffer (-ENAMETOOLONG).
int NameTooLong();
// The negative error of opening a missing file in an existing directory (-ENOENT).
int NotFound();

// ---- descriptor locks on user fds (POSIX fds; CRT fds on Windows) -------------
int Flock(int64_t fd, int type, bool wait, const char **sc);
int LockRange(int64_t fd, int type, int64_t start, int64_t len, bool wait, const char **sc);
// Stat of a user fd (as Stat; on Windows the CRT fd is mapped to its handle first).
int StatUserFd(int64_t fd, FileInfo *info, const char **sc);

// ---- path locks on files this library opened ----------------------------------
enum OpenFlags : int { kOpenCreateNew = 1, kOpenReadOnly = 2 };
// Opens an existing lock file, or creates a new one with kOpenCreateNew (fails with
// EEXIST if the name exists; permission bits exactly `mode`, umask not applied), for
// reading and appending (O_APPEND / FILE_APPEND_DATA) or only for reading
// (kOpenReadOnly). Never follows a final symlink (the link itself is opened or the
// open fails), never blocks (FIFOs, leases), close-on-exec, deletable while open.
// POSIX: an existing name that is a FIFO, socket or device is not opened (kNotOpened).
// The caller checks with os::Stat what it opened before writing anything.
int OpenLockFile(const pathchar *path, int flags, int mode, file_t *out, const char **sc);
// Linux: a new unnamed lock file (O_TMPFILE) in `dir` with exactly `mode`, to be locked
// and filled before os::LinkLockFile gives it its name: it appears whole and locked.
// Elsewhere, or where the filesystem cannot, an error (syscall name "tmpfile").
int OpenAnonLockFile(const pathchar *dir, int mode, file_t *out, const char **sc);
// Names an os::OpenAnonLockFile file `path` (EEXIST if the name exists; never replaces).
int LinkLockFile(file_t f, const pathchar *path, const char **sc);
// Information about the name itself (lstat: a final symlink is not followed).
int PathInfo(const pathchar *path, FileInfo *info, const char **sc);
// Cuts the file to `len` bytes (retracting the records after the header).
int Truncate(file_t f, int64_t len, const char **sc);
// Whole-file lock used by path locks: flock(2) and an OFD lock together on Linux (both
// kinds other programs take), flock(2) on other POSIX systems, LockFileEx on Windows. A
// failed attempt holds nothing; kUnlock drops it all.
int LockFile(file_t f, int type, bool wait, const char **sc);
// Converts a held path lock without waiting (shared <-> exclusive), to learn whether
// this holder is the only fslock holder: on Linux the OFD lock alone (atomic; every
// fslock holder has one), elsewhere as LockFile.
int ConvertLock(file_t f, int type, const char **sc);
// Opens a directory to be locked itself (POSIX: read-only, O_DIRECTORY, no final
// symlink), as flock(1) does; Windows: an error (directories cannot be locked there).
int OpenLockDir(const pathchar *path, file_t *out, const char **sc);
// 0 = no lock conflicts with an exclusive request, 1 = shared holders, 2 = exclusive.
int ProbeLockFile(file_t f, const char **sc);
int Stat(file_t f, FileInfo *info, const char **sc);
int ReadAt(file_t f, char *buf, size_t len, int64_t offset, const char **sc);
// Replaces the whole content (truncate + append) or appends, without seeking.
int WriteRecord(file_t f, bool replace, const char *data, size_t len, const char **sc);
int Unlink(const pathchar *path, const char **sc);
int Close(file_t f);

// ---- atomic files ------------------------------------------------------------------
// Flags of os::AtomicWrite (mirrored in lib/native/binding.ts). TypeScript picks them; the OS
// file runs the fixed sequence they describe and removes the temp file on any failure.
enum AtomicFlags : int {
  kSync = 1,                // flush the temp file's data before it becomes visible
  kSyncDir = 2,             // flush the directory after the rename/link
  kKeepOwner = 4,           // copy the existing target's mode (and owner, when permitted)
  kChmod = 8,               // set exactly `mode` on the temp file (umask not applied)
  kNoReplace = 16,          // commit with a no-replace rename (EEXIST if target exists)
  kLink = 32,               // commit with link(temp, target) + unlink(temp) (no-replace)
  kTmpFile = 64,            // the temp file is an unnamed O_TMPFILE one (Linux), linked at the
                            // target with kLink (no-replace), else at temp for the commit
  kWriteOnly = 128,         // stop after the temp file is written and closed
  kCommitOnly = 256,        // the temp file exists already: only commit (and sync the dir)
  kLinkEmptyPath = 512,     // name the O_TMPFILE file with linkat(AT_EMPTY_PATH), not /proc
  kFlushBeforeLink = 1024,  // check the O_TMPFILE file's close-time errors before naming it
  kNoSymlink = 2048,        // a target that is a symlink is reported (kSymlinkResult), not
                            // replaced: TypeScript resolves it and writes to the file it names
  kKeepAttrs = 4096,        // copy the existing target's extended attributes (os::CopyMeta)
  kRegularOnly = 8192,      // an existing target that is a device, FIFO or socket (Windows: a
                            // DOS device name, COM1, AUX.txt) is reported (kNotRegularResult)
  kChownAlways = 16384,     // kKeepOwner without asking geteuid/getegid first (a local
                            // filesystem, where an fchown to the same owner is no round trip)
};
// What os::AtomicWrite and os::CopyMeta return for a target that is a symlink under
// kNoSymlink, or not a regular file under kRegularOnly (not OS errors: nothing was
// created).
constexpr int kSymlinkResult = -1000001;
constexpr int kNotRegularResult = -1000002;
struct AtomicWriteArgs {
  const pathchar *target;
  const pathchar *temp;  // unused with kTmpFile | kLink
  const pathchar *dir;   // the target's directory (kSyncDir, kTmpFile)
  const uint8_t *data;
  size_t len;
  int mode;  // creation mode (umask applies) or exact mode with kChmod
  int flags;
  // kKeepAttrs: which extended attributes to copy, chosen by TypeScript: a list of
  // NUL-terminated entries ended by an empty one; "+prefix" copies the names that start
  // with prefix, "-name" excepts that exact name (it wins over any "+").
  const char *attrs = nullptr;
};
// Writes data to a new temp file (O_EXCL: EEXIST from the "open" call means the temp
// name is taken) and commits it over or at the target. Returns 0 or a negative error.
int AtomicWrite(const AtomicWriteArgs &a, const char **sc);
// The existing target's metadata onto the new file `fd` (also the node:fs sequence's
// descriptor): with kKeepOwner its owner (where permitted: EPERM is not an error) and,
// unless kChmod, its mode; with kKeepAttrs its extended attributes as `attrs` lists
// (failures to set one are not errors: the file is written without it); with kChmod
// `mode` exactly, last. Nothing is copied from a target that does not exist, nor from
// a symlink (kNoSymlink: kSymlinkResult instead). POSIX ACLs are the xattr
// system.posix_acl_access on Linux: copied, the new file's mode group bits become its
// mask as before; when it cannot be set, the group bits (the old ACL's mask, not a
// group's right) are cleared so that nothing is widened; an ACL the new file inherited
// from its directory's default ACL, where the old file had none, is removed (the mode
// is then set as a base ACL: one call). A new file keeps what it inherited. macOS:
// its extended ACL (acl_get_link_np/acl_set_fd_np) besides the xattrs. Windows: 0.
int CopyMeta(file_t fd, const pathchar *target, int mode, int flags, const char *attrs,
             const char **sc);
// rename(2), or a no-replace rename (renameat2 RENAME_NOREPLACE / MoveFileExW without
// REPLACE_EXISTING). A filesystem without no-replace support fails with -EINVAL/-ENOSYS
// (os::IsUnsupported) and TypeScript chooses another way.
int Rename(const pathchar *from, const pathchar *to, bool noReplace, const char **sc);
bool IsUnsupported(int err);
// Flushes a directory's entries (open + fsync + close); 0 where the OS has no such call.
int SyncDir(const pathchar *dir, const char **sc);

}  // namespace os
}  // namespace fslock
