// The fslock command's signal witness (see native/witness.h and lib/cli/witness.ts).
// POSIX reports a kill(2) aimed at a process and one aimed at its process group
// identically (SI_USER and the sender's pid), so the command asks a second member of
// the group whether it received the signal too. That member is a forked child of the
// fslock process rather than a second Node process: no runtime to start, ready the
// moment fork() returns.
//
// The child of a fork in a multithreaded process may only make async-signal-safe calls
// (fork(2), signal-safety(7)): sigaction, sigprocmask, read, write, close, _exit, and
// the bare close_range system call. It never allocates, locks, or returns to Node.
#include <errno.h>
#include <fcntl.h>
#ifndef __linux__
#include <pthread.h>
#endif
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "witness.h"

#if defined(__linux__) && !defined(__NR_close_range)
#define __NR_close_range 436  // the same number on every architecture (Linux 5.9)
#endif

namespace fslock {
namespace os {
namespace {

// The child's own copies (fork copies memory): the parent never writes them.
volatile sig_atomic_t gCounts[kWitnessMaxSignals];
int gSignals[kWitnessMaxSignals];
int gCount = 0;

extern "C" void OnWitnessSignal(int sig) {
  for (int i = 0; i < gCount; i++)
    if (gSignals[i] == sig) gCounts[i] = gCounts[i] + 1;
}

// sigprocmask is per-thread on Linux with glibc (pthread_sigmask would raise the glibc
// floor to 2.32, see glibc_compat.h); POSIX leaves it unspecified in threaded
// processes elsewhere, where pthread_sigmask is the call.
int SetMask(const sigset_t *set, sigset_t *old) {
#ifdef __linux__
  return sigprocmask(SIG_SETMASK, set, old);
#else
  return pthread_sigmask(SIG_SETMASK, set, old);
#endif
}

int Pipe(int p[2], const char **sc) {
#ifdef __linux__
  if (pipe2(p, O_CLOEXEC) == 0) return 0;
  *sc = "pipe2";
  return -errno;
#else
  // No pipe2 on macOS: the fslock command starts no other process meanwhile.
  if (pipe(p) != 0) {
    *sc = "pipe";
    return -errno;
  }
  fcntl(p[0], F_SETFD, FD_CLOEXEC);
  fcntl(p[1], F_SETFD, FD_CLOEXEC);
  return 0;
#endif
}

// Every descriptor but `a` and `b` (both >= 0): the witness must not keep the lock
// file, fslock's output pipes or libuv's descriptors open.
void CloseAllBut(int a, int b, int maxFd) {
  const int lo = a < b ? a : b, hi = a < b ? b : a;
#ifdef __linux__
  auto range = [](int first, long last) -> long {
    return first > last ? 0
                        : syscall(__NR_close_range, static_cast<unsigned>(first),
                                  static_cast<unsigned>(last), 0u);
  };
  if (range(0, lo - 1L) == 0 && range(lo + 1, hi - 1L) == 0 && range(hi + 1, 0xFFFFFFFFL) == 0)
    return;
    // ENOSYS before Linux 5.9: close them one by one.
#endif
  for (int fd = 0; fd <= maxFd; fd++)
    if (fd != lo && fd != hi) close(fd);
}

[[noreturn]] void WitnessMain(const int *signals, int n, int query, int answer, int maxFd) {
  // All signals are blocked here (the parent blocked them around fork): none can run a
  // handler inherited from the parent (libuv's would write to the parent's signal pipe).
  gCount = n;
  for (int i = 0; i < n; i++) {
    gSignals[i] = signals[i];
    gCounts[i] = 0;
  }
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int s = 1; s < NSIG; s++) {
    struct sigaction old;
    if (s == SIGKILL || s == SIGSTOP || sigaction(s, nullptr, &old) != 0) continue;
    // Ignored signals stay ignored (SIGPIPE: a write to a gone fslock fails with EPIPE).
    if (!(old.sa_flags & SA_SIGINFO) && (old.sa_handler == SIG_IGN || old.sa_handler == SIG_DFL))
      continue;
    sigaction(s, &dfl, nullptr);
  }
  struct sigaction count;
  std::memset(&count, 0, sizeof count);
  count.sa_handler = OnWitnessSignal;
  sigemptyset(&count.sa_mask);
  for (int i = 0; i < n; i++) sigaddset(&count.sa_mask, signals[i]);
  for (int i = 0; i < n; i++) sigaction(signals[i], &count, nullptr);
  CloseAllBut(query, answer, maxFd);
  // Signals sent to the group since fork() are pending, and are counted now.
  sigset_t none;
  sigemptyset(&none);
  SetMask(&none, nullptr);

  // A signal posted to the group is pending here before fslock can even see its own
  // copy, so it has been handled by the time a query that fslock wrote after seeing it
  // is read: the kernel runs handlers of pending signals before read() returns.
  char buf[64];
  uint32_t out[kWitnessMaxSignals];
  for (;;) {
    ssize_t r = read(query, buf, sizeof buf);
    if (r == 0) _exit(0);  // fslock closed its end, or died
    if (r < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    for (ssize_t q = 0; q < r; q++) {
      for (int i = 0; i < n; i++) out[i] = static_cast<uint32_t>(gCounts[i]);
      // <= 64 bytes: one atomic pipe write (PIPE_BUF >= 512).
      if (write(answer, out, sizeof out[0] * n) != static_cast<ssize_t>(sizeof out[0] * n))
        _exit(1);
    }
  }
}

}  // namespace

int StartWitness(const int *signals, int n, int maxFd, int fds[2], const char **sc) {
  int q[2], a[2];
  int r = Pipe(q, sc);
  if (r < 0) return r;
  r = Pipe(a, sc);
  if (r < 0) {
    close(q[0]);
    close(q[1]);
    return r;
  }
  sigset_t all, old;
  sigfillset(&all);
  SetMask(&all, &old);
  pid_t pid = fork();
  if (pid == 0) WitnessMain(signals, n, q[0], a[1], maxFd);
  int err = errno;
  SetMask(&old, nullptr);
  close(q[0]);
  close(a[1]);
  if (pid < 0) {
    close(q[1]);
    close(a[0]);
    *sc = "fork";
    return -err;
  }
  fds[0] = q[1];
  fds[1] = a[0];
  return static_cast<int>(pid);
}

int ReapChild(int pid, const char **sc) {
  int status = 0;
  pid_t r = waitpid(static_cast<pid_t>(pid), &status, WNOHANG);
  if (r >= 0) return static_cast<int>(r);
  *sc = "waitpid";
  return -errno;
}

}  // namespace os
}  // namespace fslock
