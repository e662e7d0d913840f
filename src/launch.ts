// Inherited state as bin/ts-init recorded it before Node started, and the
// environment the workload gets, which is the one ts-init was started with.

import fs from 'node:fs';

export const LAUNCH_ENV = 'TS_INIT_LAUNCH';
export const SAVED_PREFIX = 'TS_INIT_SAVED_';
export const ENVIRON_PREFIX = 'TS_INIT_ENVIRON_';

export interface LaunchRecord {
  /** Signals ts-init inherited as ignored, to be passed on ignored. */
  ignoredSignals: number[];
  /** Descriptors ts-init inherited without close-on-exec, 0 to 2 included. */
  inheritedFds: number[];
  /** The workload's environment as NAME=value entries; Buffers keep bytes that are not UTF-8. */
  childEnvironment: (string | Buffer)[];
  /** False when Node was started on dist/main.js directly. */
  viaLauncher: boolean;
}

function signalsInMask(hex: string, fromSignal: number): number[] {
  const signals: number[] = [];
  if (!/^[0-9a-fA-F]+$/.test(hex)) return signals;

  const mask = BigInt(`0x${hex}`);
  for (let signal = fromSignal; signal <= 64; signal++) {
    if ((mask >> BigInt(signal - 1)) & 1n) signals.push(signal);
  }
  return signals;
}

function parseRecord(record: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const field of record.split(' ')) {
    const equals = field.indexOf('=');
    if (equals > 0) fields.set(field.slice(0, equals), field.slice(equals + 1));
  }
  return fields;
}

function listOf(text: string | undefined): string[] {
  return text === undefined || text === '' ? [] : text.split(',');
}

// Without the launcher, Node has already reset the standard signals, so only
// real-time signals (which Node leaves alone) can still show what was inherited.
function ignoredRealTimeSignals(): number[] {
  try {
    const status = fs.readFileSync('/proc/self/status', 'latin1');
    const match = /^SigIgn:\s*([0-9a-fA-F]+)$/m.exec(status);
    return match === null ? [] : signalsInMask(match[1], 32);
  } catch {
    return [];
  }
}

/**
 * Decodes the environment the shell launcher copied from /proc/self/environ
 * before the shell could change it: hex chunks (od's output, with spaces)
 * that join into NAME=value
 * entries separated by NUL bytes. Returns undefined when there is none.
 */
function originalEnvironment(env: NodeJS.ProcessEnv, chunks: string | undefined): Buffer[] | undefined {
  if (chunks === undefined || !/^\d+$/.test(chunks)) return undefined;

  let hex = '';
  for (let index = 0; index < Number(chunks); index++) {
    const chunk = env[ENVIRON_PREFIX + index];
    if (chunk === undefined) return undefined;
    hex += chunk.replace(/\s/g, '');
  }
  const bytes = Buffer.from(hex, 'hex');
  const entries: Buffer[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(0, start);
    if (end < 0) end = bytes.length;
    if (end > start) entries.push(bytes.subarray(start, end));
    start = end + 1;
  }
  return entries;
}

/** Rebuilds the environment from process.env, putting back the variables the launcher moved aside. */
function restoredEnvironment(env: NodeJS.ProcessEnv, record: string | undefined, saved: string[]): string[] {
  const environment: string[] = [];
  const launcherNames = new Set([LAUNCH_ENV, ...saved.map((name) => SAVED_PREFIX + name)]);
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (record !== undefined && (launcherNames.has(name) || name.startsWith(ENVIRON_PREFIX))) continue;
    environment.push(`${name}=${value}`);
  }
  for (const name of saved) {
    const value = env[SAVED_PREFIX + name];
    if (value !== undefined) environment.push(`${name}=${value}`);
  }
  return environment;
}

export function readLaunchRecord(env: NodeJS.ProcessEnv = process.env): LaunchRecord {
  const record = env[LAUNCH_ENV];
  const fields = parseRecord(record ?? '');
  const saved = listOf(fields.get('saved'));
  const childEnvironment = originalEnvironment(env, fields.get('environ')) ?? restoredEnvironment(env, record, saved);

  if (record === undefined) {
    return {
      ignoredSignals: ignoredRealTimeSignals(),
      inheritedFds: [0, 1, 2],
      childEnvironment,
      viaLauncher: false,
    };
  }

  const fds = listOf(fields.get('fds')).map(Number).filter(Number.isInteger);
  for (const standard of [0, 1, 2]) if (!fds.includes(standard)) fds.push(standard);

  return {
    ignoredSignals: signalsInMask(fields.get('ignored') ?? '0', 1),
    inheritedFds: fds.sort((a, b) => a - b),
    childEnvironment,
    viaLauncher: true,
  };
}
