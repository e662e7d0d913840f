// Command-line parsing, tested as data: what each flag and variable sets,
// and how bad input is reported.

import { spawnSync } from 'node:child_process';

import { describe, expect, test } from 'vitest';

import { DEFAULT_GRACE_PERIOD_MS, parseCommandLine, RunOptions } from '../src/cli';
import { TS_INIT } from './helpers/init';

function parse(args: string[], env: NodeJS.ProcessEnv = {}) {
  const output = { out: '', err: '' };
  const result = parseCommandLine(args, env, '1.2.3', {
    out: (text) => (output.out += text),
    err: (text) => (output.err += text),
  });
  return { result, ...output };
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): RunOptions {
  const { result, err } = parse(args, env);
  if (!('run' in result)) throw new Error(`expected a run, got exit ${result.exitCode}: ${err}`);
  return result.run;
}

describe('command line', () => {
  test('defaults', () => {
    const options = run(['--', 'sleep', '1']);
    expect(options.command).toEqual(['sleep', '1']);
    expect(options.target).toBe('group');
    expect(options.subreaper).toBe(false);
    expect(options.verbosity).toBe(1);
    expect(options.gracePeriodMs).toBe(DEFAULT_GRACE_PERIOD_MS);
    expect(options.gracePeriodExplicit).toBe(false);
    expect(options.waitAll).toBe(false);
    expect(options.pidfile).toBeUndefined();
  });

  test('program without --', () => {
    expect(run(['sleep', '1']).command).toEqual(['sleep', '1']);
  });

  test('fast path matches full parse', () => {
    // Without a leading option commander is not loaded at all.
    expect(run(['--', 'x', '-v'])).toEqual(run(['-g', '--', 'x', '-v']));
    expect(run(['x', '-v'], { TINI_SUBREAPER: '' })).toEqual(run(['-g', 'x', '-v'], { TINI_SUBREAPER: '' }));
  });

  test('options after the program belong to it', () => {
    const options = run(['-s', 'cmd', '-v', '--wait-all']);
    expect(options.command).toEqual(['cmd', '-v', '--wait-all']);
    expect(options.subreaper).toBe(true);
    expect(options.verbosity).toBe(1);
    expect(options.waitAll).toBe(false);
  });

  test('combined short flags', () => {
    const options = run(['-sg', '-vvv', '--', 'x']);
    expect(options.subreaper).toBe(true);
    expect(options.target).toBe('group');
    expect(options.verbosity).toBe(4);
  });

  test('targets', () => {
    expect(run(['-c', 'x']).target).toBe('child');
    expect(run(['--single-child', 'x']).target).toBe('child');
    expect(run(['-a', 'x']).target).toBe('all');
    expect(run(['-g', 'x']).target).toBe('group');
  });

  test('repeatable -e', () => {
    expect([...run(['-e', '143', '-e', '2', 'x']).successCodes]).toEqual([143, 2]);
  });

  test('rewrite by name and number', () => {
    const rewrites = run(['-r', 'TERM:QUIT', '-r', '10:0', '--rewrite', 'SIGRTMIN+1:HUP', 'x']).rewrites;
    expect(rewrites.get(15)).toBe(3);
    expect(rewrites.get(10)).toBe(0);
    expect(rewrites.get(35)).toBe(1);
  });

  test('grace period units', () => {
    expect(run(['--grace-period', '500ms', 'x']).gracePeriodMs).toBe(500);
    expect(run(['--grace-period', '10s', 'x']).gracePeriodMs).toBe(10_000);
    expect(run(['--grace-period', '1m', 'x']).gracePeriodMs).toBe(60_000);
    expect(run(['--grace-period', '2.5', 'x']).gracePeriodMs).toBe(2500);
    expect(run(['--grace-period', '2', 'x']).gracePeriodExplicit).toBe(true);
  });

  test('parent death signal', () => {
    expect(run(['-p', 'SIGKILL', 'x']).parentDeathSignal).toBe(9);
    expect(run(['-p', 'term', 'x']).parentDeathSignal).toBe(15);
  });
});

describe('environment', () => {
  test('tini variables', () => {
    const options = run(['x'], { TINI_SUBREAPER: '', TINI_VERBOSITY: '3', TINI_KILL_PROCESS_GROUP: '1' });
    expect(options.subreaper).toBe(true);
    expect(options.verbosity).toBe(3);
    expect(options.target).toBe('group');
  });

  test('dumb-init variables', () => {
    const options = run(['x'], { DUMB_INIT_SETSID: '0', DUMB_INIT_DEBUG: '1' });
    expect(options.target).toBe('child');
    expect(options.verbosity).toBe(3);
  });

  test('ts-init variables', () => {
    const options = run(['x'], { TS_INIT_GRACE_PERIOD: '3s', TS_INIT_WAIT_ALL: '1', TS_INIT_PIDFILE: '/run/x.pid', TS_INIT_SUBREAPER: '1', TS_INIT_ALL: '' });
    expect(options.target).toBe('all');
    expect(options.gracePeriodMs).toBe(3000);
    expect(options.gracePeriodExplicit).toBe(true);
    expect(options.waitAll).toBe(true);
    expect(options.pidfile).toBe('/run/x.pid');
    expect(options.subreaper).toBe(true);
  });

  test('flags win over variables', () => {
    expect(run(['--grace-period', '1s', 'x'], { TS_INIT_GRACE_PERIOD: '9s' }).gracePeriodMs).toBe(1000);
    expect(run(['-v', 'x'], { TINI_VERBOSITY: '2' }).verbosity).toBe(3);
  });
});

describe('usage errors', () => {
  test.each([
    { args: ['--bogus', 'x'], names: "'--bogus'" },
    { args: ['-e', '256', 'x'], names: '256' },
    { args: ['-e', 'abc', 'x'], names: 'abc' },
    { args: ['-p', 'NOPE', 'x'], names: 'NOPE' },
    { args: ['-r', '99:1', 'x'], names: '99:1' },
    { args: ['-r', 'TERM', 'x'], names: 'TERM' },
    { args: ['--grace-period', 'abc', 'x'], names: '--grace-period' },
  ])('$args', ({ args, names }) => {
    const { result, err, out } = parse(args);
    expect(result).toEqual({ exitCode: 1 });
    expect(out).toBe('');
    const lines = err.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toContain(names);
    expect(lines[1]).toContain('--help');
  });

  test('missing program', () => {
    const { result, err } = parse([]);
    expect(result).toEqual({ exitCode: 1 });
    expect(err).toMatch(/^error: missing program to run\n.*--help/);
  });

  test('bad grace period variable', () => {
    const { result, err } = parse(['x'], { TS_INIT_GRACE_PERIOD: 'soon' });
    expect(result).toEqual({ exitCode: 1 });
    expect(err).toContain('TS_INIT_GRACE_PERIOD');
  });
});

describe('informational flags', () => {
  test('--help lists every option on stdout', () => {
    const { result, out, err } = parse(['--help']);
    expect(result).toEqual({ exitCode: 0 });
    expect(err).toBe('');
    for (const flag of ['-s', '-g', '-p <signal>', '-v, --verbose', '-w', '-e <code>', '-l', '-c, --single-child', '-r, --rewrite', '-a, --all', '--grace-period <duration>', '--wait-all', '--pidfile <path>', '-V, --version']) {
      expect(out).toContain(flag);
    }
    expect(out).toContain('tini-compatible options:');
    expect(out).toContain('dumb-init-compatible options:');
    expect(out).toContain("ts-init's own options:");
  });

  test('--version and -V', () => {
    expect(parse(['--version'])).toMatchObject({ result: { exitCode: 0 }, out: '1.2.3\n' });
    expect(parse(['-V'])).toMatchObject({ result: { exitCode: 0 }, out: '1.2.3\n' });
  });

  test('-l prints the license', () => {
    const { result, out } = parse(['-l']);
    expect(result).toEqual({ exitCode: 0 });
    expect(out).toContain('MIT');
  });
});

// The same errors from the built binary, as a user sees them.
describe('usage errors from bin/ts-init', () => {
  test.each([
    { args: ['--bogus', 'true'], names: '--bogus' },
    { args: ['-e', '256', 'true'], names: '256' },
    { args: ['-p', 'NOPE', 'true'], names: 'NOPE' },
    { args: ['-r', '99:1', 'true'], names: '99:1' },
    { args: ['--grace-period', 'abc', 'true'], names: '--grace-period' },
    { args: [], names: 'missing program' },
  ])('$args', ({ args, names }) => {
    const result = spawnSync(TS_INIT, args, { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(names);
    expect(lines[1]).toContain('--help');
  });

  test('--help exits 0 on stdout', () => {
    const result = spawnSync(TS_INIT, ['--help'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: ts-init');
    expect(result.stderr).toBe('');
  });
});
