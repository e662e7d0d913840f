// The typed contract of the native addon (native/*.cc). Every call is a thin
// wrapper over one system call and throws an Error with code, errno and
// syscall set, like Node's own system errors.

import path from 'node:path';

export interface ExitStatus {
  pid: number;
  /** Exit code when the process exited, else null. */
  code: number | null;
  /** Number of the signal that killed the process, else null. */
  signal: number | null;
  coreDumped: boolean;
}

export interface ReceivedSignal {
  signal: number;
  /** si_code: SI_USER for kill(2), SI_QUEUE for sigqueue(3), CLD_* for SIGCHLD. */
  code: number;
  /** Sender's pid as seen from this pid namespace (0 when sent from outside it). */
  pid: number;
  uid: number;
  /** Signal the signal thread already sent with kill(2) (see setForwarding), or 0. */
  forwarded: number;
  /** The kill(2) pid argument it used. */
  forwardTarget: number;
  /** Error from that kill, or null. */
  forwardError: SystemError | null;
}

export interface SpawnOptions {
  /** Descriptors the child keeps open; all others close at execve. */
  fds: number[];
  /** Signals the child starts with ignored; every other one is at its default. */
  ignoredSignals: number[];
  /** Make the child's process group the terminal's foreground group. */
  foreground: boolean;
}

export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export interface NativeBinding {
  waitpid(pid: number, options: number): ExitStatus | null;
  kill(pid: number, signal: number): void;
  getpgid(pid: number): number;
  pidfdOpen(pid: number, flags: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  setChildSubreaper(enabled: boolean): void;
  getChildSubreaper(): boolean;
  setParentDeathSignal(signal: number): void;
  _exit(status: number): never;
  blockSignals(signals: number[], threadIds: number[]): void;
  watchSignals(
    signals: number[],
    callback: (error: SystemError | null, received: ReceivedSignal | null) => void,
  ): void;
  setForwarding(target: number, forwardAs: number[]): void;
  spawn(paths: string[], argv: string[], envp: (string | Buffer)[], options: SpawnOptions): number;
  readonly WNOHANG: number;
  readonly SIGRTMIN: number;
  readonly SIGRTMAX: number;
}

export function isSystemError(error: unknown, code?: string): error is SystemError {
  if (!(error instanceof Error) || typeof (error as SystemError).code !== 'string') return false;
  return code === undefined || (error as SystemError).code === code;
}

let binding: NativeBinding | undefined;

/**
 * Loads the addon once: a prebuilt binary from prebuilds/ or a local build
 * from build/, as node-gyp-build finds them. There is no JavaScript
 * fallback, because none of these calls can be made from Node itself.
 */
export function loadNative(): NativeBinding {
  if (binding !== undefined) return binding;

  const packageRoot = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding;
    binding = nodeGypBuild(packageRoot);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `cannot load the native addon from ${packageRoot}/prebuilds or ${packageRoot}/build: ${reason}; ` +
        'reinstall the package, or build it with "npx node-gyp rebuild" (needs python3, make and g++)',
    );
  }
  return binding;
}
