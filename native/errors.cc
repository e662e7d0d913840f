#include "errors.h"

#include <string.h>
#include <uv.h>

#include <string>

namespace ts_init {

namespace {

// libuv's uv_err_name() has no entry for some errnos these calls return
// (ECHILD among them), so the names come from this table first.
#define ERRNO_NAME(name) {name, #name}
const struct {
  int number;
  const char* name;
} kErrnoNames[] = {
    ERRNO_NAME(EPERM),   ERRNO_NAME(ENOENT),  ERRNO_NAME(ESRCH),        ERRNO_NAME(EINTR),
    ERRNO_NAME(EIO),     ERRNO_NAME(ENXIO),   ERRNO_NAME(E2BIG),        ERRNO_NAME(ENOEXEC),
    ERRNO_NAME(EBADF),   ERRNO_NAME(ECHILD),  ERRNO_NAME(EAGAIN),       ERRNO_NAME(ENOMEM),
    ERRNO_NAME(EACCES),  ERRNO_NAME(EFAULT),  ERRNO_NAME(EBUSY),        ERRNO_NAME(EEXIST),
    ERRNO_NAME(ENODEV),  ERRNO_NAME(ENOTDIR), ERRNO_NAME(EISDIR),       ERRNO_NAME(EINVAL),
    ERRNO_NAME(ENFILE),  ERRNO_NAME(EMFILE),  ERRNO_NAME(ENOTTY),       ERRNO_NAME(ETXTBSY),
    ERRNO_NAME(ENOSPC),  ERRNO_NAME(EROFS),   ERRNO_NAME(EPIPE),        ERRNO_NAME(ERANGE),
    ERRNO_NAME(ENOSYS),  ERRNO_NAME(ELOOP),   ERRNO_NAME(ENAMETOOLONG), ERRNO_NAME(ESTALE),
    ERRNO_NAME(ETIMEDOUT), ERRNO_NAME(ELIBBAD), ERRNO_NAME(EOPNOTSUPP),
};
#undef ERRNO_NAME

const char* ErrnoName(int error) {
  for (const auto& entry : kErrnoNames) {
    if (entry.number == error) return entry.name;
  }
  return uv_err_name(-error);
}

}  // namespace

void ThrowErrno(Napi::Env env, int error, const char* syscall) {
  const char* code = ErrnoName(error);
  std::string message = std::string(code) + ": " + strerror(error) + ", " + syscall;

  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("errno", Napi::Number::New(env, -error));
  err.Set("syscall", Napi::String::New(env, syscall));
  err.ThrowAsJavaScriptException();
}

void ThrowUsage(Napi::Env env, const char* usage) {
  Napi::TypeError::New(env, std::string("usage: ") + usage).ThrowAsJavaScriptException();
}

bool ReadIntArray(Napi::Env env, Napi::Value value, int* out, size_t capacity,
                  size_t* count, const char* usage) {
  if (!value.IsArray()) {
    ThrowUsage(env, usage);
    return false;
  }

  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() > capacity) {
    ThrowUsage(env, usage);
    return false;
  }

  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber() || item.As<Napi::Number>().Int32Value() < 0) {
      ThrowUsage(env, usage);
      return false;
    }
    out[i] = item.As<Napi::Number>().Int32Value();
  }

  *count = array.Length();
  return true;
}

}  // namespace ts_init
