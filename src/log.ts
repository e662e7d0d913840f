// Logging to stderr only, one line per event, with tini's levels: fatal and
// warn by default, each -v adds info, debug and trace in turn.
//
// Lines are written with fs.writeSync on descriptor 2. process.stderr is
// never touched: on a terminal it would make libuv set O_NONBLOCK on the
// shared terminal description, and the workload would then see EAGAIN on
// its own reads and writes.

import fs from 'node:fs';

export enum Level {
  Fatal = 0,
  Warn = 1,
  Info = 2,
  Debug = 3,
  Trace = 4,
}

const LEVEL_NAMES = ['fatal', 'warn', 'info', 'debug', 'trace'];

let verbosity: Level = Level.Warn;

export function setVerbosity(level: number): void {
  verbosity = Math.max(Level.Fatal, Math.min(Level.Trace, level));
}

export function isEnabled(level: Level): boolean {
  return level <= verbosity;
}

function write(level: Level, message: string): void {
  if (!isEnabled(level)) return;

  const line = `[ts-init ${process.pid}] ${LEVEL_NAMES[level]}: ${message}\n`;
  try {
    fs.writeSync(2, line);
  } catch {
    // A closed or non-blocking stderr must not take PID 1 down; the line is lost.
  }
}

export const log = {
  fatal: (message: string) => write(Level.Fatal, message),
  warn: (message: string) => write(Level.Warn, message),
  info: (message: string) => write(Level.Info, message),
  debug: (message: string) => write(Level.Debug, message),
  trace: (message: string) => write(Level.Trace, message),
};
