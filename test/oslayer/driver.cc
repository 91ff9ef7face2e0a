// The OS layer alone (native/posix_*.cc), without Node: a static test program that
// test/oslayer.test.js builds four ways (musl via zig and glibc via g++, x86-64 and
// arm64) and runs natively and under qemu-user. It uses only the stable functions of
// native/fslock.h (os::Flock, os::LockRange, the thread-interrupt set, os::AtomicWrite,
// os::Rename, os::SyncDir) and checks them against real processes and threads:
//   driver <empty scratch directory>
// prints `# libc <glibc|musl> <arch>`, one `ok N - ...` / `not ok N - ...` line per
// check, and exits 0 only if every check passed. Contention is real: a second process
// (fork) or thread holds or waits; ordering is proven by data written under the lock,
// never by sleeping.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "../../native/fslock.h"

using namespace fslock;

namespace {

int checks = 0, failures = 0;
std::string dir;

void Report(bool ok, const std::string& what, const std::string& detail = "") {
  ++checks;
  if (!ok) ++failures;
  printf("%sok %d - %s%s%s\n", ok ? "" : "not ", checks, what.c_str(), detail.empty() ? "" : " # ", detail.c_str());
  fflush(stdout);
}

std::string Path(const char* name) { return dir + "/" + name; }

int Open(const std::string& p) { return open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644); }

std::string Read(const std::string& p) {
  std::string out;
  int fd = open(p.c_str(), O_RDONLY);
  if (fd < 0) return "<" + std::string(strerror(errno)) + ">";
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

void Append(const std::string& p, const char* text) {
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    ssize_t ignored = write(fd, text, strlen(text));
    (void)ignored;
    close(fd);
  }
}

std::string Err(int r, const char* sc) {
  return r == 0 ? "0" : std::string(sc ? sc : "?") + ": " + strerror(-r) + " (" + std::to_string(r) + ")";
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// A pipe-backed one-shot signal between processes: the child says "I hold it".
struct Gate {
  int fds[2];
  Gate() {
    if (pipe(fds) != 0) abort();
  }
  void Open() {
    char c = 1;
    ssize_t ignored = write(fds[1], &c, 1);
    (void)ignored;
  }
  // Waits for Open() in the other process; false if it exited without (the write end
  // is closed here first, so a dead child means end-of-file, not a hang).
  bool Wait() {
    if (fds[1] >= 0) close(fds[1]), fds[1] = -1;
    char c;
    ssize_t n;
    do n = read(fds[0], &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1;
  }
};

// Forks a child that runs `body` and exits with its return value.
template <typename F>
pid_t Child(F body) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  return pid;
}

int ExitStatus(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// ---- descriptor locks across processes --------------------------------------------

void FlockAcrossProcesses() {
  const std::string file = Path("flock"), data = Path("flock.data");
  const char* sc = nullptr;
  int fd = Open(file);
  int r = os::Flock(fd, kExclusive, false, &sc);
  Report(r == 0, "flock: exclusive lock taken", Err(r, sc));
  Gate refused;
  pid_t pid = Child([&] {
    int cfd = Open(file);
    const char* csc = nullptr;
    int t = os::Flock(cfd, kExclusive, false, &csc);
    int s = os::Flock(cfd, kShared, false, &csc);
    if (!os::IsWouldBlock(t) || !os::IsWouldBlock(s)) return 10;
    refused.Open();
    // Blocks in flock(2) until the parent releases; the data shows it was after.
    if (os::Flock(cfd, kExclusive, true, &csc) != 0) return 11;
    return Read(data) == "before-release" ? 0 : 12;
  });
  bool gated = refused.Wait();
  Append(data, "before-release");
  r = os::Flock(fd, kUnlock, false, &sc);
  int status = ExitStatus(pid);
  Report(gated && r == 0 && status == 0, "flock: another process is refused (try ex/sh), then granted after release",
         "child status " + std::to_string(status));
  close(fd);
}

void RangesAcrossProcesses() {
  const std::string file = Path("ranges");
  const char* sc = nullptr;
  int fd = Open(file);
  int r = os::LockRange(fd, kExclusive, 0, 10, false, &sc);
  Report(r == 0, "fcntl range: [0,10) exclusive taken", Err(r, sc));
  pid_t pid = Child([&] {
    int cfd = Open(file);
    const char* csc = nullptr;
    if (!os::IsWouldBlock(os::LockRange(cfd, kShared, 5, 1, false, &csc))) return 20;  // overlaps
    if (os::LockRange(cfd, kExclusive, 10, 10, false, &csc) != 0) return 21;           // adjacent: free
    return 0;
  });
  int status = ExitStatus(pid);
  Report(status == 0, "fcntl range: an overlapping range is refused to another process, an adjacent one granted",
         "child status " + std::to_string(status));
  r = os::LockRange(fd, kShared, 0, 10, false, &sc);  // downgrade in place
  pid = Child([&] {
    int cfd = Open(file);
    const char* csc = nullptr;
    if (os::LockRange(cfd, kShared, 0, 10, false, &csc) != 0) return 22;
    if (!os::IsWouldBlock(os::LockRange(cfd, kExclusive, 0, 1, false, &csc))) return 23;
    return 0;
  });
  status = ExitStatus(pid);
  Report(r == 0 && status == 0, "fcntl range: shared holders share, exclusive refused", "child status " + std::to_string(status));
  close(fd);
}

void CrashReleases() {
  const std::string file = Path("crash");
  Gate held;
  pid_t pid = Child([&] {
    int cfd = Open(file);
    const char* csc = nullptr;
    if (os::Flock(cfd, kExclusive, false, &csc) != 0 || os::LockRange(cfd, kExclusive, 0, 0, false, &csc) != 0) return 30;
    held.Open();
    for (;;) pause();
  });
  bool gated = held.Wait();
  int fd = Open(file);
  const char* sc = nullptr;
  bool refused = os::IsWouldBlock(os::Flock(fd, kExclusive, false, &sc)) &&
                 os::IsWouldBlock(os::LockRange(fd, kExclusive, 0, 0, false, &sc));
  kill(pid, SIGKILL);
  int status = ExitStatus(pid);
  // The kernel drops a killed process's locks as it closes its files.
  int f = os::Flock(fd, kExclusive, true, &sc);
  int g = os::LockRange(fd, kExclusive, 0, 0, true, &sc);
  Report(gated && refused && status == 128 + SIGKILL && f == 0 && g == 0,
         "SIGKILL of the holder: both of its locks are released by the kernel");
  close(fd);
}

// ---- threads: contention inside one process and interrupting a waiter ---------------

struct Waiter {
  int fd;
  bool range;
  std::atomic<ThreadToken> token{0};
  std::atomic<bool> started{false}, done{false};
  int result = 0;
  const char* sc = nullptr;
  pthread_t thread;
};

void* WaitThread(void* p) {
  auto* w = static_cast<Waiter*>(p);
  w->token = os::CurrentThreadToken();
  w->started = true;
  w->result = w->range ? os::LockRange(w->fd, kExclusive, 0, 0, true, &w->sc) : os::Flock(w->fd, kExclusive, true, &w->sc);
  os::ReleaseThreadToken(w->token);
  w->done = true;
  return nullptr;
}

void StartWaiter(Waiter* w) {
  if (pthread_create(&w->thread, nullptr, WaitThread, w) != 0) abort();
}

// Waits for the thread to finish, calling InterruptThread until it does when `interrupt`
// (an interrupt can land before the thread blocks: the contract allows repeating it).
bool JoinWaiter(Waiter* w, bool interrupt, double limit) {
  double end = Now() + limit;
  while (!w->done && Now() < end) {
    if (interrupt && w->started) os::InterruptThread(w->token);
    timespec ts{0, 5 * 1000 * 1000};  // poll interval, not a synchronisation
    nanosleep(&ts, nullptr);
  }
  if (!w->done) return false;
  pthread_join(w->thread, nullptr);
  return true;
}

void ThreadsContendAndInterrupt(bool range) {
  const char* kind = range ? "fcntl range" : "flock";
  const std::string file = Path(range ? "thread-range" : "thread-flock"), data = file + ".data";
  const char* sc = nullptr;
  int holder = Open(file);  // two open file descriptions in one process conflict
  int r = range ? os::LockRange(holder, kExclusive, 0, 0, false, &sc) : os::Flock(holder, kExclusive, false, &sc);
  Waiter w;
  w.fd = Open(file);
  w.range = range;
  StartWaiter(&w);
  while (!w.started) sched_yield();
  Append(data, "holder-wrote");
  int u = range ? os::LockRange(holder, kUnlock, 0, 0, false, &sc) : os::Flock(holder, kUnlock, false, &sc);
  bool joined = JoinWaiter(&w, false, 60);
  Report(r == 0 && u == 0 && joined && w.result == 0 && Read(data) == "holder-wrote",
         std::string(kind) + ": a second thread (own description) waits and is granted after release", Err(w.result, w.sc));
  if (range) os::LockRange(w.fd, kUnlock, 0, 0, false, &sc);
  else os::Flock(w.fd, kUnlock, false, &sc);
  close(w.fd);
  close(holder);

  // Interrupt: a waiter blocked behind another process's lock returns "interrupted"
  // and holds nothing afterwards.
  Gate held, quit;
  pid_t pid = Child([&] {
    int cfd = Open(file);
    const char* csc = nullptr;
    if ((range ? os::LockRange(cfd, kExclusive, 0, 0, false, &csc) : os::Flock(cfd, kExclusive, false, &csc)) != 0) return 40;
    held.Open();
    quit.Wait();
    return 0;
  });
  held.Wait();
  Waiter x;
  x.fd = Open(file);
  x.range = range;
  StartWaiter(&x);
  bool stopped = JoinWaiter(&x, true, 60);
  quit.Open();
  int status = ExitStatus(pid);
  // After the holder has gone the lock is free, so a try succeeds: the interrupted
  // call took nothing and left nothing behind.
  int after = range ? os::LockRange(x.fd, kExclusive, 0, 0, false, &sc) : os::Flock(x.fd, kExclusive, false, &sc);
  Report(stopped && os::IsInterrupted(x.result) && status == 0 && after == 0,
         std::string(kind) + ": os::InterruptThread stops a waiter blocked behind another process", Err(x.result, x.sc));
  close(x.fd);
}

// ---- atomic writes -----------------------------------------------------------------

int Write(const std::string& target, const std::string& temp, const char* data, int mode, int flags, const char** sc) {
  os::AtomicWriteArgs a{target.c_str(), temp.c_str(), dir.c_str(), reinterpret_cast<const uint8_t*>(data), strlen(data), mode, flags};
  return os::AtomicWrite(a, sc);
}

void AtomicWrites() {
  const std::string target = Path("atomic.json"), temp = Path(".atomic.json.tmp");
  const char* sc = nullptr;
  int r = Write(target, temp, "{\"v\":1}", 0644, os::kSync | os::kSyncDir, &sc);
  struct stat st;
  bool tempGone = stat(temp.c_str(), &st) != 0 && errno == ENOENT;
  Report(r == 0 && Read(target) == "{\"v\":1}" && tempGone, "AtomicWrite: new file written, synced, temp name gone", Err(r, sc));

  chmod(target.c_str(), 0640);
  r = Write(target, temp, "{\"v\":2}", 0666, os::kSync | os::kKeepOwner, &sc);
  stat(target.c_str(), &st);
  Report(r == 0 && Read(target) == "{\"v\":2}" && (st.st_mode & 0777) == 0640,
         "AtomicWrite: replaces the content, keeps the old file's mode (0640)", Err(r, sc));

  r = Write(target, temp, "{\"v\":3}", 0604, os::kChmod, &sc);
  stat(target.c_str(), &st);
  Report(r == 0 && (st.st_mode & 0777) == 0604, "AtomicWrite kChmod: exact mode 0604, umask not applied", Err(r, sc));

  r = Write(target, temp, "lost", 0644, os::kNoReplace, &sc);
  bool noReplaceOk = r == -EEXIST || os::IsUnsupported(r);
  Report(noReplaceOk && Read(target) == "{\"v\":3}" && stat(temp.c_str(), &st) != 0,
         "AtomicWrite kNoReplace: an existing target is kept (EEXIST), temp removed", Err(r, sc));
  r = Write(target, temp, "lost", 0644, os::kLink, &sc);
  Report(r == -EEXIST && Read(target) == "{\"v\":3}" && stat(temp.c_str(), &st) != 0,
         "AtomicWrite kLink: link(2) refuses an existing target (EEXIST), temp removed", Err(r, sc));

  const std::string fresh = Path("tmpfile.txt");
  r = Write(fresh, "", "unnamed", 0644, os::kTmpFile | os::kLink | os::kSyncDir, &sc);
  if (os::IsUnsupported(r)) Append(fresh, "unnamed");  // the Rename check below needs it
  Report((r == 0 && Read(fresh) == "unnamed") || os::IsUnsupported(r), "AtomicWrite kTmpFile: O_TMPFILE linked in (or unsupported here)",
         Err(r, sc));

  // Temp name taken: nothing created, nothing of the other's removed.
  Append(temp, "someone else's");
  r = Write(target, temp, "x", 0644, 0, &sc);
  Report(r == -EEXIST && Read(temp) == "someone else's" && Read(target) == "{\"v\":3}",
         "AtomicWrite: a taken temp name fails with EEXIST and is left alone", Err(r, sc));
  unlink(temp.c_str());

  // A second process writes while this one writes: each write is whole.
  pid_t pid = Child([&] {
    const char* csc = nullptr;
    for (int i = 0; i < 200; i++)
      if (Write(target, Path(".child.tmp"), "child-child-child", 0644, 0, &csc) != 0) return 50;
    return 0;
  });
  bool whole = true;
  for (int i = 0; i < 200; i++) {
    if (Write(target, Path(".parent.tmp"), "parent", 0644, 0, &sc) != 0) whole = false;
    std::string now = Read(target);
    if (now != "parent" && now != "child-child-child") whole = false;
  }
  int status = ExitStatus(pid);
  Report(whole && status == 0, "AtomicWrite: two processes replacing one file, every read sees one whole version");

  const std::string moved = Path("moved.json"), last = Read(target);
  r = os::Rename(target.c_str(), moved.c_str(), false, &sc);
  int again = os::Rename(fresh.c_str(), moved.c_str(), true, &sc);
  bool noRep = again == -EEXIST || os::IsUnsupported(again);
  int sd = os::SyncDir(dir.c_str(), &sc);
  Report(r == 0 && Read(moved) == last && Read(fresh) == "unnamed" && noRep && sd == 0, "Rename (plain, then no-replace refused) and SyncDir",
         Err(again, sc));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <empty scratch directory>\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  umask(022);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "%s: not a directory\n", dir.c_str());
    return 2;
  }
#ifdef __GLIBC__
  const char* libc = "glibc";
#else
  const char* libc = "musl";
#endif
#if defined(__aarch64__)
  const char* arch = "arm64";
#elif defined(__x86_64__)
  const char* arch = "x64";
#else
  const char* arch = "other";
#endif
  printf("# libc %s %s\n", libc, arch);
  os::Init();
  FlockAcrossProcesses();
  RangesAcrossProcesses();
  CrashReleases();
  ThreadsContendAndInterrupt(false);
  ThreadsContendAndInterrupt(true);
  AtomicWrites();
  printf("# %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
