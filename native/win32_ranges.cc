// Windows descriptor locks: flock() and byte ranges on fds the caller opened (fs.open:
// node.exe's C runtime fds, mapped to handles through libuv's uv_get_osfhandle).
//
// LockFileEx cannot convert or merge the locks of one handle as fcntl(2) does: an
// exclusive request over the handle's own lock is refused for ever (a wait on itself),
// a shared one stacks a second lock that needs its own unlock. So each lock taken here
// is noted, and a request overlapping a noted lock of the same handle is refused at once
// (kErrOwnRange: EDEADLK, "unlock it first"). A note can be stale (its fd was closed,
// which released the lock, and the handle value was reused for the same file): before
// refusing, an exclusive trial lock of the range through the handle tells — granted,
// nothing at all is held there, the notes go and the request proceeds. UnlockFileEx
// needs exactly a range that was locked; anything else is an error (ERROR_NOT_LOCKED),
// never a silent success.
#include <io.h>

#include <mutex>
#include <unordered_map>

#include "fslock.h"
#include "win32_common.h"

namespace fslock {
namespace os {
namespace {

using win32::Fail;
using win32::FileIdentity;
using win32::kSentinel;
using win32::UnlockRegion;

struct Note {
  FileIdentity file;
  ULONGLONG start, len;
  bool exclusive;
};
std::mutex gNotesMutex;
std::unordered_multimap<HANDLE, Note> gNotes;

bool Overlap(ULONGLONG s1, ULONGLONG l1, ULONGLONG s2, ULONGLONG l2) {
  return s1 < s2 + l2 && s2 < s1 + l1;
}
bool SameId(const FileIdentity &a, const FileIdentity &b) {
  return a.volume == b.volume && a.lo == b.lo && a.hi == b.hi;
}

// After a grant: notes of this handle for another file (its value was reused) or
// overlapping the grant (which LockFileEx would have refused, had they been real) go.
void Remember(HANDLE h, bool exclusive, ULONGLONG start, ULONGLONG len) {
  Note n{{}, start, len, exclusive};
  bool known = win32::Identify(h, &n.file);
  std::lock_guard<std::mutex> g(gNotesMutex);
  auto range = gNotes.equal_range(h);
  for (auto it = range.first; it != range.second;) {
    const Note &o = it->second;
    bool stale = !known || !SameId(o.file, n.file) || Overlap(o.start, o.len, start, len);
    it = stale ? gNotes.erase(it) : std::next(it);
  }
  if (known) gNotes.emplace(h, n);
}

// After an unlock, the note of exactly this range goes; after a grant over stale notes,
// every note overlapping it.
enum Which { kExact, kOverlapping };
void Forget(HANDLE h, ULONGLONG start, ULONGLONG len, Which which) {
  std::lock_guard<std::mutex> g(gNotesMutex);
  auto range = gNotes.equal_range(h);
  for (auto it = range.first; it != range.second;) {
    const Note &o = it->second;
    bool match = which == kOverlapping ? Overlap(o.start, o.len, start, len)
                                       : o.start == start && o.len == len;
    it = match ? gNotes.erase(it) : std::next(it);
    if (match && which == kExact) return;
  }
}

// Does a noted lock of this handle, on this file, overlap the range?
bool Own(HANDLE h, bool, ULONGLONG start, ULONGLONG len) {
  {
    std::lock_guard<std::mutex> g(gNotesMutex);
    if (gNotes.count(h) == 0) return false;  // the common case: no identity query
  }
  FileIdentity file;
  if (!win32::Identify(h, &file)) return false;
  std::lock_guard<std::mutex> g(gNotesMutex);
  auto range = gNotes.equal_range(h);
  for (auto it = range.first; it != range.second; ++it) {
    const Note &o = it->second;
    if (SameId(o.file, file) && Overlap(o.start, o.len, start, len)) return true;
  }
  return false;
}

// A lock through a user's handle; one overlapping a noted lock of the handle is refused
// (see the top of this file).
int LockHandle(HANDLE h, bool exclusive, ULONGLONG s, ULONGLONG l, bool wait, const char **sc) {
  if (Own(h, exclusive, s, l)) {
    DWORD e = win32::LockRegion(h, true, s, l);
    if (e == ERROR_LOCK_VIOLATION) return Fail(win32::kErrOwnRange, "LockFileEx", sc);
    if (e != 0) return Fail(e, "LockFileEx", sc);
    // Granted: nothing is held there at all, the notes were stale.
    Forget(h, s, l, kOverlapping);
    if (exclusive) {
      Remember(h, true, s, l);
      return 0;
    }
    UnlockRegion(h, s, l);
  }
  // Own is asked again after each refusal of a wait: the same fd may lock meanwhile.
  int r = win32::LockWithRetry(h, exclusive, s, l, wait, Own, sc);
  if (r == 0) Remember(h, exclusive, s, l);
  return r;
}

// fs.open() fds belong to node.exe's own (static) C runtime, not to the msvcrt this
// addon links: libuv's uv_get_osfhandle, exported by node.exe, maps them.
HANDLE FromFd(int64_t fd) {
  using Fn = HANDLE (*)(int);
  static Fn uv = reinterpret_cast<Fn>(
      reinterpret_cast<void *>(GetProcAddress(GetModuleHandleW(nullptr), "uv_get_osfhandle")));
  if (uv) return uv(static_cast<int>(fd));
  return reinterpret_cast<HANDLE>(_get_osfhandle(static_cast<int>(fd)));
}

}  // namespace

int StatUserFd(int64_t fd, FileInfo *info, const char **sc) {
  HANDLE h = FromFd(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail(ERROR_INVALID_HANDLE, "fstat", sc);
  return Stat(static_cast<file_t>(reinterpret_cast<intptr_t>(h)), info, sc);
}

int Flock(int64_t fd, int type, bool wait, const char **sc) {
  HANDLE h = FromFd(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail(ERROR_INVALID_HANDLE, "flock", sc);
  // Stateless, unlike path locks: a user fd may have been closed and its handle value
  // reused since an earlier call. A conversion drops the old lock first, as flock(2)
  // documents for itself; at most two locks (upgrade) stack on the sentinel.
  for (int i = 0; i < 2 && UnlockRegion(h, kSentinel, 1) == 0; i++) {
  }
  Forget(h, kSentinel, 1, kExact);
  if (type == kUnlock) return 0;
  return LockHandle(h, type == kExclusive, kSentinel, 1, wait, sc);
}

int LockRange(int64_t fd, int type, int64_t start, int64_t len, bool wait, const char **sc) {
  HANDLE h = FromFd(fd);
  if (h == INVALID_HANDLE_VALUE) return Fail(ERROR_INVALID_HANDLE, "fcntl", sc);
  // Length 0 means "to the end of any file", as in fcntl(2): it covers the whole-file
  // sentinel, as Rust's and cargo's whole-range locks do.
  ULONGLONG s = static_cast<ULONGLONG>(start);
  ULONGLONG l = len ? static_cast<ULONGLONG>(len) : (0x7FFFFFFFFFFFFFFFULL - s);
  if (type == kUnlock) {
    DWORD e = UnlockRegion(h, s, l);
    // Wine answers ERROR_LOCK_VIOLATION where Windows says ERROR_NOT_LOCKED.
    if (e == ERROR_LOCK_VIOLATION) e = ERROR_NOT_LOCKED;
    if (e != 0) return Fail(e, "UnlockFileEx", sc);
    Forget(h, s, l, kExact);
    return 0;
  }
  return LockHandle(h, type == kExclusive, s, l, wait, sc);
}

}  // namespace os
}  // namespace fslock
