// POSIX atomic-file calls: one fixed sequence per os::AtomicWrite, chosen by the flags
// TypeScript passes. The sequence (open O_EXCL, copy owner/mode, write, fdatasync,
// close, rename/link, fsync the directory) is what write-file-atomic does over seven
// threadpool round trips; here it is one crossing.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "fslock.h"
#include "posix_common.h"

namespace fslock {
namespace os {
namespace {

using posix::Err;
using posix::WriteAll;

// Flushes file data so the new content is durable before it becomes visible.
int SyncFile(int fd, const char **sc) {
#if defined(__APPLE__)
  // fsync(2) on macOS stops at the drive's cache; F_FULLFSYNC reaches the platter.
  // Filesystems that refuse it (some network ones) get plain fsync.
  if (fcntl(fd, F_FULLFSYNC) == 0) return 0;
  return fsync(fd) == 0 ? 0 : Err("fsync", sc);
#elif defined(__linux__)
  // fdatasync also flushes the size (fdatasync(2)): enough for a new file's content.
  return fdatasync(fd) == 0 ? 0 : Err("fdatasync", sc);
#else
  return fsync(fd) == 0 ? 0 : Err("fsync", sc);
#endif
}

// The existing target's mode, and its owner when it differs and we are allowed to set
// it (a non-root writer cannot give files away: EPERM is expected, not an error).
int CopyOwnerAndMode(int fd, const pathchar *target, const char **sc) {
  posix::StatInfo st;
  if (posix::StatOf(-1, target, &st) != 0) return errno == ENOENT ? 0 : Err("stat", sc);
  if ((st.uid != geteuid() || st.gid != getegid()) && fchown(fd, st.uid, st.gid) != 0 &&
      errno != EPERM) {
    return Err("fchown", sc);
  }
  return fchmod(fd, st.mode & 07777) == 0 ? 0 : Err("fchmod", sc);
}

int RenameNoReplace(const char *from, const char *to, const char **sc) {
#if defined(__linux__) && defined(SYS_renameat2)
  // Called through syscall(2): the glibc wrapper appeared only in 2.28 and musl lacks it.
  // RENAME_NOREPLACE = 1 (linux/fs.h). Filesystems without support answer EINVAL.
  if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1u) == 0) return 0;
  return Err("renameat2", sc);
#elif defined(__APPLE__) && defined(RENAME_EXCL)
  if (renamex_np(from, to, RENAME_EXCL) == 0) return 0;
  return Err("renamex_np", sc);
#else
  (void)from;
  (void)to;
  *sc = "rename";
  return -ENOSYS;
#endif
}

// Gives the unnamed O_TMPFILE file the name `name` (fails with EEXIST, never replaces).
// kLinkEmptyPath: linkat(fd, "", AT_EMPTY_PATH), which needs CAP_DAC_READ_SEARCH before
// Linux 6.10 (ENOENT without it) and saves a /proc path lookup; else the /proc/self/fd
// form, the documented unprivileged way (open(2), O_TMPFILE example).
int LinkTmpFile(int fd, const char *name, int flags, const char **sc) {
#ifdef AT_EMPTY_PATH
  if (flags & kLinkEmptyPath)
    return linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH) == 0 ? 0 : Err("linkat", sc);
#else
  (void)flags;
#endif
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0 ? 0 : Err("linkat", sc);
}

int Commit(const AtomicWriteArgs &a, const char **sc) {
  if (a.flags & kLink) {
    // link(2) never replaces: EEXIST if the target exists. Then drop the temp name.
    if (link(a.temp, a.target) != 0) return Err("link", sc);
    unlink(a.temp);
    return 0;
  }
  if (a.flags & kNoReplace) return RenameNoReplace(a.temp, a.target, sc);
  return rename(a.temp, a.target) == 0 ? 0 : Err("rename", sc);
}

int OpenTemp(const AtomicWriteArgs &a, const char **sc) {
  int mode = (a.flags & kChmod) ? 0600 : a.mode;
#ifdef O_TMPFILE
  if (a.flags & kTmpFile) {
    int fd = open(a.dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
    return fd >= 0 ? fd : Err("open", sc);
  }
#endif
  int fd = open(a.temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  return fd >= 0 ? fd : Err("open", sc);
}

// close(2) is where NFS, CIFS and FUSE report a deferred write error (their ->flush
// runs on every close of any descriptor of the file). An unnamed file must be checked
// before it gets a name, while it is still open: closing a duplicate runs that flush
// and reports its error (close(2), "Dealing with error returns from close()").
// TypeScript asks for it (kFlushBeforeLink) unless fdatasync ran, which reports the same
// errors, or the filesystem is a local one without a flush operation.
int FlushByClose(int fd, const char **sc) {
  int d = dup(fd);
  if (d < 0) return Err("dup", sc);
  if (close(d) != 0 && errno != EINTR) return Err("close", sc);
  return 0;
}

// Creates the temp file with the data: a named one (O_EXCL at a.temp), or an unnamed
// O_TMPFILE one linked at a.target (kLink: exclusive create) or at a.temp (to be
// renamed). On failure nothing is left. Once a name exists the content has been
// flushed and checked, so the last close cannot fail the call (its error is ignored:
// the descriptor is released in any case, close(2)).
int WriteTemp(const AtomicWriteArgs &a, const char **sc) {
  int fd = OpenTemp(a, sc);
  if (fd < 0) return fd;  // nothing created: EEXIST here means the temp name is taken
  int r = 0;
  if (a.flags & kKeepOwner) r = CopyOwnerAndMode(fd, a.target, sc);
  if (r == 0 && (a.flags & kChmod) && fchmod(fd, a.mode & 07777) != 0) r = Err("fchmod", sc);
  if (r == 0) r = WriteAll(fd, a.data, a.len, sc);
  if (r == 0 && (a.flags & kSync)) r = SyncFile(fd, sc);
  if (a.flags & kTmpFile) {
    if (r == 0 && (a.flags & kFlushBeforeLink)) r = FlushByClose(fd, sc);
    if (r == 0) r = LinkTmpFile(fd, (a.flags & kLink) ? a.target : a.temp, a.flags, sc);
    close(fd);  // an unnamed file that got no name vanishes here: nothing to clean up
    return r;
  }
  if (close(fd) != 0 && r == 0 && errno != EINTR) r = Err("close", sc);
  if (r != 0) unlink(a.temp);
  return r;
}

}  // namespace

bool IsUnsupported(int err) {
  return err == -EINVAL || err == -ENOSYS || err == -EOPNOTSUPP;
}

int SyncDir(const pathchar *dir, const char **sc) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Err("open", sc);
  int r = fsync(fd) == 0 ? 0 : Err("fsync", sc);
  close(fd);
  return r;
}

int Rename(const pathchar *from, const pathchar *to, bool noReplace, const char **sc) {
  if (noReplace) return RenameNoReplace(from, to, sc);
  return rename(from, to) == 0 ? 0 : Err("rename", sc);
}

int AtomicWrite(const AtomicWriteArgs &a, const char **sc) {
  if (!(a.flags & kCommitOnly)) {
#ifndef O_TMPFILE
    if (a.flags & kTmpFile) {
      *sc = "open";
      return -EOPNOTSUPP;
    }
#endif
    int r = WriteTemp(a, sc);
    if (r != 0 || (a.flags & kWriteOnly)) return r;
    if ((a.flags & (kTmpFile | kLink)) == (kTmpFile | kLink)) {
      // Linked at the target already. Best effort, as after a commit (below).
      const char *ignored = nullptr;
      if (a.flags & kSyncDir) SyncDir(a.dir, &ignored);
      return 0;
    }
  }
  int r = Commit(a, sc);
  if (r != 0) {
    // With kCommitOnly the temp file is the caller's (it may try another name).
    if (!(a.flags & kCommitOnly)) unlink(a.temp);
    return r;
  }
  // The new name is visible; a failing directory fsync cannot undo it, and reporting
  // an error would tell the caller the old content is still there. Best effort.
  if (a.flags & kSyncDir) {
    const char *ignored = nullptr;
    SyncDir(a.dir, &ignored);
  }
  return 0;
}

}  // namespace os
}  // namespace fslock
