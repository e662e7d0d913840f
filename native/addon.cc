// The ts-init addon: thin wrappers over the process and signal calls that
// Node does not expose. No policy, no logging, and nothing that aborts:
// a crash here would end PID 1 and with it the whole container.

#include <napi.h>

#include "addon.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ts_init::InitProcess(env, exports);
  ts_init::InitSignals(env, exports);
  ts_init::InitSpawn(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(ts_init, Init)
