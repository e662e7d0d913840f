#ifndef TS_INIT_ADDON_H_
#define TS_INIT_ADDON_H_

#include <napi.h>

namespace ts_init {

void InitProcess(Napi::Env env, Napi::Object exports);
void InitSignals(Napi::Env env, Napi::Object exports);
void InitSpawn(Napi::Env env, Napi::Object exports);

}  // namespace ts_init

#endif  // TS_INIT_ADDON_H_
