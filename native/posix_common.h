// Small helpers shared by the POSIX OS files.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/sysmacros.h>
#endif
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace fslock {
namespace os {
namespace posix {

// Names the failing call and returns -errno (the contract of native/fslock.h).
inline int Err(const char *name, const char **sc) {
  *sc = name;
  return -errno;
}

// write(2) until done: short writes continue, EINTR retries.
inline int WriteAll(int fd, const void *data, size_t len, const char **sc) {
  const char *p = static_cast<const char *>(data);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Err("write", sc);
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

// What the OS files need of stat(2). Linux uses statx (glibc 2.28): glibc 2.33 turned
// stat/fstat into new versioned symbols that older systems lack.
struct StatInfo {
  unsigned mode = 0, uid = 0, gid = 0;
  double dev = 0, nlink = 0, size = 0;
  uint64_t ino = 0;
};

// fd >= 0: that descriptor; else `path` (a final symlink itself with `nofollow`).
// Returns 0 or -1 with errno set.
inline int StatOf(int fd, const char *path, StatInfo *out, bool nofollow = false) {
#if defined(__linux__) && defined(STATX_BASIC_STATS)
  struct statx sx;
  int r = fd >= 0 ? statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx)
                  : statx(AT_FDCWD, path ? path : "", nofollow ? AT_SYMLINK_NOFOLLOW : 0,
                          STATX_BASIC_STATS, &sx);
  if (r != 0) return -1;
  out->mode = sx.stx_mode;
  out->uid = sx.stx_uid;
  out->gid = sx.stx_gid;
  out->dev = static_cast<double>(makedev(sx.stx_dev_major, sx.stx_dev_minor));  // as st_dev
  out->ino = sx.stx_ino;
  out->nlink = sx.stx_nlink;
  out->size = static_cast<double>(sx.stx_size);
#else
  struct stat st;
  if ((fd >= 0 ? fstat(fd, &st) : nofollow ? lstat(path, &st) : stat(path, &st)) != 0) return -1;
  out->mode = st.st_mode;
  out->uid = st.st_uid;
  out->gid = st.st_gid;
  out->dev = static_cast<double>(st.st_dev);
  out->ino = static_cast<uint64_t>(st.st_ino);
  out->nlink = static_cast<double>(st.st_nlink);
  out->size = static_cast<double>(st.st_size);
#endif
  return 0;
}

}  // namespace posix
}  // namespace os
}  // namespace fslock
