// Entry point, started by bin/ts-init: set up signals, start the main child,
// then hand every event to the supervisor.

import fs from 'node:fs';
import path from 'node:path';

import { parseCommandLine, RunOptions } from './cli';
import { readLaunchRecord } from './launch';
import { log, setVerbosity } from './log';
import { blockInAllThreads, closeInspector } from './mask';
import { isSystemError, loadNative, NativeBinding } from './native';
import { receivedSignals, signalName } from './signals';
import { spawnChild } from './spawn';
import { guard, Supervisor } from './supervisor';
import { Mode, Recipients } from './targets';

function packageVersion(): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

function chooseMode(native: NativeBinding, subreaper: boolean): Mode {
  if (subreaper) native.setChildSubreaper(true);
  if (process.pid === 1) return 'pid1';
  if (subreaper || native.getChildSubreaper()) return 'subreaper';

  log.warn('ts-init is not PID 1 and not a child subreaper, so orphaned processes are not re-parented to it and will not be reaped; add -s to register as a subreaper');
  return 'plain';
}

/** Exit status for a failed start, as a shell reports it: 127 not found, 126 cannot execute. */
function reportSpawnFailure(command: string, error: unknown): number {
  if (isSystemError(error, 'ENOENT') || isSystemError(error, 'ENOTDIR')) {
    log.fatal(`cannot run '${command}': ${command.includes('/') ? 'no such file' : 'command not found in PATH'}`);
    return 127;
  }
  if (isSystemError(error) && error.syscall === 'execve') {
    const reason = error.code === 'EACCES' ? 'permission denied (not executable?)' : error.message;
    log.fatal(`cannot run '${command}': ${reason}`);
    return 126;
  }
  log.fatal(`cannot start '${command}': ${(error as Error).message}`);
  return 1;
}

function run(options: RunOptions): void {
  setVerbosity(options.verbosity);
  const native = loadNative();

  const signals = receivedSignals();
  blockInAllThreads(signals);
  closeInspector();
  if (options.parentDeathSignal !== undefined) native.setParentDeathSignal(options.parentDeathSignal);

  const mode = chooseMode(native, options.subreaper);
  const launch = readLaunchRecord();
  if (!launch.viaLauncher) {
    log.debug('started without bin/ts-init: NODE_OPTIONS and inherited descriptors above 2 were not preserved');
  }

  let pid: number;
  try {
    pid = spawnChild(options.command, launch);
  } catch (error) {
    process.exit(reportSpawnFailure(options.command[0], error));
  }
  log.info(`started ${options.command[0]} as pid ${pid} (${mode}, signals to ${options.target})`);

  const supervisor = new Supervisor(native, new Recipients(native, mode), options, pid, (code) => native._exit(code));

  // The signal thread keeps the event loop alive. Should it ever stop, the
  // loop would drain and Node would exit while descendants still run, so
  // reaping falls back to polling once a second instead.
  process.once('beforeExit', () => {
    log.warn('signal reception stopped; reaping by polling every second from now on');
    setInterval(() => guard(() => supervisor.reap()), 1000);
  });

  // Signals that arrived before this point are still pending, because every
  // thread blocks them, so they arrive here first. That includes the SIGCHLD
  // of a child that has already exited.
  native.watchSignals(signals, (error, received) => {
    guard(() => {
      if (error !== null) log.warn(`signal reception stopped: ${error.message}`);
      else if (received !== null) {
        log.trace(`received ${signalName(received.signal)} from pid ${received.pid}`);
        supervisor.onSignal(received);
      }
    });
  });
}

function main(): void {
  // A bug must be logged, not end PID 1: the kernel would SIGKILL the container.
  process.on('uncaughtException', (error) => log.warn(`internal error: ${error.stack ?? error.message}`));

  const parsed = parseCommandLine(process.argv.slice(2), process.env, packageVersion);
  if ('exitCode' in parsed) process.exit(parsed.exitCode);

  try {
    run(parsed.run);
  } catch (error) {
    log.fatal(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}

main();
