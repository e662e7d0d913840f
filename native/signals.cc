// Signal reception for a multi-threaded Node process.
//
// The kernel delivers a process-directed signal to any thread that does not
// block it, and Node starts several threads (V8 workers, the inspector's
// signal thread, libuv's pool) before any addon runs. sigwaitinfo(2) only
// sees a signal that no thread would take, so blockSignals() adds the set to
// the mask of every thread, and watchSignals() starts one detached thread
// that waits in sigwaitinfo and hands each signal to JavaScript through a
// thread-safe function. Man pages: sigwaitinfo(2), pthread_sigmask(3),
// tgkill(2), sigaction(2), sem_timedwait(3).

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <new>

#include "addon.h"
#include "errors.h"
#include "glibc-floor.h"

namespace ts_init {

namespace {

constexpr size_t kMaxSignals = 64;
constexpr size_t kMaxThreads = 1024;

// A signal that ts-init never forwards, borrowed for a moment to run a
// handler on each thread. SIGSYS is raised by the kernel only for seccomp
// traps, which Node does not install.
constexpr int kHandshakeSignal = SIGSYS;

sigset_t blocked_set;
sem_t handshake_done;

// Runs on the target thread. Changing the mask with pthread_sigmask here
// would be undone by sigreturn, which restores uc_sigmask; editing
// uc_sigmask makes the kernel install the wider mask on return.
void AddSetOnReturn(int, siginfo_t*, void* context) {
  ucontext_t* uc = static_cast<ucontext_t*>(context);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sigismember(&blocked_set, sig) == 1) sigaddset(&uc->uc_sigmask, sig);
  }
  sem_post(&handshake_done);
}

bool ReadSignalSet(Napi::Env env, Napi::Value value, sigset_t* set, const char* usage) {
  int signals[kMaxSignals];
  size_t count = 0;
  if (!ReadIntArray(env, value, signals, kMaxSignals, &count, usage)) return false;

  sigemptyset(set);
  for (size_t i = 0; i < count; i++) {
    if (sigaddset(set, signals[i]) < 0) {
      ThrowErrno(env, errno, "sigaddset");
      return false;
    }
  }
  return true;
}

int WaitForHandshake() {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 2;

  while (sem_timedwait(&handshake_done, &deadline) < 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

// blockSignals(signals, threadIds): blocks the set in the calling thread,
// then in each listed thread of this process. Throws on the first thread
// that cannot be reached; ESRCH (the thread has exited) is not an error.
Napi::Value BlockSignals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "blockSignals(signals: number[], threadIds: number[])";
  if (info.Length() < 2) {
    ThrowUsage(env, usage);
    return env.Undefined();
  }

  if (!ReadSignalSet(env, info[0], &blocked_set, usage)) return env.Undefined();
  int tids[kMaxThreads];
  size_t tid_count = 0;
  if (!ReadIntArray(env, info[1], tids, kMaxThreads, &tid_count, usage)) return env.Undefined();

  int error = pthread_sigmask(SIG_BLOCK, &blocked_set, nullptr);
  if (error != 0) {
    ThrowErrno(env, error, "pthread_sigmask");
    return env.Undefined();
  }

  if (sem_init(&handshake_done, 0, 0) < 0) {
    ThrowErrno(env, errno, "sem_init");
    return env.Undefined();
  }

  struct sigaction handshake = {};
  struct sigaction previous = {};
  handshake.sa_sigaction = AddSetOnReturn;
  handshake.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&handshake.sa_mask);
  if (sigaction(kHandshakeSignal, &handshake, &previous) < 0) {
    ThrowErrno(env, errno, "sigaction");
    sem_destroy(&handshake_done);
    return env.Undefined();
  }

  // All threads are signalled first and the acknowledgements collected
  // afterwards, so the threads run their handlers in parallel.
  pid_t self = getpid();
  const char* failed_call = nullptr;
  size_t signalled = 0;
  for (size_t i = 0; i < tid_count && failed_call == nullptr; i++) {
    if (syscall(SYS_tgkill, self, tids[i], kHandshakeSignal) == 0) {
      signalled++;
    } else if (errno != ESRCH) {
      error = errno;
      failed_call = "tgkill";
    }
  }
  for (size_t i = 0; i < signalled && failed_call == nullptr; i++) {
    if ((error = WaitForHandshake()) != 0) failed_call = "sem_timedwait";
  }

  sigaction(kHandshakeSignal, &previous, nullptr);
  // A handshake that timed out may still post later; the semaphore must
  // outlive it, so it is left initialised rather than destroyed.
  if (failed_call != nullptr) ThrowErrno(env, error, failed_call);
  return env.Undefined();
}

struct SignalEvent {
  int error;
  int signo;
  int code;
  pid_t pid;
  uid_t uid;
  // Outcome of the thread's own forward: the signal sent with kill(2) to
  // forward_target (0 if none), and the errno if kill failed.
  int forwarded;
  pid_t forward_target;
  int forward_error;
};

// Set by setForwarding: the kill(2) pid argument (0 turns forwarding off)
// and, for each received signal, the signal to send (0: leave it to
// JavaScript).
std::atomic<pid_t> forward_target{0};
std::atomic<int> forward_as[kMaxSignals + 1];

void ForwardInThread(SignalEvent* event) {
  pid_t target = forward_target.load();
  int send = event->signo > 0 && event->signo <= static_cast<int>(kMaxSignals)
                 ? forward_as[event->signo].load()
                 : 0;
  if (target == 0 || send <= 0) return;

  event->forward_target = target;
  if (kill(target, send) == 0) {
    event->forwarded = send;
  } else {
    event->forward_error = errno;
  }
}

struct Watcher {
  sigset_t set;
  Napi::ThreadSafeFunction tsfn;
};

void DeliverEvent(Napi::Env env, Napi::Function callback, SignalEvent* event) {
  if (env != nullptr && callback != nullptr) {
    Napi::Object info = Napi::Object::New(env);
    info.Set("signal", Napi::Number::New(env, event->signo));
    info.Set("code", Napi::Number::New(env, event->code));
    info.Set("pid", Napi::Number::New(env, event->pid));
    info.Set("uid", Napi::Number::New(env, event->uid));
    info.Set("forwarded", Napi::Number::New(env, event->forwarded));
    info.Set("forwardTarget", Napi::Number::New(env, event->forward_target));
    if (event->forward_error != 0) {
      ThrowErrno(env, event->forward_error, "kill");
      info.Set("forwardError", env.GetAndClearPendingException().Value());
    } else {
      info.Set("forwardError", env.Null());
    }

    if (event->error != 0) {
      // The callback's first argument is the error, as in Node callbacks.
      ThrowErrno(env, event->error, "sigwaitinfo");
      Napi::Error error = env.GetAndClearPendingException();
      callback.Call({error.Value(), env.Null()});
    } else {
      callback.Call({env.Null(), info});
    }
  }
  delete event;
}

void* WatchLoop(void* arg) {
  Watcher* watcher = static_cast<Watcher*>(arg);

  for (;;) {
    siginfo_t info;
    int signo = sigwaitinfo(&watcher->set, &info);
    // EINTR comes from the handshake signal or a debugger stop; the wait
    // simply resumes.
    if (signo < 0 && errno == EINTR) continue;

    SignalEvent* event = new (std::nothrow) SignalEvent();
    if (event == nullptr) continue;
    event->error = signo < 0 ? errno : 0;
    event->signo = signo < 0 ? 0 : signo;
    event->code = signo < 0 ? 0 : info.si_code;
    event->pid = signo < 0 ? 0 : info.si_pid;
    event->uid = signo < 0 ? 0 : info.si_uid;
    if (signo > 0) ForwardInThread(event);

    // The main thread owns the event once it is queued and may free it at
    // any moment, so everything needed afterwards is read before the call.
    bool failed = event->error != 0;

    // napi_closing means the environment is shutting down: nobody is left
    // to receive signals, so the thread ends.
    if (watcher->tsfn.NonBlockingCall(event, DeliverEvent) != napi_ok) {
      delete event;
      break;
    }
    if (failed) break;
  }

  watcher->tsfn.Release();
  return nullptr;
}

// watchSignals(signals, callback): starts the detached sigwaitinfo thread.
// The signals must already be blocked in every thread (blockSignals). The
// callback receives (error, { signal, code, pid, uid }) on the main thread.
Napi::Value WatchSignals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "watchSignals(signals: number[], callback: (error, info) => void)";
  if (info.Length() < 2 || !info[1].IsFunction()) {
    ThrowUsage(env, usage);
    return env.Undefined();
  }

  Watcher* watcher = new (std::nothrow) Watcher();
  if (watcher == nullptr) {
    ThrowErrno(env, ENOMEM, "watchSignals");
    return env.Undefined();
  }
  if (!ReadSignalSet(env, info[0], &watcher->set, usage)) {
    delete watcher;
    return env.Undefined();
  }

  // Queue size 0 means unbounded: a burst of queued real-time signals must
  // not be dropped while the main thread is busy.
  watcher->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(),
                                                "ts-init signal watcher", 0, 1);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int error = pthread_create(&thread, &attr, WatchLoop, watcher);
  pthread_attr_destroy(&attr);

  if (error != 0) {
    watcher->tsfn.Release();
    ThrowErrno(env, error, "pthread_create");
  }
  // The watcher lives as long as the process: the thread owns it and the
  // process ends with exit_group, which takes the thread with it.
  return env.Undefined();
}

// setForwarding(target, forwardAs): from now on the signal thread sends
// forwardAs[n] to kill(target, ...) when it receives signal n, before
// reporting it. A target of 0 or a forwardAs entry of 0 leaves the signal to
// JavaScript alone.
Napi::Value SetForwarding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "setForwarding(target: number, forwardAs: number[])";
  if (info.Length() < 2 || !info[0].IsNumber()) {
    ThrowUsage(env, usage);
    return env.Undefined();
  }

  int table[kMaxSignals + 1];
  size_t count = 0;
  if (!ReadIntArray(env, info[1], table, kMaxSignals + 1, &count, usage)) return env.Undefined();

  for (size_t sig = 0; sig <= kMaxSignals; sig++) forward_as[sig].store(sig < count ? table[sig] : 0);
  forward_target.store(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

}  // namespace

void InitSignals(Napi::Env env, Napi::Object exports) {
  exports.Set("blockSignals", Napi::Function::New(env, BlockSignals, "blockSignals"));
  exports.Set("watchSignals", Napi::Function::New(env, WatchSignals, "watchSignals"));
  exports.Set("setForwarding", Napi::Function::New(env, SetForwarding, "setForwarding"));
  exports.Set("SIGRTMIN", Napi::Number::New(env, SIGRTMIN));
  exports.Set("SIGRTMAX", Napi::Number::New(env, SIGRTMAX));
}

}  // namespace ts_init
