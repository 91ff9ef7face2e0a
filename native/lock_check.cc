// The native lock-loss watch's one query (lib/native/lock-watch.ts): for each held lock
// on a network filesystem, ask the server whether it still holds it. A fixed sequence
// of calls per lock, no decision: TypeScript judges the answers.
//
// lockCheck(items: Float64Array[, done: () => void]) -> 0 | boolean
//   items: kStride numbers per lock; in: [0] the holder's fd, [1] a second descriptor of
//   the same file or -1, [2] the holder's LockType (1 shared, 2 exclusive), [3] flags
//   (kReadByte); out: [4] the holder's own F_OFD_GETLK, [5] the second descriptor's
//   F_OFD_GETLK (exclusive request), [6] a one-byte pread through the holder's fd, past
//   the page cache (kNotRun if fd is no longer a regular file).
//   A query answers 0 (no conflicting lock), 1 (a conflicting shared lock), 2 (a
//   conflicting exclusive lock), kNotRun, or -errno.
//   Without `done` the queries run at once (release). With it they run on libuv's
//   threadpool and `done` is called on the JS thread once `items` holds the answers; it
//   returns false, queuing nothing, while another check of this process is still out:
//   a server that does not answer holds at most one threadpool thread of the process.
//
// Threads: lockCheck runs on a JS thread; Execute on a pool thread touches only the
// copy of the items; OnOK copies the answers back on the JS thread (the typed array's
// memory may move with the GC, so no other thread writes it).
#include <atomic>
#include <vector>

#include "glue.h"

#ifdef __linux__
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posix_common.h"
#endif

namespace fslock {
namespace {

constexpr size_t kStride = 7;
constexpr int kReadByte = 1;
constexpr double kNotRun = 3;

#ifdef F_OFD_GETLK
// F_OFD_GETLK of the whole file (fcntl(2)): which lock, if any, would conflict with a
// request of `type` made through `fd`. The descriptor's own open file description's
// locks never conflict with it, so through the holder's own descriptor any conflict is
// another owner's lock that the holder's lock would have excluded.
double Query(int fd, int type) {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = type == kShared ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;
  int r;
  do r = fcntl(fd, F_OFD_GETLK, &fl);
  while (r != 0 && errno == EINTR);
  if (r != 0) return -errno;
  return fl.l_type == F_UNLCK ? 0 : fl.l_type == F_RDLCK ? 1 : 2;
}

// A read that goes through the holder's lock state: a Linux NFSv4 client fails I/O on a
// descriptor whose lock was not reclaimed after a server restart with EIO — I/O that
// reaches the server (the READ carries the lock's stateid), so the file's clean cached
// pages are dropped first (a lock file: a few bytes).
double ReadByte(int fd) {
  // A lock released while this check is out has its descriptor closed, and its number
  // may already name something else of the process: read only a regular file (a pread
  // of a device can have effects; of a regular file, none — the answer is dropped).
  // StatOf (statx), not fstat(2): glibc 2.33's versioned fstat would raise the floor.
  os::posix::StatInfo st;
  if (os::posix::StatOf(fd, nullptr, &st) != 0 || !S_ISREG(st.mode)) return kNotRun;
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  char c;
  ssize_t n;
  do n = pread(fd, &c, 1, 0);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : static_cast<double>(n);
}

void CheckAll(double *items, size_t n) {
  for (size_t i = 0; i + kStride <= n; i += kStride) {
    double *it = items + i;
    int fd = static_cast<int>(it[0]), probe = static_cast<int>(it[1]);
    int type = static_cast<int>(it[2]), flags = static_cast<int>(it[3]);
    it[4] = Query(fd, type);
    it[5] = probe >= 0 ? Query(probe, kExclusive) : kNotRun;
    it[6] = (flags & kReadByte) ? ReadByte(fd) : kNotRun;
  }
}
#else
// No F_OFD_GETLK: TypeScript watches nothing here (lib/native/lock-watch.ts).
void CheckAll(double *items, size_t n) {
  for (size_t i = 0; i + kStride <= n; i += kStride)
    items[i + 4] = items[i + 5] = items[i + 6] = kNotRun;
}
#endif

std::atomic<bool> checking{false};  // a check of this process is on the threadpool

class CheckWorker : public Napi::AsyncWorker {
 public:
  CheckWorker(Napi::Float64Array items, Napi::Function done)
      : Napi::AsyncWorker(done, "fslock:lockCheck"),
        items_(items.Data(), items.Data() + items.ElementLength()),
        ref_(Napi::Persistent(items)) {}
  void Execute() override {
    CheckAll(items_.data(), items_.size());
    // Cleared here, not in OnOK: an environment torn down meanwhile never runs OnOK.
    checking.store(false);
  }
  void OnOK() override {
    Napi::Float64Array items = ref_.Value();
    size_t n = items.ElementLength() < items_.size() ? items.ElementLength() : items_.size();
    std::memcpy(items.Data(), items_.data(), n * sizeof(double));
    Callback().Call({});
  }

 private:
  std::vector<double> items_;
  Napi::Reference<Napi::Float64Array> ref_;
};

Napi::Value LockCheck(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto items = info[0].As<Napi::Float64Array>();
  if (info.Length() < 2) {
    CheckAll(items.Data(), items.ElementLength());
    return Num(env, 0);
  }
  bool idle = false;
  if (!checking.compare_exchange_strong(idle, true)) return Napi::Boolean::New(env, false);
  (new CheckWorker(items, info[1].As<Napi::Function>()))->Queue();
  return Napi::Boolean::New(env, true);
}

}  // namespace

void InitLockCheck(Napi::Env env, Napi::Object exports) {
  exports.Set("lockCheck", Napi::Function::New(env, LockCheck, "lockCheck"));
}

}  // namespace fslock
