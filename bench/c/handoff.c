// The floor of a lock hand-off between two processes: the holder releases a flock(2)
// lock that the other process is blocked on; measured from just before LOCK_UN to just
// after the waiter's flock returns (CLOCK_MONOTONIC is one clock for both processes).
// argv: lockfile rounds. Prints one latency in microseconds per line.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  int rounds = atoi(argv[2]);
  int go[2], back[2];
  if (pipe(go) || pipe(back)) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);  // so that the parent's close ends the loop
    int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
    char c;
    while (read(go[0], &c, 1) == 1) {
      if (write(back[1], "r", 1) != 1) return 1;  // about to block
      flock(fd, LOCK_EX);
      double t1 = now_us();
      flock(fd, LOCK_UN);
      if (write(back[1], &t1, sizeof t1) != sizeof t1) return 1;
    }
    return 0;
  }
  close(go[0]);
  int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
  for (int i = 0; i < rounds; i++) {
    char c;
    double t1;
    flock(fd, LOCK_EX);
    if (write(go[1], "g", 1) != 1 || read(back[0], &c, 1) != 1) return 1;
    usleep(2000);  // let the waiter reach its blocking flock
    double t0 = now_us();
    flock(fd, LOCK_UN);
    if (read(back[0], &t1, sizeof t1) != sizeof t1) return 1;
    printf("%.2f\n", t1 - t0);
  }
  close(go[1]);
  waitpid(pid, NULL, 0);
  return 0;
}
