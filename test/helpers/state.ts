// Reading the state a workload starts with (signals, descriptors, process
// group, environment, sockets) from what it writes and from /proc.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { FIXTURES, programUnavailable, RunningInit, sleep } from './init';

export { socketInodes } from './proc';

/** The modes ts-init runs in: PID 1 of a namespace, and a subreaper outside one. */
export const MODES = [
  { name: 'PID 1', namespace: true, flags: [] as string[] },
  { name: 'subreaper', namespace: false, flags: ['-s'] },
];

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

let python: string | undefined;

/**
 * The Python interpreter itself rather than a version manager's wrapper
 * script: such wrappers change the environment of what they run.
 */
export function pythonPath(): string {
  if (python === undefined) {
    const result = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
    python = result.status === 0 ? result.stdout.trim() : 'python3';
  }
  return python;
}

export function pythonUnavailable(): string | undefined {
  return programUnavailable('python3');
}

/** Returns the first reason from the list, or undefined when nothing is missing. */
export function firstReason(...reasons: (() => string | undefined)[]): string | undefined {
  for (const reason of reasons) {
    const text = reason();
    if (text !== undefined) return text;
  }
  return undefined;
}

/** Parses the SigBlk and SigIgn lines of a /proc/<pid>/status excerpt. */
export function parseSignalLines(text: string): { sigBlk: bigint; sigIgn: bigint } {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s*([0-9a-fA-F]+)$`, 'm').exec(text);
    if (match === null) throw new Error(`no ${name} line in ${JSON.stringify(text)}`);
    return BigInt(`0x${match[1]}`);
  };
  return { sigBlk: field('SigBlk'), sigIgn: field('SigIgn') };
}

/**
 * Parses `ls -l /proc/self/fd` into descriptor numbers, leaving out the one
 * ls itself opened to read the directory.
 */
export function parseFdListing(text: string): number[] {
  const fds: number[] = [];
  for (const line of text.split('\n')) {
    const match = /\s(\d+) -> (.*)$/.exec(line);
    if (match === null || /^\/proc\/\d+\/fd$/.test(match[2])) continue;
    fds.push(Number(match[1]));
  }
  return fds.sort((a, b) => a - b);
}

export interface StatFields {
  pid: number;
  ppid: number;
  pgrp: number;
}

/** Parses one /proc/<pid>/stat line. The command name in it may contain spaces and parentheses. */
export function parseStat(line: string): StatFields {
  const close = line.lastIndexOf(')');
  const pid = Number(line.slice(0, line.indexOf(' ')));
  const rest = line.slice(close + 2).split(' ');
  return { pid, ppid: Number(rest[1]), pgrp: Number(rest[2]) };
}

/** Parses `env -0` output into sorted NAME=value entries. */
export function parseEnv0(text: string): string[] {
  return text
    .split('\0')
    .filter((entry) => entry !== '')
    .sort();
}

/** Lists the NAME=value entries of an environment object, sorted. */
export function envEntries(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${name}=${value}`)
    .sort();
}

/**
 * Waits for the init's first child and returns its host pid. Call it once the
 * main child is known to run: before that, the launcher's own subshells are
 * children of the same pid.
 */
export async function mainChildPid(init: RunningInit, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const children = fs.readFileSync(`/proc/${init.pid}/task/${init.pid}/children`, 'latin1').trim();
      if (children !== '') return Number(children.split(' ')[0]);
    } catch {
      break; // the init is gone
    }
    await sleep(20);
  }
  throw new Error(`init ${init.pid} has no child; stderr: ${init.stderr()}`);
}

/** Finds a TCP port on 127.0.0.1 that is free at the moment of the call. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

/**
 * Lists the inodes of sockets listening on 127.0.0.1:port in the network
 * namespace of pid. The tests create no network namespaces, so all processes share one.
 */
export function listenerInodes(pid: number, port: number): number[] {
  const expected = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes: number[] = [];
  for (const line of fs.readFileSync(`/proc/${pid}/net/tcp`, 'latin1').split('\n').slice(1)) {
    const columns = line.trim().split(/\s+/);
    // Columns: sl local_address rem_address st ... inode (the tenth).
    if (columns[1] === expected && columns[3] === '0A') inodes.push(Number(columns[9]));
  }
  return inodes;
}


/** Quotes a word for sh. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
