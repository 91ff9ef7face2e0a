// Node-API glue for atomic files. A whole atomic write (or rename) is one crossing:
// synchronously for the Sync API, or on libuv's threadpool for the promise API — a
// write, an fsync and a rename are bounded I/O like fs.writeFile's, never a wait.
#include <string>

#include "glue.h"

namespace fslock {
namespace {

using PathString = std::basic_string<pathchar>;

PathString ToPath(Napi::Env env, Napi::Value v) {
  PathArg p(env, v);
  return p.truncated() ? PathString() : PathString(p.get());
}

// The bytes of an ArrayBufferView (TypeScript turns strings into Buffers).
void ViewBytes(Napi::Value v, const uint8_t **data, size_t *len) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    *data = static_cast<const uint8_t *>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    *len = ta.ByteLength();
  } else {
    auto dv = v.As<Napi::DataView>();
    *data = static_cast<const uint8_t *>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    *len = dv.ByteLength();
  }
}

// The attribute list of os::AtomicWriteArgs::attrs: a JS string of NUL-terminated
// entries (its NULs kept: Utf8Value has the length), ended by an empty one.
std::string AttrList(Napi::Value v) {
  if (!v.IsString()) return std::string();
  std::string s = v.As<Napi::String>().Utf8Value();
  s.push_back('\0');
  s.push_back('\0');
  return s;
}

// Arguments of atomicWrite(target, temp, dir, data, mode, flags, attrs[, callback]),
// owned so that they outlive the JS call when the write runs on the threadpool.
struct WriteJob {
  static constexpr int kDataArg = 3;
  PathString target, temp, dir;
  const uint8_t *data = nullptr;
  size_t len = 0;
  int mode = 0, flags = 0;
  std::string attrs;
  bool tooLong = false;

  WriteJob(const Napi::CallbackInfo &info)
      : target(ToPath(info.Env(), info[0])),
        temp(ToPath(info.Env(), info[1])),
        dir(ToPath(info.Env(), info[2])),
        mode(I32(info, 4)),
        flags(I32(info, 5)),
        attrs(AttrList(info[6])) {
    ViewBytes(info[3], &data, &len);
    // Only an O_TMPFILE file linked at the target (kTmpFile | kLink) has no temp name.
    const int unnamed = os::kTmpFile | os::kLink;
    tooLong = target.empty() || dir.empty() || (temp.empty() && (flags & unnamed) != unnamed);
  }
  int Run(const char **sc) const {
    if (tooLong) {
      *sc = "open";
      return os::NameTooLong();
    }
    os::AtomicWriteArgs a{target.c_str(),
                          temp.c_str(),
                          dir.c_str(),
                          data,
                          len,
                          mode,
                          flags,
                          attrs.empty() ? nullptr : attrs.c_str()};
    return os::AtomicWrite(a, sc);
  }
};

// copyMeta(target, fd, mode, flags, attrs[, callback]): os::CopyMeta onto a descriptor
// of the node:fs sequence (lib/atomic/atomic-ops.ts).
struct CopyMetaJob {
  static constexpr int kDataArg = -1;
  PathString target;
  int64_t fd;
  int mode, flags;
  std::string attrs;
  CopyMetaJob(const Napi::CallbackInfo &info)
      : target(ToPath(info.Env(), info[0])),
        fd(I64(info, 1)),
        mode(I32(info, 2)),
        flags(I32(info, 3)),
        attrs(AttrList(info[4])) {}
  int Run(const char **sc) const {
    if (target.empty()) {
      *sc = "lstat";
      return os::NameTooLong();
    }
    return os::CopyMeta(fd, target.c_str(), mode, flags, attrs.empty() ? nullptr : attrs.c_str(),
                        sc);
  }
};

struct RenameJob {
  static constexpr int kDataArg = -1;
  PathString from, to;
  bool noReplace;
  RenameJob(const Napi::CallbackInfo &info)
      : from(ToPath(info.Env(), info[0])),
        to(ToPath(info.Env(), info[1])),
        noReplace(info[2].ToBoolean()) {}
  int Run(const char **sc) const {
    if (from.empty() || to.empty()) {
      *sc = "rename";
      return os::NameTooLong();
    }
    return os::Rename(from.c_str(), to.c_str(), noReplace, sc);
  }
};

struct SyncDirJob {
  static constexpr int kDataArg = -1;
  PathString dir;
  SyncDirJob(const Napi::CallbackInfo &info) : dir(ToPath(info.Env(), info[0])) {}
  int Run(const char **sc) const {
    if (dir.empty()) {
      *sc = "open";
      return os::NameTooLong();
    }
    return os::SyncDir(dir.c_str(), sc);
  }
};

// Runs a job on libuv's threadpool and calls back with (result, syscall).
// Execute runs on a pool thread and touches no JS; OnOK runs on the JS thread.
template <typename Job>
class JobWorker : public Napi::AsyncWorker {
 public:
  JobWorker(const Napi::CallbackInfo &info, size_t cbIndex)
      : Napi::AsyncWorker(info[cbIndex].As<Napi::Function>(), "fslock:atomic"), job_(info) {
    // Keeps the data's buffer alive until the write is done.
    if (Job::kDataArg >= 0) {
      Napi::Value data = info[Job::kDataArg];
      keep_ = Napi::Persistent(data.As<Napi::Object>());
    }
  }
  void Execute() override { result_ = job_.Run(&sc_); }
  void OnOK() override {
    Napi::Env env = Env();
    Callback().Call({Num(env, result_), Napi::String::New(env, sc_ ? sc_ : "")});
  }

 private:
  Job job_;
  Napi::ObjectReference keep_;
  int result_ = 0;
  const char *sc_ = nullptr;
};

template <typename Job, size_t kArgs>
Napi::Value Dispatch(const Napi::CallbackInfo &info) {
  if (info.Length() > kArgs) {
    (new JobWorker<Job>(info, kArgs))->Queue();
    return info.Env().Undefined();
  }
  const char *sc = nullptr;
  int r = Job(info).Run(&sc);
  return Num(info.Env(), Fail(info.Env(), r, sc));
}

}  // namespace

void InitAtomic(Napi::Env env, Napi::Object exports) {
  // atomicWrite(target, temp, dir, data, mode, flags, attrs[, cb]) -> result | undefined
  exports.Set("atomicWrite", Napi::Function::New(env, Dispatch<WriteJob, 7>, "atomicWrite"));
  // copyMeta(target, fd, mode, flags, attrs[, cb]) -> result | undefined
  exports.Set("copyMeta", Napi::Function::New(env, Dispatch<CopyMetaJob, 5>, "copyMeta"));
  exports.Set("SYMLINK", Napi::Number::New(env, os::kSymlinkResult));
  exports.Set("NOT_REGULAR", Napi::Number::New(env, os::kNotRegularResult));
  // rename(from, to, noReplace[, cb]) -> result | undefined
  exports.Set("rename", Napi::Function::New(env, Dispatch<RenameJob, 3>, "rename"));
  // syncDir(dir[, cb]) -> result | undefined
  exports.Set("syncDir", Napi::Function::New(env, Dispatch<SyncDirJob, 1>, "syncDir"));
}

}  // namespace fslock
