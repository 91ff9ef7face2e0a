// POSIX side of the waits (native/wait_pool.cc): the private descriptor a wait blocks
// through, and the error for a waiter thread the OS refused.
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fslock.h"
#include "posix_common.h"

namespace fslock {
namespace os {

int WaitDescriptor(int kind, file_t f, file_t *out, const char **sc) {
  *out = f;
#ifndef F_OFD_SETLK
  // Classic fcntl locks belong to the process, and closing any descriptor of the file
  // drops all of them (fcntl(2), "Advisory record locking"): never duplicate for those.
  if (kind == kWaitRange) return 0;
#endif
  // Path-lock descriptors are this library's own, closed only after their waits end.
  if (kind == kWaitPathLock) return 0;
  // fcntl(2) F_DUPFD_CLOEXEC: a new descriptor for the same open file description,
  // which owns flock(2) and OFD locks, so locking through it is locking through f.
  int fd = fcntl(static_cast<int>(f), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return posix::Err("fcntl", sc);
  *out = fd;
  return 1;
}

int ThreadStartFailed(int err, const char **sc) {
  *sc = "pthread_create";
  // pthread_create(3): EAGAIN "insufficient resources to create another thread" (a
  // pids cgroup limit, RLIMIT_NPROC, threads-max).
  return -(err > 0 ? err : EAGAIN);
}

}  // namespace os
}  // namespace fslock
