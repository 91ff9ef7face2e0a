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
//
// Linux: not fork() but clone(CLONE_VM) where close_range(2) works (Linux >= 5.9 and
// not refused by a seccomp filter; the parent tries it first, on no descriptor): a
// process of its own (own pid, descriptors, signal handlers and mask, in the same
// process group) that shares fslock's memory, so creating it copies no page tables and
// leaves fslock no copy-on-write faults for the rest of its run (fork: ~30 ms more CPU
// per `fslock LOCK true` on a loaded 2-core VM, bench/cli.bench.js). Sharing memory
// binds the child further: it runs on a stack of its own, writes only its own block
// (args and counts), and makes no call that could fail or that touches thread state,
// since its thread pointer is the calling thread's: a failing call would write that
// thread's errno, glibc's read/write (cancellation points) update its cancellation
// state, and a lazily bound symbol would run the dynamic linker on its behalf (the
// addon is linked with -z now on Linux, binding.gyp). So reads and writes are bare
// syscall()s that cannot fail while fslock lives (SA_RESTART: no EINTR), sigaction
// skips glibc's internal signals, and descriptors are closed with close_range(2) only.
#include <errno.h>
#include <fcntl.h>
#ifndef __linux__
#include <pthread.h>
#endif
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#ifdef __linux__
#include <sched.h>
#endif

#include "witness.h"

#if defined(__linux__) && !defined(__NR_close_range)
#define __NR_close_range 436  // the same number on every architecture (Linux 5.9)
#endif

namespace fslock {
namespace os {
namespace {

// What the witness works with, written by the parent before the child starts and then
// only by the child (fork: its copy; clone(CLONE_VM): a block the parent leaves alone).
struct Witness {
  int signals[kWitnessMaxSignals];
  volatile sig_atomic_t counts[kWitnessMaxSignals];
  int n;
  int query, answer, maxFd;
  int rtmin;      // glibc's SIGRTMIN: 32..rtmin-1 are its own (sigaction refuses them)
  bool sharedVm;  // clone(CLONE_VM): bare syscalls only (see the top of this file)
};
// The running witness, for its signal handler. One per process (lib/cli/witness.ts).
Witness *gWitness = nullptr;

extern "C" void OnWitnessSignal(int sig) {
  Witness *w = gWitness;
  for (int i = 0; i < w->n; i++)
    if (w->signals[i] == sig) w->counts[i] = w->counts[i] + 1;
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
void CloseAllBut(int a, int b, int maxFd, bool rangeOnly) {
  // rangeOnly: clone(CLONE_VM), where the parent has seen close_range work.
  const int lo = a < b ? a : b, hi = a < b ? b : a;
#ifdef __linux__
  auto range = [](int first, long last) -> long {
    return first > last ? 0
                        : syscall(__NR_close_range, static_cast<unsigned>(first),
                                  static_cast<unsigned>(last), 0u);
  };
  const bool closed =
      range(0, lo - 1L) == 0 && range(lo + 1, hi - 1L) == 0 && range(hi + 1, 0xFFFFFFFFL) == 0;
  // ENOSYS before Linux 5.9 (or refused by seccomp): one by one, after fork only.
  if (closed || rangeOnly) return;
#endif
  for (int fd = 0; fd <= maxFd; fd++)
    if (fd != lo && fd != hi) close(fd);
}

ssize_t Read(const Witness *w, void *buf, size_t len) {
#ifdef __linux__
  if (w->sharedVm) return syscall(SYS_read, w->query, buf, len);
#endif
  return read(w->query, buf, len);
}

ssize_t Write(const Witness *w, const void *buf, size_t len) {
#ifdef __linux__
  if (w->sharedVm) return syscall(SYS_write, w->answer, buf, len);
#endif
  return write(w->answer, buf, len);
}

[[noreturn]] void WitnessMain(Witness *w) {
  // All signals are blocked here (the parent blocked them around fork/clone): none can
  // run a handler inherited from the parent (libuv's would write to its signal pipe).
  gWitness = w;
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int s = 1; s < NSIG; s++) {
    struct sigaction old;
    if (s == SIGKILL || s == SIGSTOP || (s >= 32 && s < w->rtmin)) continue;
    if (sigaction(s, nullptr, &old) != 0) continue;
    // Ignored signals stay ignored (SIGPIPE: a write to a gone fslock fails with EPIPE).
    if (!(old.sa_flags & SA_SIGINFO) && (old.sa_handler == SIG_IGN || old.sa_handler == SIG_DFL))
      continue;
    sigaction(s, &dfl, nullptr);
  }
  struct sigaction count;
  std::memset(&count, 0, sizeof count);
  count.sa_handler = OnWitnessSignal;
  count.sa_flags = SA_RESTART;  // a read interrupted by a signal resumes (no EINTR)
  sigemptyset(&count.sa_mask);
  for (int i = 0; i < w->n; i++) sigaddset(&count.sa_mask, w->signals[i]);
  for (int i = 0; i < w->n; i++) sigaction(w->signals[i], &count, nullptr);
  CloseAllBut(w->query, w->answer, w->maxFd, w->sharedVm);
  // Signals sent to the group since fork() are pending, and are counted now.
  sigset_t none;
  sigemptyset(&none);
  SetMask(&none, nullptr);

  // A signal posted to the group is pending here before fslock can even see its own
  // copy, so it has been handled by the time a query that fslock wrote after seeing it
  // is read: the kernel runs handlers of pending signals before read() returns.
  char buf[64];
  uint32_t out[kWitnessMaxSignals];
  const ssize_t size = static_cast<ssize_t>(sizeof out[0] * w->n);
  for (;;) {
    ssize_t r = Read(w, buf, sizeof buf);
    if (r <= 0) _exit(0);  // end of file: fslock closed its end, or died
    for (ssize_t q = 0; q < r; q++) {
      for (int i = 0; i < w->n; i++) out[i] = static_cast<uint32_t>(w->counts[i]);
      // <= 64 bytes: one atomic pipe write (PIPE_BUF >= 512).
      if (Write(w, out, size) != size) _exit(1);
    }
  }
}

#ifdef __linux__
constexpr size_t kCloneStack = 64 * 1024;

int CloneMain(void *arg) {
  WitnessMain(static_cast<Witness *>(arg));
}
#endif

}  // namespace

int StartWitness(const int *signals, int n, int maxFd, bool sharedVm, int fds[2], const char **sc) {
#ifndef __linux__
  sharedVm = false;
#endif
  // The witness's block (fork copies it; clone(CLONE_VM) shares it, with the child's
  // stack above it in the same mapping, and it stays mapped for good: one witness per
  // process, lib/cli/witness.ts).
  Witness local;
  Witness *w = &local;
#ifdef __linux__
  void *mapping = nullptr;
  if (sharedVm) {
    // The child may close descriptors with close_range alone: on no descriptor here
    // (the highest possible number), 0 where the call works, ENOSYS or EPERM where not.
    if (syscall(__NR_close_range, ~0u, ~0u, 0u) != 0) {
      *sc = "close_range";
      return -errno;
    }
    mapping = mmap(nullptr, kCloneStack, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) {
      *sc = "mmap";
      return -errno;
    }
    w = static_cast<Witness *>(mapping);
  }
#endif
  std::memset(static_cast<void *>(w), 0, sizeof *w);
  w->n = n;
  for (int i = 0; i < n; i++) w->signals[i] = signals[i];
  w->maxFd = maxFd;
  w->sharedVm = sharedVm;
#ifdef SIGRTMIN
  w->rtmin = SIGRTMIN;
#else
  w->rtmin = 32;
#endif
  int q[2], a[2];
  int r = Pipe(q, sc);
  if (r >= 0) {
    r = Pipe(a, sc);
    if (r < 0) {
      close(q[0]);
      close(q[1]);
    }
  }
  if (r < 0) {
#ifdef __linux__
    if (mapping) munmap(mapping, kCloneStack);
#endif
    return r;
  }
  w->query = q[0];
  w->answer = a[1];
  sigset_t all, old;
  sigfillset(&all);
  SetMask(&all, &old);
  pid_t pid;
#ifdef __linux__
  if (sharedVm) {
    // The stack grows down from the end of the mapping, away from the block.
    pid = clone(CloneMain, static_cast<char *>(mapping) + kCloneStack, CLONE_VM | SIGCHLD, w);
    *sc = "clone";
  } else
#endif
  {
    pid = fork();
    if (pid == 0) WitnessMain(w);
    *sc = "fork";
  }
  int err = errno;
  SetMask(&old, nullptr);
  close(q[0]);
  close(a[1]);
  if (pid < 0) {
    close(q[1]);
    close(a[0]);
#ifdef __linux__
    if (mapping) munmap(mapping, kCloneStack);
#endif
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
