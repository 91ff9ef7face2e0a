// Force-included into every Linux source (binding.gyp): keeps the binary loadable on
// glibc 2.28 (Debian 10, RHEL 8, Ubuntu 18.10 — the floor of Node 20's own binaries)
// when it is built against a newer glibc. scripts/prebuild.js checks the result.
#pragma once
#if defined(__linux__) && defined(__cplusplus)
#include <bits/c++config.h>
// libstdc++ would wait with pthread_cond_clockwait (versioned GLIBC_2.34 since the
// libpthread merge); without it, pthread_cond_timedwait (GLIBC_2.3.2).
#undef _GLIBCXX_USE_PTHREAD_COND_CLOCKWAIT
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
// ext/atomicity.h reads ::__libc_single_threaded (GLIBC_2.32) to skip atomic reference
// counts in single-threaded processes; an addon that starts threads never is one.
[[maybe_unused]] static char fslock_never_single_threaded = 0;
#define __libc_single_threaded fslock_never_single_threaded
#endif
#endif
