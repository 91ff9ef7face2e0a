// Module entry: per-environment state and the registration of each glue file.
// Loaded once per process but initialised once per environment (main thread and
// every worker thread), so nothing here may be process-global except os::Init.
#include "glue.h"

namespace fslock {
namespace {

// setOut(Float64Array, Uint8Array): the arrays that calls fill with secondary results
// (status, dev, ino, size…) and with the head of a lock file, so that the hot paths
// return a plain number and allocate nothing.
Napi::Value SetOut(const Napi::CallbackInfo &info) {
  AddonData *d = Data(info.Env());
  auto arr = info[0].As<Napi::Float64Array>();
  d->outRef = Napi::Persistent(arr);
  d->out = arr.Data();
  auto buf = info[1].As<Napi::Uint8Array>();
  d->readRef = Napi::Persistent(buf);
  d->readBuf = buf.Data();
  d->readLen = buf.ByteLength();
  return info.Env().Undefined();
}

Napi::Value LastSyscall(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), Data(info.Env())->lastSyscall);
}

}  // namespace
#ifndef _WIN32
void InitWitness(Napi::Env env, Napi::Object exports);  // glue_witness.cc: the fslock command
#endif
}  // namespace fslock

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  using namespace fslock;
  os::Init();
  env.SetInstanceData(new AddonData());
  exports.Set("setOut", Napi::Function::New(env, SetOut, "setOut"));
  exports.Set("lastSyscall", Napi::Function::New(env, LastSyscall, "lastSyscall"));
  InitLocks(env, exports);
  InitWaiter(env, exports);
  InitAtomic(env, exports);
  InitLockCheck(env, exports);
#ifndef _WIN32
  InitWitness(env, exports);
#endif
  return exports;
}

NODE_API_MODULE(fslock, InitModule)
