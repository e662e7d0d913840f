// Running an init as an unprivileged user over a child that becomes root,
// for the drop-in tests.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, TS_INIT } from './init';

const IN_CI = process.env.CI === 'true';

/** setpriv arguments that drop every id to 65534 (nobody) before the init starts. */
export const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

/** The arguments a setuid-root copy of setpriv takes to make all of its ids root. */
export const TO_ROOT = ['--reuid=0', '--regid=0', '--clear-groups'];

function mountOptions(directory: string): string {
  return execFileSync('findmnt', ['--noheadings', '--output', 'OPTIONS', '--target', directory], { encoding: 'utf8' }).trim();
}

/**
 * Makes a directory on a filesystem that honours setuid bits, holding
 * `rootpriv`, a setuid-root copy of setpriv. A setuid binary alone keeps
 * the real uid of its caller, and the kernel lets a process signal another
 * whose real uid matches its own. rootpriv sets every id to root, which puts
 * the child out of the unprivileged init's reach.
 */
export function makeSetuidRoot(): { directory: string; rootpriv: string } {
  const bases = [os.tmpdir(), '/var/tmp', path.join(ROOT, 'test')];
  const base = bases.find((candidate) => fs.existsSync(candidate) && !mountOptions(candidate).split(',').includes('nosuid'));
  if (base === undefined) throw new Error(`no directory without nosuid among ${bases.join(', ')}`);

  const directory = fs.mkdtempSync(path.join(base, base === path.join(ROOT, 'test') ? '.tmp-' : 'ts-init-setuid-'));
  fs.chmodSync(directory, 0o755);
  const rootpriv = path.join(directory, 'rootpriv');
  fs.copyFileSync(execFileSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).trim(), rootpriv);
  fs.chownSync(rootpriv, 0, 0);
  fs.chmodSync(rootpriv, 0o4755);
  return { directory, rootpriv };
}

/**
 * Returns why the unprivileged-init tests cannot run here, or undefined.
 * Uid 65534 must be able to run ts-init (repository files and node readable
 * and executable), and a setuid-root copy of setpriv must give root.
 */
export function unprivilegedUnavailable(): string | undefined {
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = 'needs root to switch users and make a setuid binary';
  else if (spawnSync('sh', ['-c', 'command -v setpriv && command -v findmnt'], { stdio: 'ignore' }).status !== 0) {
    reason = 'needs setpriv and findmnt (util-linux)';
  } else if (spawnSync(AS_NOBODY[0], [...AS_NOBODY.slice(1), TS_INIT, '--version'], { stdio: 'ignore' }).status !== 0) {
    reason = 'uid 65534 cannot run bin/ts-init (repository or node not readable by others)';
  } else {
    let setuidCopy: { directory: string; rootpriv: string } | undefined;
    try {
      setuidCopy = makeSetuidRoot();
      const result = spawnSync(AS_NOBODY[0], [...AS_NOBODY.slice(1), setuidCopy.rootpriv, ...TO_ROOT, 'id', '-u'], { encoding: 'utf8' });
      if (result.stdout.trim() !== '0') reason = 'a setuid-root binary does not give root here (nosuid or no_new_privs)';
    } catch (error) {
      reason = `cannot make a setuid-root binary: ${(error as Error).message}`;
    } finally {
      if (setuidCopy !== undefined) fs.rmSync(setuidCopy.directory, { recursive: true, force: true });
    }
  }
  if (reason !== undefined && IN_CI) throw new Error(`CI=true but ${reason}`);
  return reason;
}

/** Returns the real, effective, saved and filesystem uids of pid, from /proc. */
export function uidsOf(pid: number): number[] | undefined {
  try {
    const line = /^Uid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1];
    return line?.split(/\s+/).map(Number);
  } catch {
    return undefined;
  }
}

/** Returns the signals pending for the whole process (ShdPnd), as a bit mask. */
export function sharedPending(pid: number): bigint | undefined {
  try {
    const hex = /^ShdPnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1];
    return hex === undefined ? undefined : BigInt(`0x${hex}`);
  } catch {
    return undefined;
  }
}
