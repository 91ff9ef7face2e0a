// The floor for a descriptor lock + unlock pair: the same two system calls in C.
// usage: flock_pair flock|ofd FILE MILLISECONDS  -> prints pairs per second
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int ofd(int fd, short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fcntl(fd, F_OFD_SETLK, &fl);
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  int use_ofd = strcmp(argv[1], "ofd") == 0;
  int fd = open(argv[2], O_RDWR | O_CREAT, 0644);
  double ms = atof(argv[3]);
  long n = 0;
  double start = now_ms(), t = start;
  while (t - start < ms) {
    for (int i = 0; i < 4096; i++) {
      if (use_ofd) {
        if (ofd(fd, F_WRLCK) != 0 || ofd(fd, F_UNLCK) != 0) return 1;
      } else if (flock(fd, LOCK_EX | LOCK_NB) != 0 || flock(fd, LOCK_UN) != 0) {
        return 1;
      }
    }
    n += 4096;
    t = now_ms();
  }
  printf("%f\n", n * 1000.0 / (t - start));
  return 0;
}
