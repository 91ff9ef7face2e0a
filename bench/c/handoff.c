// The floor of a lock hand-off between two processes: the holder releases a lock that
// the other process is blocked on; measured from just before the release to just after
// the waiter holds it (CLOCK_MONOTONIC is one clock for both processes). Each mode makes
// the system calls fslock makes (strace -f -e trace=file,desc of one lock()+release()):
//   flock   flock(LOCK_EX) / flock(LOCK_UN) on a file that stays (fslock.flock)
//   ofd     fcntl(F_OFD_SETLKW) / F_UNLCK on a file that stays (fslock.lockRange)
//   ofd-loop  the same, waited for the way an event-loop program must (its loop thread
//           cannot block in the kernel): a thread blocks in F_OFD_SETLKW and, granted,
//           wakes the loop thread, asleep in epoll_wait, through an eventfd. Two
//           wake-ups instead of one: the floor of fslock's design, not of any one call
//   keep    lock(path, { keep: true }): open, fstat, F_OFD_SETLK (busy) → F_OFD_SETLKW,
//           fstat, pread head, ftruncate to the header, write record, fstat; release:
//           fstat, ftruncate to the header, F_UNLCK, close
//   create  lock(path) default: the same on a file created with O_EXCL (+ fchmod) and
//           removed at release (fstat, lstat, unlink, F_UNLCK, close); a waiter woken on
//           the removed inode (nlink 0) closes and starts again
// argv: mode lockfile rounds. Prints one latency in microseconds per line.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char kHeader[] = "{\"fslock\":2}\n";
static char record[136];
static const char* mode;
static const char* lockPath;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int ofd(int fd, short type, int wait) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
}

static int fd0 = -1;  // flock/ofd: one descriptor per process, the file stays
static int efd = -1, ep = -1;  // ofd-loop: the waiter thread's way to the loop thread
static pthread_t waiter;
static int waiting;  // a waiter thread to join (after the timestamp)

static void* waiter_thread(void* arg) {
  (void)arg;
  uint64_t one = 1;
  ofd(fd0, F_WRLCK, 1);
  if (write(efd, &one, sizeof one) != sizeof one) exit(1);
  return NULL;
}

// Returns the descriptor that now holds the lock.
static int acquire(void) {
  if (!strcmp(mode, "flock")) {
    flock(fd0, LOCK_EX);
    return fd0;
  }
  if (!strcmp(mode, "ofd")) {
    ofd(fd0, F_WRLCK, 1);
    return fd0;
  }
  if (!strcmp(mode, "ofd-loop")) {
    struct epoll_event ev;
    uint64_t n;
    if (ofd(fd0, F_WRLCK, 0) == 0) return fd0;  // the holder's side: free at once
    if (pthread_create(&waiter, NULL, waiter_thread, NULL)) exit(1);
    waiting = 1;
    while (epoll_wait(ep, &ev, 1, -1) != 1) {
    }
    if (read(efd, &n, sizeof n) != sizeof n) exit(1);
    return fd0;
  }
  const int flags = O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  char head[4096];
  struct stat st;
  for (;;) {
    int fd = open(lockPath, flags);
    if (fd < 0 && errno == ENOENT) {
      fd = open(lockPath, flags | O_CREAT | O_EXCL, 0666);
      if (fd < 0) continue;  // EEXIST: start again
      fchmod(fd, 0666);
      if (ofd(fd, F_WRLCK, 0) == 0) {
        char buf[sizeof kHeader + sizeof record];
        size_t n = strlen(kHeader);
        memcpy(buf, kHeader, n);
        memcpy(buf + n, record, strlen(record));
        if (write(fd, buf, n + strlen(record)) < 0) return -1;
        fstat(fd, &st);
        return fd;
      }
      ofd(fd, F_WRLCK, 1);  // someone locked the new file first
    } else {
      if (fd < 0) return -1;
      fstat(fd, &st);
      if (ofd(fd, F_WRLCK, 0) != 0) ofd(fd, F_WRLCK, 1);
    }
    fstat(fd, &st);
    if (st.st_nlink == 0) {  // removed by the releaser: start again
      close(fd);
      continue;
    }
    if (pread(fd, head, sizeof head, 0) < 0) return -1;
    if (ftruncate(fd, strlen(kHeader)) < 0 || write(fd, record, strlen(record)) < 0) return -1;
    fstat(fd, &st);
    return fd;
  }
}

static void release(int fd) {
  if (!strcmp(mode, "flock")) {
    flock(fd, LOCK_UN);
    return;
  }
  if (waiting) pthread_join(waiter, NULL), waiting = 0;
  if (!strcmp(mode, "ofd") || !strcmp(mode, "ofd-loop")) {
    ofd(fd, F_UNLCK, 0);
    return;
  }
  struct stat st, at;
  fstat(fd, &st);
  if (!strcmp(mode, "keep")) {
    if (ftruncate(fd, strlen(kHeader)) < 0) exit(1);
  } else if (lstat(lockPath, &at) == 0 && at.st_ino == st.st_ino) {
    unlink(lockPath);
  }
  ofd(fd, F_UNLCK, 0);
  close(fd);
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  mode = argv[1];
  lockPath = argv[2];
  int rounds = atoi(argv[3]);
  memset(record, 'r', sizeof record - 2);
  record[sizeof record - 2] = '\n';
  int go[2], back[2];
  if (pipe(go) || pipe(back)) return 1;
  int stays = !strcmp(mode, "flock") || !strcmp(mode, "ofd") || !strcmp(mode, "ofd-loop");
  if (stays) close(open(lockPath, O_RDWR | O_CREAT, 0644));
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);  // so that the parent's close ends the loop
    if (stays) fd0 = open(lockPath, O_RDWR);
    if (!strcmp(mode, "ofd-loop")) {
      struct epoll_event ev = {.events = EPOLLIN};
      efd = eventfd(0, EFD_CLOEXEC);
      ep = epoll_create1(EPOLL_CLOEXEC);
      if (efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev)) return 1;
    }
    char c;
    while (read(go[0], &c, 1) == 1) {
      if (write(back[1], "r", 1) != 1) return 1;  // about to block
      int fd = acquire();
      double t1 = now_us();
      release(fd);
      if (write(back[1], &t1, sizeof t1) != sizeof t1) return 1;
    }
    return 0;
  }
  close(go[0]);
  if (stays) fd0 = open(lockPath, O_RDWR);
  for (int i = 0; i < rounds; i++) {
    char c;
    double t1;
    int fd = acquire();
    if (write(go[1], "g", 1) != 1 || read(back[0], &c, 1) != 1) return 1;
    usleep(2000);  // let the waiter reach its blocking call
    double t0 = now_us();
    release(fd);
    if (read(back[0], &t1, sizeof t1) != sizeof t1) return 1;
    printf("%.2f\n", t1 - t0);
  }
  close(go[1]);
  waitpid(pid, NULL, 0);
  return 0;
}
