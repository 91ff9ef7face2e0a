// The floor for an atomic replace: the syscalls fslock's native write makes, without
// Node. argv: dir size iterations fsync(0|1) [tmpfile]. Prints microseconds per write.
// With "tmpfile", Linux's sequence: an unnamed O_TMPFILE file, flushed (fdatasync, or a
// duplicate descriptor closed), named with linkat(AT_EMPTY_PATH), renamed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  const char* dir = argv[1];
  size_t size = strtoul(argv[2], 0, 10);
  long n = strtol(argv[3], 0, 10);
  int sync = atoi(argv[4]);
  int tmpfile = argc > 5 && strcmp(argv[5], "tmpfile") == 0;
  char target[4096], temp[4096];
  snprintf(target, sizeof target, "%s/c-target", dir);
  char* buf = malloc(size);
  memset(buf, 'c', size);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    snprintf(temp, sizeof temp, "%s/.c-target.%ld", dir, i);
#ifdef O_TMPFILE
    int fd = tmpfile ? open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666) : open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
#else
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
#endif
    if (fd < 0) return perror("open"), 1;
    struct stat st;  // fslock keeps the existing target's mode: stat + fchmod
    if (stat(target, &st) == 0) fchmod(fd, st.st_mode & 07777);
    for (size_t off = 0; off < size;) {
      ssize_t w = write(fd, buf + off, size - off);
      if (w < 0) return perror("write"), 1;
      off += (size_t)w;
    }
    if (sync && fdatasync(fd) != 0) return perror("fdatasync"), 1;
#ifdef AT_EMPTY_PATH
    if (tmpfile) {
      if (!sync) close(dup(fd));
      if (linkat(fd, "", AT_FDCWD, temp, AT_EMPTY_PATH) != 0) return perror("linkat"), 1;
    }
#endif
    close(fd);
    if (rename(temp, target) != 0) return perror("rename"), 1;
    if (sync) {
      int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      fsync(d);
      close(d);
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.3f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n);
  return 0;
}
