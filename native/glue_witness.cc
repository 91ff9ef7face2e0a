// Node-API glue of the fslock command's signal witness (native/posix_witness.cc). POSIX
// only; lib/cli/witness.ts checks the arguments and decides what to do with results.
#include "glue.h"
#include "witness.h"

namespace fslock {
namespace {

// witnessStart(signals: number[], maxFd: number, sharedVm: boolean, fds: Int32Array):
// pid or -errno; fds gets [query write end, answer read end].
Napi::Value WitnessStart(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto list = info[0].As<Napi::Array>();
  int signals[os::kWitnessMaxSignals];
  int n = 0;
  for (uint32_t i = 0; i < list.Length() && n < os::kWitnessMaxSignals; i++)
    signals[n++] = list.Get(i).As<Napi::Number>().Int32Value();
  auto fds = info[3].As<Napi::Int32Array>();
  int out[2] = {-1, -1};
  const char *sc = "";
  int r = os::StartWitness(signals, n, I32(info, 1), info[2].As<Napi::Boolean>().Value(), out, &sc);
  if (r > 0) {
    fds[0] = out[0];
    fds[1] = out[1];
  }
  return Num(env, Fail(env, r, sc));
}

// reapChild(pid): pid (reaped), 0 (still running) or -errno.
Napi::Value ReapChild(const Napi::CallbackInfo &info) {
  const char *sc = "";
  return Num(info.Env(), Fail(info.Env(), os::ReapChild(I32(info, 0), &sc), sc));
}

}  // namespace

void InitWitness(Napi::Env env, Napi::Object exports) {
  exports.Set("witnessStart", Napi::Function::New(env, WitnessStart, "witnessStart"));
  exports.Set("reapChild", Napi::Function::New(env, ReapChild, "reapChild"));
}

}  // namespace fslock
