// Small helpers shared by the POSIX OS files.
#pragma once

#include <errno.h>
#include <unistd.h>

#include <cstddef>

namespace fslock {
namespace os {
namespace posix {

// Names the failing call and returns -errno (the contract of native/fslock.h).
inline int Err(const char* name, const char** sc) {
  *sc = name;
  return -errno;
}

// write(2) until done: short writes continue, EINTR retries.
inline int WriteAll(int fd, const void* data, size_t len, const char** sc) {
  const char* p = static_cast<const char*>(data);
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

}  // namespace posix
}  // namespace os
}  // namespace fslock
