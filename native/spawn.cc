// spawn(): fork(2) and execve(2) the main child with a clean signal state.
//
// posix_spawn(3) is not used: glibc's implementation leaves its internal
// signals 32 and 33 ignored in the child, and ignored dispositions survive
// execve, so the workload would start with a non-empty SigIgn. fork gives
// full control, at the price that the child may only make async-signal-safe
// calls, because other threads may hold locks at the moment of the fork. All
// memory the child needs is therefore prepared before fork.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"
#include "glibc-floor.h"

namespace ts_init {

namespace {

constexpr size_t kMaxFds = 1024;
constexpr size_t kMaxSignals = 64;

// Report the child writes to the close-on-exec pipe when a step fails.
struct ChildFailure {
  int error;
  int step;
};

enum Step { kSetpgid, kTcsetpgrp, kExecve };
const char* const kStepNames[] = {"setpgid", "tcsetpgrp", "execve"};

struct SpawnPlan {
  std::vector<std::string> paths;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;
  std::vector<char*> envp;
  // Arguments for running a file without a #! line through /bin/sh, as
  // execvp(3) does: { "sh", path, args[1..] }. Slot 1 is filled in the child.
  std::vector<char*> shell_argv;
  int fds[kMaxFds];
  size_t fd_count = 0;
  sigset_t ignored;
  bool foreground = false;
};

bool ReadStrings(Napi::Value value, std::vector<std::string>* out) {
  if (!value.IsArray()) return false;
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    // A Buffer passes bytes that are not valid UTF-8 through unchanged.
    if (item.IsBuffer()) {
      Napi::Buffer<char> bytes = item.As<Napi::Buffer<char>>();
      out->push_back(std::string(bytes.Data(), bytes.Length()));
    } else if (item.IsString()) {
      out->push_back(item.As<Napi::String>().Utf8Value());
    } else {
      return false;
    }
  }
  return true;
}

std::vector<char*> PointersTo(std::vector<std::string>* strings) {
  std::vector<char*> pointers;
  for (std::string& s : *strings) pointers.push_back(&s[0]);
  pointers.push_back(nullptr);
  return pointers;
}

bool ReadPlan(const Napi::CallbackInfo& info, SpawnPlan* plan, const char* usage) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[3].IsObject() || !ReadStrings(info[0], &plan->paths) ||
      !ReadStrings(info[1], &plan->args) || !ReadStrings(info[2], &plan->env) ||
      plan->paths.empty() || plan->args.empty()) {
    ThrowUsage(env, usage);
    return false;
  }

  Napi::Object options = info[3].As<Napi::Object>();
  if (!ReadIntArray(env, options.Get("fds"), plan->fds, kMaxFds, &plan->fd_count, usage)) {
    return false;
  }

  int ignored[kMaxSignals];
  size_t ignored_count = 0;
  if (!ReadIntArray(env, options.Get("ignoredSignals"), ignored, kMaxSignals, &ignored_count,
                    usage)) {
    return false;
  }
  sigemptyset(&plan->ignored);
  for (size_t i = 0; i < ignored_count; i++) sigaddset(&plan->ignored, ignored[i]);

  plan->foreground = options.Get("foreground").ToBoolean().Value();

  plan->argv = PointersTo(&plan->args);
  plan->envp = PointersTo(&plan->env);
  plan->shell_argv.push_back(const_cast<char*>("sh"));
  plan->shell_argv.push_back(nullptr);
  for (size_t i = 1; i < plan->args.size(); i++) plan->shell_argv.push_back(plan->argv[i]);
  plan->shell_argv.push_back(nullptr);
  return true;
}

[[noreturn]] void FailChild(int pipe_fd, int error, Step step) {
  ChildFailure failure = {error, step};
  ssize_t written;
  do {
    written = write(pipe_fd, &failure, sizeof failure);
  } while (written < 0 && errno == EINTR);
  _exit(127);
}

// Runs in the forked child with every signal blocked. Async-signal-safe
// calls only.
[[noreturn]] void RunChild(SpawnPlan* plan, int pipe_fd) {
  if (setpgid(0, 0) < 0) FailChild(pipe_fd, errno, kSetpgid);

  // The child makes itself the foreground group, so Ctrl-C and Ctrl-Z from
  // the terminal reach the workload. Doing it here rather than in the parent
  // closes the window in which the child could read the terminal from the
  // background. SIGTTOU is blocked, so the call cannot stop this process.
  // ENOTTY and ENXIO mean there is no controlling terminal: nothing to do.
  if (plan->foreground && tcsetpgrp(0, getpid()) < 0 && errno != ENOTTY && errno != ENXIO) {
    FailChild(pipe_fd, errno, kTcsetpgrp);
  }

  // Handlers do not survive execve, but ignored signals do. Each signal gets
  // the disposition ts-init was started with: ignored if it was inherited as
  // ignored, the default otherwise. sigaction rejects SIGKILL, SIGSTOP and
  // libc's internal signals, which need nothing.
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction action = {};
    action.sa_handler = sigismember(&plan->ignored, sig) == 1 ? SIG_IGN : SIG_DFL;
    sigaction(sig, &action, nullptr);
  }

  // Node marks every inherited descriptor close-on-exec at startup; those
  // that ts-init itself inherited are handed on, the rest of ts-init's own
  // descriptors close at execve.
  for (size_t i = 0; i < plan->fd_count; i++) {
    int flags = fcntl(plan->fds[i], F_GETFD);
    if (flags >= 0) fcntl(plan->fds[i], F_SETFD, flags & ~FD_CLOEXEC);
  }

  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);

  // The PATH search of execvp(3): EACCES on one candidate is remembered while
  // the search goes on, a missing file moves to the next candidate, and any
  // other error ends the search.
  int error = ENOENT;
  bool saw_eacces = false;
  for (std::string& path : plan->paths) {
    execve(path.c_str(), plan->argv.data(), plan->envp.data());
    error = errno;
    if (error == ENOEXEC) {
      plan->shell_argv[1] = &path[0];
      execve("/bin/sh", plan->shell_argv.data(), plan->envp.data());
      error = errno;
    }
    if (error == EACCES) {
      saw_eacces = true;
    } else if (error != ENOENT && error != ENOTDIR && error != ESTALE && error != ENODEV &&
               error != ETIMEDOUT) {
      break;
    }
  }
  FailChild(pipe_fd, saw_eacces && (error == ENOENT || error == ENOTDIR) ? EACCES : error,
            kExecve);
}

// Reads the child's report. End of file means execve succeeded and closed
// the pipe; a full record means a step failed and the child exits.
bool ReadChildFailure(int pipe_fd, ChildFailure* failure) {
  size_t received = 0;
  char* buffer = reinterpret_cast<char*>(failure);
  while (received < sizeof *failure) {
    ssize_t n = read(pipe_fd, buffer + received, sizeof *failure - received);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    received += static_cast<size_t>(n);
  }
  return received == sizeof *failure;
}

// spawn(paths, argv, envp, { fds, ignoredSignals, foreground }): starts the
// (strings or Buffers)
// first of paths that execve accepts, in a new process group, and returns its
// pid. On failure it throws with syscall set to the failed step; the failed
// child has already been reaped, so nothing is left behind.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage =
      "spawn(paths: string[], argv: string[], envp: (string | Buffer)[], "
      "options: { fds: number[], ignoredSignals: number[], foreground: boolean })";

  SpawnPlan plan;
  if (!ReadPlan(info, &plan, usage)) return env.Undefined();

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
    ThrowErrno(env, errno, "pipe2");
    return env.Undefined();
  }

  // With every signal blocked across fork, no handler inherited from Node
  // can run in the child before the dispositions are reset.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = fork();
  if (pid == 0) RunChild(&plan, pipe_fds[1]);
  int fork_error = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  close(pipe_fds[1]);

  if (pid < 0) {
    close(pipe_fds[0]);
    ThrowErrno(env, fork_error, "fork");
    return env.Undefined();
  }

  ChildFailure failure;
  bool failed = ReadChildFailure(pipe_fds[0], &failure);
  close(pipe_fds[0]);
  if (!failed) return Napi::Number::New(env, pid);

  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ThrowErrno(env, failure.error, kStepNames[failure.step]);
  return env.Undefined();
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
}

}  // namespace ts_init
