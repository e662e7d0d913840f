#!/usr/bin/env node
// Benchmark of ts-init against tini, measured in one run and interleaved so
// that both see the same machine load. Run as root: node bench/run.js
//
// Measures start-up time, memory, idle wake-ups, signal forwarding latency
// and zombie reaping speed, and prints each with the ratio ts-init/tini and
// whether the project's target is met. It only reports: it exits 0 whatever
// the numbers are, and 1 only when it cannot run at all (not root, no
// unshare, no tini). bench/README.md explains every measurement.
//
// Settings, as environment variables (defaults in parentheses):
//   BENCH_STARTUP_RUNS  start-up runs per command (20)
//   BENCH_MEMORY_RUNS   memory and idle trials (5)
//   BENCH_SIGNALS       forwarded signals per init (200)
//   BENCH_ORPHANS       orphans per reaping trial (1000)
//   BENCH_REAP_RUNS     reaping trials per init (9)

'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const TS_INIT = path.resolve(__dirname, '..', 'bin', 'ts-init');

// bin/ts-init moves every NODE_* and UV_* variable aside before it starts
// Node, so the Node baselines must run without them too. NODE_EXTRA_CA_CERTS
// alone, for example, makes `node -e 0` load a certificate bundle and costs
// tens of milliseconds that ts-init's own Node never spends.
const REMOVED_VARIABLES = Object.keys(process.env).filter((name) => /^(NODE|UV)_/.test(name));
const ENVIRONMENT = Object.fromEntries(Object.entries(process.env).filter(([name]) => !REMOVED_VARIABLES.includes(name)));
const TINI = ['tini', '-g'];
const NAMESPACE = ['env', '--default-signal', 'unshare', '--pid', '--fork', '--mount-proc'];

function setting(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    console.error(`invalid ${name}=${value}: expected a positive integer`);
    process.exit(1);
  }
  return number;
}

const STARTUP_RUNS = setting('BENCH_STARTUP_RUNS', 20);
const MEMORY_RUNS = setting('BENCH_MEMORY_RUNS', 5);
const SIGNALS = setting('BENCH_SIGNALS', 200);
const ORPHANS = setting('BENCH_ORPHANS', 1000);
const REAP_RUNS = setting('BENCH_REAP_RUNS', 9);

// Signals sent before the measured ones, so that the first calls through
// ts-init's JavaScript path (compiled lazily by V8) are not counted.
const WARMUP_SIGNALS = 10;
const SIGNAL_SPACING_MS = 5;
const SETTLE_MS = 1000;
const IDLE_WINDOW_MS = 3000;
// Reaping under ts-init counts as "as fast as tini" up to this ratio. The
// 25 % margin is a guess at the noise between trials on a shared machine.
// NOTE: the margin is not derived from measured variance.
const REAP_TOLERANCE = 1.25;

// ---------------------------------------------------------------------------
// Statistics

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

const median = (values) => quantile(values, 0.5);
const interquartileRange = (values) => quantile(values, 0.75) - quantile(values, 0.25);

// ---------------------------------------------------------------------------
// Processes: every process the benchmark starts is tracked here, so that
// exit, an error or SIGINT, SIGTERM or SIGHUP ends each of them by pid.

const started = new Set();

function track(child) {
  started.add(child);
  child.on('exit', () => started.delete(child));
  return child;
}

function killQuietly(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** SIGKILLs every process this benchmark started and has not seen exit. */
function killStarted() {
  for (const child of started) {
    // SIGKILL to PID 1 of a namespace ends every process in it.
    if (child.initPid !== undefined) killQuietly(child.initPid, 'SIGKILL');
    killQuietly(child.pid, 'SIGKILL');
  }
}

process.on('exit', killStarted);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`received ${signal}; stopping the processes this benchmark started`);
    killStarted();
    process.exit(130);
  });
}

function sleep(milliseconds) {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Polls condition every 5 ms until it returns a value other than undefined, or throws after timeoutMs. */
async function pollFor(what, timeoutMs, condition) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = condition();
    if (value !== undefined) return value;
    await sleep(5);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function readOrUndefined(file) {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

/** Lists the children of pid, from the children files of all its threads. */
function childrenOf(pid) {
  let threads;
  try {
    threads = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const children = [];
  for (const thread of threads) {
    const text = readOrUndefined(`/proc/${pid}/task/${thread}/children`) ?? '';
    for (const word of text.split(' ')) if (word.trim() !== '') children.push(Number(word));
  }
  return children;
}

function commandName(pid) {
  return readOrUndefined(`/proc/${pid}/comm`)?.trim();
}

/**
 * Starts command as PID 1 of a fresh PID namespace and resolves once its
 * host pid is known (child.initPid). stdout is a pipe when requested.
 */
async function startInNamespace(command, { stdout = 'ignore' } = {}) {
  const child = track(spawn(NAMESPACE[0], [...NAMESPACE.slice(1), ...command], { stdio: ['ignore', stdout, 'pipe'], env: ENVIRONMENT }));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => {
    if (stderr.length < 10000) stderr += text;
  });
  child.stderrText = () => stderr;
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

  const initPid = await pollFor(`the init of ${command.join(' ')} to start`, 10000, () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${command.join(' ')} exited before it could be measured: ${stderr.trim()}`);
    }
    return childrenOf(child.pid)[0];
  });
  child.initPid = initPid;
  return child;
}

/** Ends a namespace started by startInNamespace and waits (bounded) for it to exit. */
async function stopNamespace(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (child.initPid !== undefined) killQuietly(child.initPid, 'SIGKILL');
  const exited = await Promise.race([child.exited, sleep(5000).then(() => false)]);
  if (exited === false) killQuietly(child.pid, 'SIGKILL');
}

/** Resolves with the exit of child, or rejects after timeoutMs. */
function exitWithin(child, timeoutMs, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} to exit`)), timeoutMs);
  });
  return Promise.race([child.exited, timeout]).finally(() => clearTimeout(timer));
}

/** Splits a stream into lines and hands them out one at a time, with a timeout. */
class LineReader {
  constructor(stream) {
    this.lines = [];
    this.waiting = undefined;
    this.buffer = '';
    this.ended = false;
    stream.setEncoding('utf8');
    stream.on('data', (text) => {
      this.buffer += text;
      let newline;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, newline));
        this.buffer = this.buffer.slice(newline + 1);
      }
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  wake() {
    if (this.waiting !== undefined && (this.lines.length > 0 || this.ended)) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve();
    }
  }

  async next(timeoutMs, what) {
    if (this.lines.length === 0 && !this.ended) {
      let timer;
      await new Promise((resolve, reject) => {
        this.waiting = resolve;
        timer = setTimeout(() => {
          this.waiting = undefined;
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
      }).finally(() => clearTimeout(timer));
    }
    if (this.lines.length === 0) throw new Error(`output ended while waiting for ${what}`);
    return this.lines.shift();
  }
}

// ---------------------------------------------------------------------------
// Helper programs, compiled at bench time into a temporary directory.

// Waits for SIGUSR1 and writes CLOCK_MONOTONIC in nanoseconds to stdout on
// each one. SIGTERM, 30 s without a signal, or the limit in argv[1] ends it.
const SIGNAL_ECHO_C = String.raw`
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void emit(const char *text) {
  size_t length = strlen(text);
  while (length > 0) {
    ssize_t written = write(1, text, length);
    if (written <= 0) exit(1);
    text += written;
    length -= (size_t)written;
  }
}

int main(int argc, char **argv) {
  long limit = argc > 1 ? atol(argv[1]) : 100000;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  emit("ready\n");

  struct timespec timeout = {30, 0};
  for (long received = 0; received < limit;) {
    int signal_number = sigtimedwait(&set, NULL, &timeout);
    if (signal_number < 0) return 2;
    if (signal_number != SIGUSR1) return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char line[32];
    snprintf(line, sizeof line, "%lld\n", (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    emit(line);
    received++;
  }
  return 0;
}
`;

// Makes argv[1] orphans and lets them all exit at once, then reports how
// long it took until /proc of the namespace shows only PID 1 and itself,
// that is until the init has reaped every one. Output: "<nanoseconds> <polls>".
const ORPHAN_MAKER_C = String.raw`
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* Numeric entries in /proc: processes of this namespace, zombies included. */
static int count_processes(void) {
  DIR *proc = opendir("/proc");
  if (proc == NULL) return -1;
  int count = 0;
  struct dirent *entry;
  while ((entry = readdir(proc)) != NULL) {
    if (entry->d_name[0] >= '0' && entry->d_name[0] <= '9') count++;
  }
  closedir(proc);
  return count;
}

int main(int argc, char **argv) {
  int orphans = argc > 1 ? atoi(argv[1]) : 1000;
  alarm(120); /* the default action of SIGALRM ends a run that hangs */

  int release[2], ready[2];
  if (pipe(release) < 0 || pipe(ready) < 0) { perror("pipe"); return 1; }

  pid_t spawner = fork();
  if (spawner < 0) { perror("fork"); return 1; }
  if (spawner == 0) {
    for (int i = 0; i < orphans; i++) {
      pid_t orphan = fork();
      if (orphan < 0) _exit(1);
      if (orphan == 0) {
        char byte = 'r';
        close(release[1]);
        close(ready[0]);
        if (write(ready[1], &byte, 1) != 1) _exit(1);
        close(ready[1]);
        /* Blocks until the last write end closes, then exits at once. */
        ssize_t unused = read(release[0], &byte, 1);
        (void)unused;
        _exit(0);
      }
    }
    _exit(0);
  }

  /* The spawner's exit re-parents every orphan to PID 1. */
  close(ready[1]);
  int status;
  if (waitpid(spawner, &status, 0) != spawner || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "orphan-maker: forking %d orphans failed\n", orphans);
    return 1;
  }
  char buffer[4096];
  for (long got = 0; got < orphans;) {
    ssize_t n = read(ready[0], buffer, sizeof buffer);
    if (n <= 0) { fprintf(stderr, "orphan-maker: only %ld orphans started\n", got); return 1; }
    got += n;
  }
  close(release[0]);

  long long released = now_ns();
  close(release[1]);

  long polls = 0;
  long long reaped = 0;
  struct timespec pause = {0, 20000};
  while (now_ns() - released < 60000000000LL) {
    polls++;
    if (count_processes() <= 2) { reaped = now_ns(); break; }
    nanosleep(&pause, NULL);
  }
  if (reaped == 0) { fprintf(stderr, "orphan-maker: zombies remained after 60 s\n"); return 1; }
  printf("%lld %ld\n", reaped - released, polls);
  return 0;
}
`;

// Runs argv[1..] and reports its wall time in nanoseconds and the CPU time
// (user plus system) of it and every descendant it reaped, in microseconds:
// "<wall ns> <cpu us> <wait status>". CPU time hardly depends on how busy
// the machine is, unlike wall time. A run longer than 30 s is SIGKILLed.
const TIMED_RUN_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;

static void kill_child(int unused) {
  (void)unused;
  kill(child, SIGKILL);
}

static long long now_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: timed-run program [args...]\n"); return 2; }
  long long started = now_ns();
  child = fork();
  if (child < 0) { perror("fork"); return 1; }
  if (child == 0) {
    execvp(argv[1], argv + 1);
    _exit(127);
  }

  signal(SIGALRM, kill_child);
  alarm(30);
  int status;
  struct rusage usage;
  while (wait4(child, &status, 0, &usage) < 0) {
    if (errno != EINTR) { perror("wait4"); return 1; }
  }
  long long wall = now_ns() - started;
  long long cpu = (long long)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000LL +
                  usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
  printf("%lld %lld %d\n", wall, cpu, status);
  return 0;
}
`;

/** Compiles the helper programs and returns their paths, or the reason they cannot be built. */
function buildHelpers(directory) {
  const compiler = spawnSync('sh', ['-c', 'command -v cc'], { encoding: 'utf8' });
  if (compiler.status !== 0) return { reason: 'no C compiler (cc) found' };

  const programs = {};
  const sources = [['signal-echo', SIGNAL_ECHO_C], ['orphan-maker', ORPHAN_MAKER_C], ['timed-run', TIMED_RUN_C]];
  for (const [name, source] of sources) {
    const sourceFile = path.join(directory, `${name}.c`);
    const binary = path.join(directory, name);
    fs.writeFileSync(sourceFile, source);
    const result = spawnSync('cc', ['-O2', '-Wall', '-o', binary, sourceFile], { encoding: 'utf8', timeout: 60000 });
    if (result.status !== 0) return { reason: `cc failed on ${name}.c: ${(result.stderr || result.error?.message || '').trim()}` };
    programs[name] = binary;
  }
  return { programs };
}

// ---------------------------------------------------------------------------
// 1. Start-up

/** Runs command in a fresh namespace and returns its wall time and, with timed-run, its CPU time, in ms. */
function timeOnce(command, timedRun) {
  const argv = [...NAMESPACE, ...command];
  if (timedRun === undefined) {
    const before = process.hrtime.bigint();
    const result = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', env: ENVIRONMENT, timeout: 30000 });
    const wallMs = Number(process.hrtime.bigint() - before) / 1e6;
    if (result.status !== 0) {
      throw new Error(`${command.join(' ')} failed: ${result.error?.message ?? `status ${result.status}, signal ${result.signal}`}`);
    }
    return { wallMs, cpuMs: NaN };
  }

  const result = spawnSync(timedRun, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: ENVIRONMENT, encoding: 'utf8', timeout: 60000 });
  const [wallNs, cpuUs, status] = (result.stdout ?? '').trim().split(' ').map(Number);
  if (result.status !== 0 || status !== 0) {
    const detail = result.error?.message ?? `wait status ${status}: ${(result.stderr ?? '').trim()}`;
    throw new Error(`${command.join(' ')} failed: ${detail}`);
  }
  return { wallMs: wallNs / 1e6, cpuMs: cpuUs / 1000 };
}

function measureStartup(timedRun) {
  const commands = {
    tsInit: [TS_INIT, '--', '/bin/true'],
    tini: [...TINI, '--', '/bin/true'],
    node: ['node', '-e', '0'],
    // The flag bin/ts-init passes to node, to tell Node's share from ts-init's.
    nodePool1: ['node', '--v8-pool-size=1', '-e', '0'],
    true: ['/bin/true'],
  };
  const names = Object.keys(commands);
  const samples = Object.fromEntries(names.map((name) => [name, { wallMs: [], cpuMs: [] }]));

  // One unmeasured round fills the page cache for every command.
  for (const name of names) timeOnce(commands[name], timedRun);

  for (let run = 0; run < STARTUP_RUNS; run++) {
    // The order rotates each round so no command always runs right after another.
    for (let i = 0; i < names.length; i++) {
      const name = names[(run + i) % names.length];
      const { wallMs, cpuMs } = timeOnce(commands[name], timedRun);
      samples[name].wallMs.push(wallMs);
      samples[name].cpuMs.push(cpuMs);
    }
  }
  return samples;
}

// ---------------------------------------------------------------------------
// 2 and 3. Memory and idle wake-ups

function memoryOf(pid) {
  const text = readOrUndefined(`/proc/${pid}/smaps_rollup`);
  if (text === undefined) throw new Error(`failed to read /proc/${pid}/smaps_rollup: the init exited early`);
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]);
  return { rssKiB: field('Rss'), privateDirtyKiB: field('Private_Dirty') };
}

/** Returns context switches per thread of pid (voluntary plus involuntary). */
function contextSwitchesOf(pid) {
  const switches = new Map();
  for (const thread of fs.readdirSync(`/proc/${pid}/task`)) {
    const status = readOrUndefined(`/proc/${pid}/task/${thread}/status`);
    if (status === undefined) continue;
    const voluntary = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1]);
    const involuntary = Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1]);
    switches.set(thread, voluntary + involuntary);
  }
  return switches;
}

/** Sums the increase per thread. A thread that started or ended in between counts in full. */
function wakeupsBetween(before, after) {
  let total = 0;
  for (const [thread, count] of after) total += count - (before.get(thread) ?? 0);
  for (const [thread, count] of before) if (!after.has(thread)) total += count;
  return total;
}

async function measureMemoryAndIdle() {
  const commands = {
    tsInit: [TS_INIT, '--', 'sleep', '300'],
    tini: [...TINI, '--', 'sleep', '300'],
    node: ['node', '-e', 'setTimeout(() => {}, 1e6)'],
    nodePool1: ['node', '--v8-pool-size=1', '-e', 'setTimeout(() => {}, 1e6)'],
  };
  const hasSleepingChild = new Set(['tsInit', 'tini']);
  const names = Object.keys(commands);
  const samples = Object.fromEntries(names.map((name) => [name, { rssKiB: [], privateDirtyKiB: [], wakeups: [], threads: [] }]));

  for (let run = 0; run < MEMORY_RUNS; run++) {
    // All four run at once, so they share the same load during the window.
    const running = {};
    try {
      for (const name of names) running[name] = await startInNamespace(commands[name]);
      for (const name of names) {
        const initPid = running[name].initPid;
        if (hasSleepingChild.has(name)) {
          await pollFor(`the sleep child of ${name}`, 10000, () =>
            childrenOf(initPid).some((pid) => commandName(pid) === 'sleep') ? true : undefined,
          ).catch((error) => {
            throw new Error(`${error.message}: ${running[name].stderrText().trim()}`);
          });
        }
      }

      await sleep(SETTLE_MS);
      const before = Object.fromEntries(names.map((name) => [name, contextSwitchesOf(running[name].initPid)]));
      await sleep(IDLE_WINDOW_MS);
      for (const name of names) {
        const initPid = running[name].initPid;
        const after = contextSwitchesOf(initPid);
        const memory = memoryOf(initPid);
        samples[name].wakeups.push(wakeupsBetween(before[name], after));
        samples[name].threads.push(after.size);
        samples[name].rssKiB.push(memory.rssKiB);
        samples[name].privateDirtyKiB.push(memory.privateDirtyKiB);
      }
    } finally {
      for (const child of Object.values(running)) await stopNamespace(child);
    }
  }
  return samples;
}

// ---------------------------------------------------------------------------
// 4. Forward latency

async function measureLatency(signalEcho) {
  const total = WARMUP_SIGNALS + SIGNALS;
  const names = ['tsInit', 'tini'];
  // The SIGTERM at the end stops the echo, and its own limit is a backstop.
  const limit = String(total + 10);
  const commands = {
    tsInit: [TS_INIT, '--', signalEcho, limit],
    tini: [...TINI, '--', signalEcho, limit],
  };
  const samples = { tsInit: [], tini: [] };
  const running = {};
  const readers = {};

  try {
    for (const name of names) {
      running[name] = await startInNamespace(commands[name], { stdout: 'pipe' });
      readers[name] = new LineReader(running[name].stdout);
      const line = await readers[name].next(10000, `the signal echo under ${name} to start`).catch((error) => {
        throw new Error(`${error.message}: ${running[name].stderrText().trim()}`);
      });
      if (line !== 'ready') throw new Error(`unexpected output from the signal echo under ${name}: ${line}`);
    }

    for (let i = 0; i < total; i++) {
      // Alternating which init goes first keeps any order effect out of the ratio.
      const order = i % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const sent = process.hrtime.bigint();
        process.kill(running[name].initPid, 'SIGUSR1');
        const line = await readers[name].next(5000, `signal ${i + 1} to reach the child of ${name}`);
        const latencyUs = Number(BigInt(line) - sent) / 1000;
        if (i >= WARMUP_SIGNALS) samples[name].push(latencyUs);
        await sleep(SIGNAL_SPACING_MS);
      }
    }

    for (const name of names) {
      process.kill(running[name].initPid, 'SIGTERM');
      await exitWithin(running[name], 10000, `${name} after SIGTERM`);
    }
  } finally {
    for (const child of Object.values(running)) await stopNamespace(child);
  }
  return samples;
}

// ---------------------------------------------------------------------------
// 5. Reaping

async function reapOnce(command) {
  const child = await startInNamespace(command, { stdout: 'pipe' });
  try {
    const reader = new LineReader(child.stdout);
    const line = await reader.next(130000, `the orphan maker under ${command[0]}`).catch((error) => {
      throw new Error(`${error.message}: ${child.stderrText().trim()}`);
    });
    const [nanoseconds, polls] = line.split(' ').map(Number);
    if (!Number.isFinite(nanoseconds)) throw new Error(`unexpected output from the orphan maker: ${line} ${child.stderrText()}`);
    const { code } = await exitWithin(child, 30000, `${command[0]} after its orphans`);
    if (code !== 0) throw new Error(`${command.join(' ')} exited with ${code}: ${child.stderrText().trim()}`);
    return { milliseconds: nanoseconds / 1e6, polls };
  } finally {
    await stopNamespace(child);
  }
}

async function measureReaping(orphanMaker) {
  const commands = {
    tsInit: [TS_INIT, '--', orphanMaker, String(ORPHANS)],
    tini: [...TINI, '--', orphanMaker, String(ORPHANS)],
  };
  const samples = { tsInit: [], tini: [] };
  for (let run = 0; run < REAP_RUNS; run++) {
    const order = run % 2 === 0 ? ['tsInit', 'tini'] : ['tini', 'tsInit'];
    for (const name of order) samples[name].push((await reapOnce(commands[name])).milliseconds);
  }
  return samples;
}

// ---------------------------------------------------------------------------
// Report

function format(value, digits = 1) {
  if (typeof value !== 'number' || Number.isNaN(value)) return 'n/a';
  return value.toFixed(digits);
}

function ratio(tsInit, tini) {
  if (tini === 0 && tsInit === 0) return '1.00';
  if (tini === 0) return 'inf';
  return format(tsInit / tini, 2);
}

function verdict(met, measured = true) {
  if (!measured) return 'n/a';
  return met ? 'met' : 'NOT MET';
}

function printTable(rows) {
  const header = ['measure', 'ts-init', 'tini', 'ts-init/tini', 'reference', 'target', 'result'];
  const cells = [header, ...rows.map((row) => header.map((_, i) => String(row[i] ?? '')))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => cell.padEnd(widths[i])).join(' | ').trimEnd();
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('-|-'));
  for (const row of cells.slice(1)) console.log(line(row));
}

function startupRows(samples) {
  const rows = [];
  for (const [field, label] of [['wallMs', 'wall'], ['cpuMs', 'CPU']]) {
    const of = (name) => median(samples[name][field]);
    const tsInit = of('tsInit');
    const tini = of('tini');
    const added = tsInit - of('node');
    const noise = interquartileRange(samples.node[field]);
    rows.push([`start-up ${label}, median ms`, format(tsInit), format(tini), ratio(tsInit, tini),
      `node -e 0: ${format(of('node'))}; with --v8-pool-size=1: ${format(of('nodePool1'))}; /bin/true alone: ${format(of('true'))}`]);
    // The budget is stated for wall time. On a busy machine the wall time
    // IQR is wide enough to hide tens of milliseconds, and CPU time is not.
    rows.push([`start-up ${label} added, ms`, format(added), format(tini - of('true')), '',
      `ts-init minus node -e 0, tini minus /bin/true alone; node -e 0 IQR ${format(noise)}`,
      '<= node -e 0 IQR', verdict(added <= noise, !Number.isNaN(added))]);
  }
  return rows;
}

function memoryRows(samples) {
  const rows = [];
  for (const [field, label] of [['rssKiB', 'RSS'], ['privateDirtyKiB', 'private dirty']]) {
    const tsInit = median(samples.tsInit[field]) / 1024;
    const tini = median(samples.tini[field]) / 1024;
    const node = median(samples.node[field]) / 1024;
    const nodePool1 = median(samples.nodePool1[field]) / 1024;
    const added = tsInit - node;
    const noise = interquartileRange(samples.node[field]) / 1024;
    rows.push([`${label}, median MiB`, format(tsInit), format(tini, 2), ratio(tsInit, tini),
      `node: ${format(node)}; node --v8-pool-size=1: ${format(nodePool1)}`]);
    rows.push([`${label} added to node, MiB`, format(added, 2), '', '', `node IQR ${format(noise, 2)}`,
      '<= node IQR', verdict(added <= noise)]);
  }
  return rows;
}

function idleRows(samples) {
  const worst = (name) => Math.max(...samples[name].wakeups);
  const list = (name) => samples[name].wakeups.join(',');
  return [
    [`idle wake-ups in ${IDLE_WINDOW_MS / 1000} s, max`, String(worst('tsInit')), String(worst('tini')), '',
      `node: ${list('node')}; ts-init: ${list('tsInit')}; tini: ${list('tini')}`, '0', verdict(worst('tsInit') === 0)],
    ['threads', String(median(samples.tsInit.threads)), String(median(samples.tini.threads)), '',
      `node: ${median(samples.node.threads)}; node --v8-pool-size=1: ${median(samples.nodePool1.threads)}`],
  ];
}

function latencyRows(samples) {
  const rows = [];
  for (const [q, label] of [[0.5, 'median'], [0.9, 'p90']]) {
    const tsInit = quantile(samples.tsInit, q);
    const tini = quantile(samples.tini, q);
    rows.push([`forward latency, ${label} us`, format(tsInit), format(tini), ratio(tsInit, tini), '',
      '<= 2x tini', verdict(tsInit <= 2 * tini)]);
  }
  return rows;
}

function reapingRows(samples) {
  const tsInit = median(samples.tsInit);
  const tini = median(samples.tini);
  const all = (name) => samples[name].map((value) => format(value)).join(',');
  return [
    [`reaping ${ORPHANS} orphans, median ms`, format(tsInit), format(tini), ratio(tsInit, tini),
      `ts-init: ${all('tsInit')}; tini: ${all('tini')}`, `<= ${REAP_TOLERANCE}x tini`, verdict(tsInit <= REAP_TOLERANCE * tini)],
  ];
}

function errorRow(measure, error) {
  return [measure, 'error', 'error', '', error.message.replace(/\s+/g, ' ').slice(0, 200)];
}

function checkPrerequisites() {
  if (process.getuid?.() !== 0) return 'must run as root (it creates PID namespaces)';
  if (!fs.existsSync(TS_INIT)) return `${TS_INIT} not found`;
  if (spawnSync('sh', ['-c', 'command -v tini'], { stdio: 'ignore' }).status !== 0) return 'tini not found (Debian package tini)';
  const probe = spawnSync(NAMESPACE[0], [...NAMESPACE.slice(1), '/bin/true'], { stdio: 'ignore', timeout: 10000 });
  if (probe.status !== 0) return 'unshare --pid --fork --mount-proc fails here';
  return undefined;
}

function describeMachine() {
  const tini = spawnSync('tini', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const load = os.loadavg().map((value) => value.toFixed(2)).join(' ');
  return [
    `date: ${new Date().toISOString()}`,
    `cpus: ${os.availableParallelism?.() ?? os.cpus().length}; kernel: ${os.release()}; node: ${process.version}; ${tini}`,
    `load average at start: ${load}`,
    `removed from the environment of every measured command: ${REMOVED_VARIABLES.join(', ') || 'nothing'}`,
    `runs: start-up ${STARTUP_RUNS}, memory and idle ${MEMORY_RUNS}, signals ${SIGNALS} (+${WARMUP_SIGNALS} warm-up), ` +
      `reaping ${REAP_RUNS} x ${ORPHANS} orphans`,
  ].join('\n');
}

async function main() {
  const problem = checkPrerequisites();
  if (problem !== undefined) {
    console.error(`cannot run the benchmark: ${problem}`);
    process.exit(1);
  }
  console.log(describeMachine());
  console.log('');

  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-init-bench-'));
  const rows = [];
  try {
    const helpers = buildHelpers(directory);

    try {
      rows.push(...startupRows(measureStartup(helpers.programs?.['timed-run'])));
    } catch (error) {
      rows.push(errorRow('start-up', error));
    }

    try {
      const samples = await measureMemoryAndIdle();
      rows.push(...memoryRows(samples), ...idleRows(samples));
    } catch (error) {
      rows.push(errorRow('memory and idle', error));
    }

    if (helpers.programs === undefined) {
      rows.push(['forward latency', 'skipped', 'skipped', '', helpers.reason]);
      rows.push(['reaping', 'skipped', 'skipped', '', helpers.reason]);
    } else {
      try {
        rows.push(...latencyRows(await measureLatency(helpers.programs['signal-echo'])));
      } catch (error) {
        rows.push(errorRow('forward latency', error));
      }
      try {
        rows.push(...reapingRows(await measureReaping(helpers.programs['orphan-maker'])));
      } catch (error) {
        rows.push(errorRow('reaping', error));
      }
    }
  } finally {
    killStarted();
    fs.rmSync(directory, { recursive: true, force: true });
  }

  printTable(rows);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`benchmark failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
