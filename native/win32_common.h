// Small helpers shared by the Windows OS files.
#pragma once

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

namespace fslock {
namespace os {
namespace win32 {

// Names the failing call and returns -GetLastError() (the contract of native/fslock.h).
inline int Err(const char *name, const char **sc) {
  *sc = name;
  DWORD e = GetLastError();
  return -static_cast<int>(e ? e : ERROR_GEN_FAILURE);
}

}  // namespace win32
}  // namespace os
}  // namespace fslock
