// Process calls Node does not expose: waitpid(2), kill(2), getpgid(2),
// pidfd_open(2), pidfd_send_signal(2), prctl(2) for the child subreaper
// and parent-death signal, and _exit(2). Each wraps one system call and reports failure
// through ThrowErrno; the decisions stay in TypeScript.

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addon.h"
#include "errors.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace ts_init {

namespace {

bool IsInt(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].IsNumber();
}

int IntArg(const Napi::CallbackInfo& info, size_t index) {
  return info[index].As<Napi::Number>().Int32Value();
}

// waitpid(pid, options): null when WNOHANG finds no exited child, else
// { pid, code, signal, coreDumped } with code or signal null as the status says.
Napi::Value Waitpid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0) || !IsInt(info, 1)) {
    ThrowUsage(env, "waitpid(pid: number, options: number)");
    return env.Undefined();
  }

  int status = 0;
  pid_t pid;
  // A blocking wait can be interrupted by a signal handler installed by Node;
  // retrying keeps the call's meaning unchanged.
  do {
    pid = waitpid(IntArg(info, 0), &status, IntArg(info, 1));
  } while (pid < 0 && errno == EINTR);

  if (pid < 0) {
    ThrowErrno(env, errno, "waitpid");
    return env.Undefined();
  }
  if (pid == 0) return env.Null();

  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, pid));
  result.Set("code", WIFEXITED(status) ? Napi::Number::New(env, WEXITSTATUS(status)) : env.Null());
  result.Set("signal", WIFSIGNALED(status) ? Napi::Number::New(env, WTERMSIG(status)) : env.Null());
  result.Set("coreDumped", Napi::Boolean::New(env, WIFSIGNALED(status) && WCOREDUMP(status)));
  return result;
}

Napi::Value Kill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0) || !IsInt(info, 1)) {
    ThrowUsage(env, "kill(pid: number, signal: number)");
    return env.Undefined();
  }

  if (kill(IntArg(info, 0), IntArg(info, 1)) < 0) ThrowErrno(env, errno, "kill");
  return env.Undefined();
}

Napi::Value Getpgid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) {
    ThrowUsage(env, "getpgid(pid: number)");
    return env.Undefined();
  }

  pid_t pgid = getpgid(IntArg(info, 0));
  if (pgid < 0) {
    ThrowErrno(env, errno, "getpgid");
    return env.Undefined();
  }
  return Napi::Number::New(env, pgid);
}

// pidfd_open(pid, flags): a descriptor that keeps naming this process even
// after its pid is reused. The caller closes it with fs.closeSync.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0) || !IsInt(info, 1)) {
    ThrowUsage(env, "pidfdOpen(pid: number, flags: number)");
    return env.Undefined();
  }

  long fd = syscall(SYS_pidfd_open, IntArg(info, 0), IntArg(info, 1));
  if (fd < 0) {
    ThrowErrno(env, errno, "pidfd_open");
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(fd));
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0) || !IsInt(info, 1)) {
    ThrowUsage(env, "pidfdSendSignal(pidfd: number, signal: number)");
    return env.Undefined();
  }

  if (syscall(SYS_pidfd_send_signal, IntArg(info, 0), IntArg(info, 1), nullptr, 0) < 0) {
    ThrowErrno(env, errno, "pidfd_send_signal");
  }
  return env.Undefined();
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) {
    ThrowUsage(env, "setChildSubreaper(enabled: boolean)");
    return env.Undefined();
  }

  unsigned long enabled = info[0].As<Napi::Boolean>().Value() ? 1 : 0;
  if (prctl(PR_SET_CHILD_SUBREAPER, enabled, 0, 0, 0) < 0) ThrowErrno(env, errno, "prctl");
  return env.Undefined();
}

Napi::Value GetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int enabled = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &enabled, 0, 0, 0) < 0) {
    ThrowErrno(env, errno, "prctl");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, enabled != 0);
}

Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) {
    ThrowUsage(env, "setParentDeathSignal(signal: number)");
    return env.Undefined();
  }

  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(IntArg(info, 0)), 0, 0, 0) < 0) {
    ThrowErrno(env, errno, "prctl");
  }
  return env.Undefined();
}

// _exit(status): ends the process at once, like _exit(2). Node's own exit
// path would first restore the terminal attributes it saw at start-up,
// undoing whatever the workload set (stty -echo, raw mode) on a shared
// terminal. ts-init's logs are written synchronously, so nothing is lost.
Napi::Value Exit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!IsInt(info, 0)) {
    ThrowUsage(env, "_exit(status: number)");
    return env.Undefined();
  }
  _exit(IntArg(info, 0));
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("waitpid", Napi::Function::New(env, Waitpid, "waitpid"));
  exports.Set("kill", Napi::Function::New(env, Kill, "kill"));
  exports.Set("getpgid", Napi::Function::New(env, Getpgid, "getpgid"));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper, "setChildSubreaper"));
  exports.Set("getChildSubreaper", Napi::Function::New(env, GetChildSubreaper, "getChildSubreaper"));
  exports.Set("setParentDeathSignal",
              Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
  exports.Set("_exit", Napi::Function::New(env, Exit, "_exit"));
  exports.Set("WNOHANG", Napi::Number::New(env, WNOHANG));
}

}  // namespace ts_init
