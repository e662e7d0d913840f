// Errors shaped like Node's own system errors, so TypeScript can branch on
// err.code exactly as it does for fs and net failures.

#ifndef TS_INIT_ERRORS_H_
#define TS_INIT_ERRORS_H_

#include <napi.h>

namespace ts_init {

// Throws an Error with message "<CODE>: <strerror>, <syscall>" and the
// properties code, errno (negative, as libuv reports it) and syscall.
void ThrowErrno(Napi::Env env, int error, const char* syscall);

// Throws a TypeError whose message is the expected call signature.
void ThrowUsage(Napi::Env env, const char* usage);

// Reads an array of small non-negative integers (signal numbers, fds).
// Returns false after throwing when the value is not such an array.
bool ReadIntArray(Napi::Env env, Napi::Value value, int* out, size_t capacity,
                  size_t* count, const char* usage);

}  // namespace ts_init

#endif  // TS_INIT_ERRORS_H_
