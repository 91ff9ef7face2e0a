// The floor of waiting under contention: P processes take turns on one lock with
// blocking fcntl(F_OFD_SETLKW) on a file that stays, holding it HOLD_US each time (a
// busy loop) for MS milliseconds; every wait (request → granted) is printed in
// microseconds. The kernel does not queue: a releaser may take the lock back before a
// waiter that has waited long, which is what the tail shows. GATE=1: each process first
// takes a gate (an exclusive byte-range lock at 2^62) and drops it once it holds the
// lock, so a releaser cannot take the lock back ahead of the waiter already in line
// (an experiment for a fairness option; docs/benchmarks.md, "Waiting under contention").
// usage: [GATE=1] wait_tail FILE PROCESSES HOLD_US MS
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int ofd_range(int fd, short type, int wait, long long start, long long len) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
}
static int ofd(int fd, short type, int wait) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
}

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  int procs = atoi(argv[2]);
  int gate = getenv("GATE") != NULL;
  double hold = atof(argv[3]), ms = atof(argv[4]);
  close(open(argv[1], O_RDWR | O_CREAT, 0644));
  double end = now_us() + ms * 1000;
  int fds[64][2];
  if (procs > 64) return 2;
  for (int p = 0; p < procs; p++) {
    if (pipe(fds[p])) return 1;
    if (fork() != 0) {
      close(fds[p][1]);
      continue;
    }
    int fd = open(argv[1], O_RDWR);
    // Buffered per process, written at the end: printing must not be part of a turn.
    size_t cap = 1 << 20, n = 0;
    double* waits = malloc(cap * sizeof *waits);
    while (now_us() < end && n < cap) {
      double t0 = now_us();
      if (gate && ofd_range(fd, F_WRLCK, 1, 1LL << 62, 1) != 0) return 1;
      if (ofd(fd, F_WRLCK, 1) != 0) return 1;
      if (gate) ofd_range(fd, F_UNLCK, 0, 1LL << 62, 1);
      double t1 = now_us();
      waits[n++] = t1 - t0;
      while (now_us() - t1 < hold) {
      }
      ofd(fd, F_UNLCK, 0);
    }
    // Each process's results through its own pipe: no interleaved lines.
    size_t off = 0, len = n * sizeof *waits;
    while (off < len) {
      ssize_t w = write(fds[p][1], (char*)waits + off, len - off);
      if (w <= 0) return 1;
      off += w;
    }
    return 0;
  }
  for (int p = 0; p < procs; p++) {
    double w;
    while (read(fds[p][0], &w, sizeof w) == sizeof w) printf("%.1f\n", w);
  }
  while (wait(NULL) > 0) {
  }
  return 0;
}
