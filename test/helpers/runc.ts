// Running a program under runc, the OCI runtime behind Docker and
// containerd: a bundle whose root filesystem is a read-only bind mount of a
// host directory (the host root by default, so node, sh and ts-init are all
// there), started with `runc run` and stopped with `runc kill`.
//
// Every bundle gets its own runc state directory (--root), so `runc list`
// and `runc delete` only ever see the containers made here. Cleanup deletes
// those containers, unmounts the root filesystem, and removes the bundle
// without ever recursing into the mount point.

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { killQuietly, sleep } from './init';

export interface BundleOptions {
  /** process.args: the container's PID 1 and its arguments. */
  args: string[];
  /** Host directory mounted read-only as the root filesystem; defaults to the host root. */
  rootSource?: string;
  /** Host directories mounted read-write at the same path inside, for marker files. */
  writable?: string[];
  /** Extra NAME=value entries for process.env. */
  env?: string[];
}

export interface Bundle {
  /** Container id; unique across test files, because runc names cgroups after it. */
  readonly id: string;
  readonly dir: string;
  readonly rootfs: string;
  /** State directory (runc --root) used by this bundle alone. */
  readonly state: string;
}

export interface RuncContainer {
  readonly bundle: Bundle;
  /** The `runc run` process. */
  readonly runc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit status of `runc run` (128+N if it was killed by signal N). */
  exited: Promise<number>;
  running(): boolean;
}

interface Owned {
  bundle: Bundle;
  container?: RuncContainer;
}

const owned: Owned[] = [];
let counter = 0;

function run(command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

function runOrThrow(command: string, args: string[]): void {
  const result = run(command, args);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.output}`);
}

function isMountPoint(dir: string): boolean {
  const target = fs.realpathSync(dir);
  // Field 5 of mountinfo is the mount point, with spaces escaped as \040.
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4]?.replace(/\\040/g, ' ') === target);
}

/**
 * Creates a bundle: bind-mounts the root source read-only, then writes the
 * config.json from `runc spec` with the changes a test needs. The default
 * namespaces (pid, mount, ipc, uts, network, cgroup) stay as they are.
 */
export function createBundle(options: BundleOptions): Bundle {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-init-runc-'));
  const rootfs = path.join(dir, 'rootfs');
  const state = path.join(dir, 'state');
  fs.mkdirSync(rootfs);
  fs.mkdirSync(state, { mode: 0o700 });
  const id = `ts-init-test-${process.pid}-${++counter}-${crypto.randomBytes(3).toString('hex')}`;
  const bundle: Bundle = { id, dir, rootfs, state };
  owned.push({ bundle });

  runOrThrow('mount', ['--bind', options.rootSource ?? '/', rootfs]);
  // The kernel ignores ro when it creates a bind mount, so read-only takes a remount.
  runOrThrow('mount', ['-o', 'remount,bind,ro', rootfs]);

  runOrThrow('runc', ['spec', '--bundle', dir]);
  const configPath = path.join(dir, 'config.json');
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  config.root = { path: rootfs, readonly: true };
  config.process.terminal = false;
  config.process.args = options.args;
  config.process.env = [...config.process.env, ...(options.env ?? [])];
  for (const writable of options.writable ?? []) {
    config.mounts.push({ destination: writable, type: 'bind', source: writable, options: ['rbind', 'rw'] });
  }
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
  return bundle;
}

/**
 * Starts `runc run` in the foreground: runc stays the container's parent and
 * exits with the status of its PID 1. `env --default-signal` resets the
 * signals the test runner may ignore, which the container would inherit.
 */
export function startContainer(bundle: Bundle): RuncContainer {
  const entry = owned.find((item) => item.bundle === bundle);
  if (entry === undefined) throw new Error(`bundle ${bundle.dir} was not made by createBundle`);
  if (entry.container !== undefined) throw new Error(`bundle ${bundle.dir} already has a container`);

  const runc = spawn('env', ['--default-signal', 'runc', '--root', bundle.state, 'run', '--bundle', bundle.dir, bundle.id], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  runc.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  runc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  let done = false;
  const exited = new Promise<number>((resolve) => {
    runc.on('exit', (code, signal) => {
      done = true;
      resolve(code ?? 128 + (signal === null ? 0 : os.constants.signals[signal]));
    });
  });

  const container: RuncContainer = {
    bundle,
    runc,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    running: () => !done,
  };
  entry.container = container;
  return container;
}

/** Sends signal (a name such as TERM) with `runc kill`, which delivers it to the container's PID 1. */
export function killContainer(container: RuncContainer, signal: string): void {
  runOrThrow('runc', ['--root', container.bundle.state, 'kill', container.bundle.id, signal]);
}

/** Returns the host pid of the container's PID 1, from `runc state`. */
export function containerPid(container: RuncContainer): number {
  const result = spawnSync('runc', ['--root', container.bundle.state, 'state', container.bundle.id], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`runc state failed: ${result.stderr}`);
  return JSON.parse(result.stdout).pid;
}

/**
 * Polls condition; fails at once, with runc's output, if `runc run` exits
 * before it holds.
 */
export async function waitInContainer(container: RuncContainer, condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return;
    if (!container.running()) {
      throw new Error(`runc run exited before ${what}; stdout: ${container.stdout()} stderr: ${container.stderr()}`);
    }
    await sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${container.stderr()}`);
}

/** Resolves with the status of `runc run`, or rejects if it still runs after timeoutMs. */
export async function containerExitStatus(container: RuncContainer, timeoutMs = 30_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`runc run still running after ${timeoutMs} ms; stderr: ${container.stderr()}`)), timeoutMs);
  });
  try {
    return await Promise.race([container.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function removeContainer(container: RuncContainer): Promise<void> {
  const { state, id } = container.bundle;
  if (container.running()) {
    // delete --force SIGKILLs the container's PID 1, which ends the whole
    // PID namespace, and then `runc run` returns.
    run('runc', ['--root', state, 'delete', '--force', id]);
    const deadline = Date.now() + 10_000;
    while (container.running() && Date.now() < deadline) await sleep(20);
    if (container.running() && container.runc.pid !== undefined) killQuietly(container.runc.pid, 'SIGKILL');
  }
  // `runc run` deletes its container when it returns. This covers a runc
  // that was killed before it could.
  const listed = run('runc', ['--root', state, 'list', '--quiet']);
  if (listed.status === 0 && listed.output.split('\n').includes(id)) run('runc', ['--root', state, 'delete', '--force', id]);
}

function removeBundle(bundle: Bundle): void {
  if (isMountPoint(bundle.rootfs)) runOrThrow('umount', [bundle.rootfs]);
  // Nothing near rootfs is removed recursively, so if the unmount did not
  // happen, rmdir fails on the host's root instead of deleting it.
  fs.rmSync(path.join(bundle.dir, 'config.json'), { force: true });
  fs.rmdirSync(bundle.rootfs);
  fs.rmSync(bundle.state, { recursive: true, force: true });
  fs.rmdirSync(bundle.dir);
}

/** Deletes every container and bundle made since the last call; for afterEach. */
export async function cleanUpRunc(): Promise<void> {
  const errors: string[] = [];
  for (const entry of owned.splice(0)) {
    try {
      if (entry.container !== undefined) await removeContainer(entry.container);
      removeBundle(entry.bundle);
    } catch (error) {
      errors.push(`${entry.bundle.dir}: ${(error as Error).message}`);
    }
  }
  if (errors.length > 0) throw new Error(`runc cleanup failed:\n${errors.join('\n')}`);
}
