// Running an init (ts-init, tini or dumb-init) the way a container runtime
// does: as PID 1 of a fresh PID namespace, or as a plain process with -s.

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe } from 'vitest';

export const ROOT = path.resolve(__dirname, '..', '..');
export const TS_INIT = path.join(ROOT, 'bin', 'ts-init');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

const IN_CI = process.env.CI === 'true';

function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Returns why the tests that need root and PID namespaces cannot run here,
 * or undefined when they can. Under CI=true a missing requirement is an
 * error, so such tests fail rather than being skipped.
 */
export function namespaceUnavailable(): string | undefined {
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = 'needs root for PID namespaces';
  else if (!commandExists('unshare')) reason = 'needs unshare (util-linux)';
  else if (spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status !== 0) {
    reason = 'unshare --pid --fork --mount-proc fails here';
  }
  if (reason !== undefined && IN_CI) throw new Error(`CI=true but ${reason}`);
  return reason;
}

/** Like namespaceUnavailable, for a program the test needs (tini, runc, nginx). */
export function programUnavailable(program: string): string | undefined {
  if (commandExists(program)) return undefined;
  const reason = `needs ${program} (Debian package)`;
  if (IN_CI) throw new Error(`CI=true but ${reason}`);
  return reason;
}

/** describe() that skips with the stated reason when the requirement is missing (outside CI). */
export function describeIf(unavailable: string | undefined, name: string, body: () => void): void {
  if (unavailable === undefined) describe(name, body);
  else describe.skip(`${name} (skipped: ${unavailable})`, body);
}

/** Known inits, as the command prefix that runs a program under each. */
export const INITS = {
  tsInit: [TS_INIT],
  tini: ['tini', '-g'],
  dumbInit: ['dumb-init'],
} as const;

export interface RunningInit {
  /** The process the test spawned: unshare, or the init itself with namespace: false. */
  readonly outer: ChildProcess;
  /** Host pid of the init (PID 1 inside the namespace). */
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Sends a signal to the init from outside, as `docker kill` does. */
  signal(signal: NodeJS.Signals | number): void;
  /** Resolves with the init's exit status (128+N if killed by signal N). */
  exited: Promise<number>;
  /** Kills the whole run (SIGKILL to the init, which ends the namespace); for cleanup. */
  kill(): void;
}

export interface StartOptions {
  /** Run as PID 1 of a new PID namespace (default) or as a plain process. */
  namespace?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Extra descriptors for the init, as child_process stdio entries from 3 on. */
  extraStdio?: ('pipe' | 'ignore' | number)[];
}

const running = new Set<RunningInit>();

/** Ends every init a test left running; call from afterEach. */
export function killLeftovers(): void {
  for (const init of running) init.kill();
  running.clear();
}

async function waitForChildPid(parent: number, deadline: number): Promise<number | undefined> {
  while (Date.now() < deadline) {
    try {
      const children = fs.readFileSync(`/proc/${parent}/task/${parent}/children`, 'latin1').trim();
      if (children !== '') return Number(children.split(' ')[0]);
    } catch {
      return undefined; // the parent is gone
    }
    await sleep(10);
  }
  return undefined;
}

/**
 * Starts `init... args...`. In a namespace it runs under `env --default-signal
 * unshare --pid --fork --mount-proc`: env resets the dispositions a test
 * runner may have set to ignored, as a container runtime starts PID 1.
 */
export async function startInit(init: readonly string[], args: string[], options: StartOptions = {}): Promise<RunningInit> {
  const namespace = options.namespace ?? true;
  const prefix = namespace ? ['env', '--default-signal', 'unshare', '--pid', '--fork', '--mount-proc'] : ['env', '--default-signal'];
  const command = [...prefix, ...init, ...args];

  const outer = spawn(command[0], command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe', ...(options.extraStdio ?? [])],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  let stdout = '';
  let stderr = '';
  outer.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  outer.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  const exited = new Promise<number>((resolve) => {
    outer.on('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : os.constants.signals[signal])));
  });

  // With env in front, the init replaces env by exec; under unshare it is
  // unshare's child.
  const outerPid = outer.pid as number;
  let pid = namespace ? await waitForChildPid(outerPid, Date.now() + 10_000) : outerPid;
  // A quick init can run its program and exit before its pid is seen; then
  // only its exit status is left to observe.
  if (pid === undefined && outer.exitCode !== null) pid = outerPid;
  if (pid === undefined && (await Promise.race([exited.then(() => true), sleep(500).then(() => false)]))) pid = outerPid;
  if (pid === undefined) throw new Error(`${command.join(' ')} did not start: ${stderr}`);

  const run: RunningInit = {
    outer,
    pid,
    stdout: () => stdout,
    stderr: () => stderr,
    signal: (signal) => process.kill(pid, signal),
    exited,
    kill: () => {
      killQuietly(pid, 'SIGKILL');
      killQuietly(outerPid, 'SIGKILL');
    },
  };
  running.add(run);
  void exited.then(() => running.delete(run));
  return run;
}

export function killQuietly(pid: number, signal: NodeJS.Signals | number): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Polls condition until it holds; the error names what never became true. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Resolves with the exit status, or rejects naming the init if it is still running after timeoutMs. */
export async function exitStatus(init: RunningInit, timeoutMs = 20_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`init ${init.pid} still running after ${timeoutMs} ms; stderr: ${init.stderr()}`)), timeoutMs);
  });
  try {
    return await Promise.race([init.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const workDirs: string[] = [];

/** Creates a directory for marker files that every process of the test can read; it is removed after the file's tests. */
export function makeWorkDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-init-test-'));
  fs.chmodSync(dir, 0o755);
  workDirs.push(dir);
  return dir;
}

function mountPoints(): string[] {
  // Field 5 of mountinfo is the mount point.
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined);
}

/** Removes the work directories, except any with a mount point inside, which a recursive removal would cross. */
function removeWorkDirs(): void {
  const mounts = mountPoints();
  for (const dir of workDirs.splice(0)) {
    if (mounts.some((point) => point === dir || point.startsWith(`${dir}/`))) continue;
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A process being killed may still write into it; /tmp is cleaned eventually.
    }
  }
}

// Registered once per test file, because each file loads this module anew.
afterAll(removeWorkDirs);

export function exists(file: string): boolean {
  return fs.existsSync(file);
}

export function readText(file: string): string {
  return fs.readFileSync(file, 'utf8');
}
