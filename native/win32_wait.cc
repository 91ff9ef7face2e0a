// Windows side of the waits (native/wait_pool.cc). LockFileEx locks belong to the
// handle that took them, so a wait always locks through the caller's own handle.
#include "fslock.h"
#include "win32_common.h"

namespace fslock {
namespace os {

int WaitDescriptor(int, file_t f, file_t *out, const char **) {
  *out = f;
  return 0;
}

int ThreadStartFailed(int, const char **sc) {
  *sc = "CreateThread";
  return -static_cast<int>(ERROR_NOT_ENOUGH_MEMORY);
}

}  // namespace os
}  // namespace fslock
