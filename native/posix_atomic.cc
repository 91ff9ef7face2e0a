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

#if defined(__linux__)
#include <sys/xattr.h>
#elif defined(__APPLE__) && __has_include(<sys/xattr.h>) && __has_include(<sys/acl.h>)
#include <sys/acl.h>
#include <sys/xattr.h>
#elif defined(__APPLE__)
// The macOS headers zig bundles (scripts/build-zig.js, which builds the darwin
// prebuilds) lack these two; the calls are libSystem's, as xattr(2) and acl(3) declare
// them (and the constants' values in the SDK's sys/xattr.h and sys/acl.h).
#include <sys/types.h>
extern "C" {
ssize_t listxattr(const char *path, char *namebuf, size_t size, int options);
ssize_t getxattr(const char *path, const char *name, void *value, size_t size, u_int32_t position,
                 int options);
int fsetxattr(int fd, const char *name, const void *value, size_t size, u_int32_t position,
              int options);
typedef struct _acl *acl_t;
typedef enum { ACL_TYPE_EXTENDED = 0x00000100 } acl_type_t;
acl_t acl_get_link_np(const char *path, acl_type_t type);
int acl_set_fd_np(int fd, acl_t acl, acl_type_t type);
int acl_free(void *obj);
}
#define XATTR_NOFOLLOW 0x0001
#endif

#include <cstring>
#include <vector>

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

// ---- the old file's metadata ----------------------------------------------------------

#if defined(__linux__) || defined(__APPLE__)
// The xattr calls on a path that is never followed (the target was lstat'ed: not a link).
ssize_t ListAttrs(const char *path, char *buf, size_t size) {
#ifdef __APPLE__
  return listxattr(path, buf, size, XATTR_NOFOLLOW);
#else
  return llistxattr(path, buf, size);
#endif
}
ssize_t GetAttr(const char *path, const char *name, void *buf, size_t size) {
#ifdef __APPLE__
  return getxattr(path, name, buf, size, 0, XATTR_NOFOLLOW);
#else
  return lgetxattr(path, name, buf, size);
#endif
}
int SetAttr(int fd, const char *name, const void *value, size_t size) {
#ifdef __APPLE__
  return fsetxattr(fd, name, value, size, 0, 0);
#else
  return fsetxattr(fd, name, value, size, 0);
#endif
}

// Whether TypeScript's list (AtomicWriteArgs::attrs) says to copy `name`.
bool Listed(const char *attrs, const char *name) {
  bool copy = false;
  for (const char *e = attrs; *e; e += strlen(e) + 1) {
    if (e[0] == '-' && strcmp(e + 1, name) == 0) return false;
    if (e[0] == '+' && strncmp(e + 1, name, strlen(e + 1)) == 0) copy = true;
  }
  return copy;
}

// The names of `path`'s extended attributes into `names` (empty when it has none, or
// where the filesystem has none at all). A small buffer first: most files have none.
void AttrNames(const char *path, std::vector<char> *names) {
  char small[512];
  ssize_t n = ListAttrs(path, small, sizeof small);
  if (n > 0) names->assign(small, small + n);
  for (int tries = 0; n < 0 && errno == ERANGE && tries < 4; tries++) {
    ssize_t need = ListAttrs(path, nullptr, 0);
    if (need <= 0) return;
    names->resize(static_cast<size_t>(need));
    n = ListAttrs(path, names->data(), names->size());
    if (n >= 0) names->resize(static_cast<size_t>(n));
  }
  if (n <= 0) names->clear();
}

// Copies the listed attributes of `target` onto `fd`. `hadAcl`: the target has a POSIX
// access ACL (Linux); `aclSet`: it was set on `fd`.
void CopyAttrs(int fd, const char *target, const char *attrs, bool *hadAcl, bool *aclSet) {
  std::vector<char> names;
  AttrNames(target, &names);
  std::vector<char> value(256);
  for (size_t i = 0; i < names.size(); i += strlen(&names[i]) + 1) {
    const char *name = &names[i];
    if (!Listed(attrs, name)) continue;
    const bool acl = strcmp(name, "system.posix_acl_access") == 0;
    if (acl) *hadAcl = true;
    ssize_t n = GetAttr(target, name, value.data(), value.size());
    for (int tries = 0; n < 0 && errno == ERANGE && tries < 4; tries++) {
      ssize_t need = GetAttr(target, name, nullptr, 0);
      if (need <= 0) break;
      value.resize(static_cast<size_t>(need));
      n = GetAttr(target, name, value.data(), value.size());
    }
    // Not readable (gone meanwhile, a namespace this process may list but not read) or
    // not settable here (EPERM for trusted.* and security.* without privilege, ENOTSUP,
    // ENOSPC in the inode's attribute space): the file is written without it.
    if (n >= 0 && SetAttr(fd, name, value.data(), static_cast<size_t>(n)) == 0 && acl)
      *aclSet = true;
  }
#ifdef __APPLE__
  // macOS keeps extended ACLs apart from the xattrs, and apart from the mode bits.
  acl_t a = acl_get_link_np(target, ACL_TYPE_EXTENDED);
  if (a) {
    acl_set_fd_np(fd, a, ACL_TYPE_EXTENDED);
    acl_free(a);
  }
#endif
}
#else
void CopyAttrs(int, const char *, const char *, bool *, bool *) {}
#endif

// What the write needs to know of the target before creating anything: 1 when it
// exists (with `st` filled), 0 when it does not, kSymlinkResult for a symlink under
// kNoSymlink, kNotRegularResult for a device, FIFO or socket under kRegularOnly, or a
// negative error.
int Inspect(const char *target, int flags, posix::StatInfo *st, const char **sc) {
  if (!(flags & (kKeepOwner | kKeepAttrs | kNoSymlink | kRegularOnly))) return 0;
  if (posix::StatOf(-1, target, st, true) != 0) return errno == ENOENT ? 0 : Err("lstat", sc);
  if (S_ISLNK(st->mode)) return (flags & kNoSymlink) ? kSymlinkResult : 0;  // nothing to copy
  const bool special =
      S_ISFIFO(st->mode) || S_ISCHR(st->mode) || S_ISBLK(st->mode) || S_ISSOCK(st->mode);
  if (special && (flags & kRegularOnly)) return kNotRegularResult;
  return 1;
}

#ifdef __linux__
// The mode's rwx bits as a POSIX access ACL of its three base entries (the kernel's
// xattr format, little-endian: version 2, then tag, perm, id per entry). Setting it is
// chmod(2) and the removal of any extended ACL in one call: the kernel stores no ACL
// equal to a mode (posix_acl_update_mode). 0, or -1 with errno (EOPNOTSUPP where the
// filesystem has no ACLs).
int SetModeAcl(int fd, unsigned mode) {
  unsigned char x[4 + 3 * 8] = {2, 0, 0, 0};
  const unsigned tags[3] = {0x01, 0x04, 0x20};  // ACL_USER_OBJ, ACL_GROUP_OBJ, ACL_OTHER
  for (int i = 0; i < 3; i++) {
    unsigned char *e = x + 4 + 8 * i;
    e[0] = static_cast<unsigned char>(tags[i]);
    e[2] = static_cast<unsigned char>((mode >> (6 - 3 * i)) & 7);
    e[4] = e[5] = e[6] = e[7] = 0xff;  // ACL_UNDEFINED_ID
  }
  return fsetxattr(fd, "system.posix_acl_access", x, sizeof x, 0);
}
#endif

// os::CopyMeta once the target is inspected (`exists`: Inspect returned 1).
int CopyInspected(int fd, const char *target, bool exists, const posix::StatInfo &st, int mode,
                  int flags, const char *attrs, const char **sc) {
  if (!exists) {
    // A new file keeps what its directory gives it (a default ACL), an exact mode aside.
    if ((flags & kChmod) && fchmod(fd, mode & 07777) != 0) return Err("fchmod", sc);
    return 0;
  }
  // A non-root writer cannot give files away: EPERM is expected, not an error. On local
  // filesystems (kChownAlways) one fchown costs less than asking who we are first.
  if ((flags & kKeepOwner) &&
      ((flags & kChownAlways) || st.uid != geteuid() || st.gid != getegid()) &&
      fchown(fd, st.uid, st.gid) != 0 && errno != EPERM) {
    return Err("fchown", sc);
  }
  bool hadAcl = false, aclSet = false;
  if ((flags & kKeepAttrs) && attrs) CopyAttrs(fd, target, attrs, &hadAcl, &aclSet);
  if (!(flags & (kKeepOwner | kChmod))) return 0;
  unsigned m = (flags & kChmod) ? mode & 07777 : st.mode & 07777;
  // With an ACL the group bits are its mask; without the ACL they would become a real
  // group right, wider than the group had.
  if (!(flags & kChmod) && hadAcl && !aclSet) m &= ~070u;
  // The old ACL, set, made the rwx bits the old ones already.
  if (aclSet && !(flags & kChmod) && !(m & 07000)) return 0;
#ifdef __linux__
  // No ACL of the old file's: the new one must not keep one it inherited from its
  // directory's default ACL (the old file had none). The mode and that in one call.
  if ((flags & kKeepAttrs) && !aclSet && !(m & 07000) && SetModeAcl(fd, m) == 0) return 0;
#endif
  return fchmod(fd, m) == 0 ? 0 : Err("fchmod", sc);
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
  posix::StatInfo st;
  int exists = Inspect(a.target, a.flags, &st, sc);
  if (exists < 0) return exists;  // a symlink to resolve, or the target cannot be inspected
  int fd = OpenTemp(a, sc);
  if (fd < 0) return fd;  // nothing created: EEXIST here means the temp name is taken
  int r = CopyInspected(fd, a.target, exists == 1, st, a.mode, a.flags, a.attrs, sc);
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

int CopyMeta(file_t fd, const pathchar *target, int mode, int flags, const char *attrs,
             const char **sc) {
  posix::StatInfo st;
  int exists = Inspect(target, flags, &st, sc);
  if (exists < 0) return exists;
  return CopyInspected(static_cast<int>(fd), target, exists == 1, st, mode, flags, attrs, sc);
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
