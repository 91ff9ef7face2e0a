// The floor of an uncontended lock() + release(): the system calls fslock makes, in C
// (listed with `strace -f -e trace=file,desc` of one iteration, see bench/locks.bench.js
// and bench/syscalls.js). A path lock is flock(2) and an OFD lock on one descriptor.
//   keep    lock(path), the default, on the kept file: open, statx, flock, F_OFD_SETLK,
//           statx, pread head, write record (the file is exactly its header: no cut),
//           statx; release: ftruncate to the header, close
//   create  lock(path, { keep: false }): open (ENOENT), open(dir, O_TMPFILE), fchmod,
//           flock, F_OFD_SETLK, write header + record, linkat into place; release:
//           statx, lstat (statx), unlink, close (which drops the locks)
//   getppid the cost of one system call on this machine (page-table isolation and
//           virtualisation make it 0.1 µs on some VMs here, 1 µs on others)
// usage: lock_cycle create|keep|getppid FILE MILLISECONDS -> prints cycles per second
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char kHeader[] = "{\"fslock\":2}\n";
static char content[160];  // header + a record of fslock's size
static size_t headerLen, recordLen;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Both locks of a path lock, without waiting (lib/native: os::LockFile).
static int both(int fd) {
  struct flock fl;
  if (flock(fd, LOCK_EX | LOCK_NB)) return -1;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  return fcntl(fd, F_OFD_SETLK, &fl);
}

static int fstatx(int fd, struct statx* sx) { return statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, sx); }

static const int kFlags = O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;

static int cycle_create(const char* path, const char* dir) {
  struct statx sx, at;
  char proc[64];
  int fd = open(path, kFlags);
  if (fd >= 0 || errno != ENOENT) return -1;
  fd = open(dir, O_TMPFILE | O_RDWR | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0 || fchmod(fd, 0666) || both(fd)) return -1;
  if (write(fd, content, headerLen + recordLen) < 0) return -1;
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW)) return -1;
  // release
  if (fstatx(fd, &sx) || statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &at)) return -1;
  if (at.stx_ino != sx.stx_ino || unlink(path)) return -1;
  return close(fd);
}

static int cycle_keep(const char* path) {
  struct statx sx;
  char head[4096];
  int fd = open(path, kFlags);
  if (fd < 0 || fstatx(fd, &sx) || both(fd) || fstatx(fd, &sx)) return -1;
  if (pread(fd, head, sizeof head, 0) < 0) return -1;
  if (write(fd, content + headerLen, recordLen) < 0 || fstatx(fd, &sx)) return -1;
  // release
  if (ftruncate(fd, headerLen)) return -1;
  return close(fd);
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  if (strcmp(argv[1], "getppid") == 0) {
    long n = 0;
    double start = now_ms(), t = start;
    while (t - start < atof(argv[3])) {
      for (int i = 0; i < 4096; i++) n += getppid() > 0;
      t = now_ms();
    }
    printf("%f\n", n * 1000.0 / (t - start));
    return 0;
  }
  int keep = strcmp(argv[1], "keep") == 0;
  const char* path = argv[2];
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char* slash = strrchr(dir, '/');
  if (!slash) return 2;
  *slash = 0;
  double ms = atof(argv[3]);
  headerLen = strlen(kHeader);
  memcpy(content, kHeader, headerLen);
  recordLen = 135;  // the size of fslock's holder record line
  memset(content + headerLen, 'r', recordLen - 1);
  content[headerLen + recordLen - 1] = '\n';
  unlink(path);
  if (keep) {
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
    if (fd < 0 || write(fd, kHeader, headerLen) < 0) return 1;
    close(fd);
  }
  long n = 0;
  double start = now_ms(), t = start;
  while (t - start < ms) {
    for (int i = 0; i < 256; i++)
      if ((keep ? cycle_keep(path) : cycle_create(path, dir)) != 0) {
        perror("lock_cycle");
        return 1;
      }
    n += 256;
    t = now_ms();
  }
  if (keep) unlink(path);
  printf("%f\n", n * 1000.0 / (t - start));
  return 0;
}
