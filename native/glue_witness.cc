// Node-API glue of the fslock command: its signal witness (native/posix_witness.cc) and,
// on Linux, its COMMAND (native/posix_command.cc). POSIX only; lib/cli/witness.ts and
// lib/cli/cli-spawn.ts check the arguments and decide what to do with results.
#include <string>
#include <vector>

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

#ifdef __linux__
// spawnCommand(file: string, argv: string[], lockFd: number): pid or -errno.
Napi::Value SpawnCommand(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string file = info[0].As<Napi::String>().Utf8Value();
  auto list = info[1].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < list.Length(); i++)
    args.push_back(list.Get(i).As<Napi::String>().Utf8Value());
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  const char *sc = "";
  return Num(env, Fail(env, os::SpawnCommand(file.c_str(), argv.data(), I32(info, 2), &sc), sc));
}

// waitChild(pid, out: Int32Array): pid (ended: out = [exit code or -1, signal or 0]),
// 0 (still running) or -errno.
Napi::Value WaitChild(const Napi::CallbackInfo &info) {
  auto out = info[1].As<Napi::Int32Array>();
  int status[2] = {-1, 0};
  const char *sc = "";
  int r = os::WaitChild(I32(info, 0), status, &sc);
  if (r > 0) {
    out[0] = status[0];
    out[1] = status[1];
  }
  return Num(info.Env(), Fail(info.Env(), r, sc));
}
#endif

}  // namespace

void InitWitness(Napi::Env env, Napi::Object exports) {
  exports.Set("witnessStart", Napi::Function::New(env, WitnessStart, "witnessStart"));
  exports.Set("reapChild", Napi::Function::New(env, ReapChild, "reapChild"));
#ifdef __linux__
  exports.Set("spawnCommand", Napi::Function::New(env, SpawnCommand, "spawnCommand"));
  exports.Set("waitChild", Napi::Function::New(env, WaitChild, "waitChild"));
#endif
}

}  // namespace fslock
