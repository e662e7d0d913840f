// Variables that Node reads at start-up (NODE_OPTIONS, NODE_V8_COVERAGE,
// NODE_CHANNEL_FD) are meant for the workload: they must not act on ts-init,
// itself a Node process, and must reach the main child unchanged.

import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import {
  describeIf,
  exists,
  exitStatus,
  killLeftovers,
  killQuietly,
  makeWorkDir,
  namespaceUnavailable,
  readText,
  ROOT,
  startInit,
  StartOptions,
  TS_INIT,
  waitFor,
} from './helpers/init';
import { fixture, listenerInodes, mainChildPid, MODES, freePort, socketInodes } from './helpers/state';

const channelRuns = new Set<ChildProcess>();

afterEach(() => {
  killLeftovers();
  for (const outer of channelRuns) {
    const pid = outer.pid as number;
    try {
      const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(' ').filter(Boolean);
      for (const child of children) killQuietly(Number(child), 'SIGKILL');
    } catch {
      // already gone
    }
    killQuietly(pid, 'SIGKILL');
  }
  channelRuns.clear();
});

/** ts-init started directly with Node, without the bin/ts-init launcher. */
const NODE_WITHOUT_LAUNCHER = ['node', path.join(ROOT, 'dist', 'main.js')];

/** What a `node -e` main child reports about itself. */
interface NodeReport {
  pid: number;
  present: boolean;
  options: string | null;
}

const REPORT_SCRIPT = `
require('node:fs').writeFileSync(process.argv[1], JSON.stringify({
  pid: process.pid,
  present: 'NODE_OPTIONS' in process.env,
  options: process.env.NODE_OPTIONS ?? null,
}));`;

/**
 * Runs a `node -e` main child that reports its pid and NODE_OPTIONS, with
 * the preload recording every Node process that loads it.
 */
async function runNodeChild(init: readonly string[], flags: string[], options: StartOptions, nodeOptions: string | undefined) {
  const dir = makeWorkDir();
  const reportFile = path.join(dir, 'report');
  const preloadMarker = path.join(dir, 'preloaded');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, STATE_PRELOAD_MARKER: preloadMarker };
  if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions;

  await exitStatus(await startInit(init, [...flags, '--', 'node', '-e', REPORT_SCRIPT, reportFile], { ...options, env }));
  const loaders = exists(preloadMarker)
    ? readText(preloadMarker)
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { pid: number }).pid)
    : [];
  return { report: JSON.parse(readText(reportFile)) as NodeReport, loaders };
}

// Double quotes let Node read a path with spaces. The doubled space checks
// that the value is passed on byte for byte.
const preloadOptions = () => `--require "${fixture('state-preload.js')}"  --no-deprecation`;

/**
 * Runs a sh main child that writes the value of variable name (or "unset")
 * to a marker and exits with status 3. Returns the status and the value.
 */
async function runShellChild(init: readonly string[], flags: string[], options: StartOptions, name: string, env: NodeJS.ProcessEnv) {
  const marker = path.join(makeWorkDir(), 'value');
  const script = `printf %s "\${${name}-unset}" > "$0"; exit 3`;
  const status = await exitStatus(await startInit(init, [...flags, '--', 'sh', '-c', script, marker], { ...options, env: { PATH: process.env.PATH, ...env } }));
  return { status, value: readText(marker) };
}

/**
 * Starts init under a Node parent that gives it an IPC channel (stdio
 * 'ipc' sets NODE_CHANNEL_FD), with a `node -e` main child that sends one
 * message over the channel if it has one and exits with status 3.
 */
function startWithChannel(init: readonly string[], flags: string[], namespace: boolean, marker: string) {
  const childScript = `
require('node:fs').writeFileSync(process.argv[1], typeof process.send);
if (process.send) process.send('hello from the main child', () => process.disconnect());
process.exitCode = 3;`;
  const prefix = namespace ? ['env', '--default-signal', 'unshare', '--pid', '--fork', '--mount-proc'] : ['env', '--default-signal'];
  const command = [...prefix, ...init, ...flags, '--', 'node', '-e', childScript, marker];
  const outer = spawn(command[0], command.slice(1), { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: { PATH: process.env.PATH } });
  channelRuns.add(outer);

  const messages: unknown[] = [];
  outer.on('message', (message) => messages.push(message));
  const exited = new Promise<number | null>((resolve) => outer.on('exit', (code) => resolve(code)));
  return { messages, exited };
}

/**
 * Runs a `node -e` main child under NODE_OPTIONS=--inspect and returns the
 * inodes of the sockets listening on its port, and those of the init and the child.
 */
async function inspectorSockets(init: readonly string[], flags: string[], options: StartOptions) {
  const port = await freePort();
  const ready = path.join(makeWorkDir(), 'ready');
  const childScript = `require('node:fs').writeFileSync(process.argv[1], ''); setInterval(() => {}, 1000);`;
  const env = { PATH: process.env.PATH, NODE_OPTIONS: `--inspect=127.0.0.1:${port}` };
  const run = await startInit(init, [...flags, '--', 'node', '-e', childScript, ready], { ...options, env });

  // Waiting for the listener keeps the checks from passing with no listener at all.
  await waitFor(() => exists(ready), 'the main child to start');
  await waitFor(() => listenerInodes(run.pid, port).length > 0, `a listener on port ${port}`);
  const listeners = listenerInodes(run.pid, port);
  const child = await mainChildPid(run);
  const result = { listeners, init: socketInodes(run.pid), child: socketInodes(child) };
  run.signal('SIGTERM');
  await exitStatus(run);
  return result;
}

for (const mode of MODES) {
  const options: StartOptions = { namespace: mode.namespace };

  describeIf(namespaceUnavailable(), `NODE_OPTIONS as ${mode.name}`, () => {
    test('preload runs only in child', async () => {
      const { report, loaders } = await runNodeChild([TS_INIT], mode.flags, options, preloadOptions());
      expect(loaders).toEqual([report.pid]);
    });

    test('child sees exact value', async () => {
      const { report } = await runNodeChild([TS_INIT], mode.flags, options, preloadOptions());
      expect(report.options).toBe(preloadOptions());
    });

    test('empty value stays set', async () => {
      const { report } = await runNodeChild([TS_INIT], mode.flags, options, '');
      expect(report).toMatchObject({ present: true, options: '' });
    });

    test('unset value stays unset', async () => {
      const { report } = await runNodeChild([TS_INIT], mode.flags, options, undefined);
      expect(report.present).toBe(false);
    });
  });

  describeIf(namespaceUnavailable(), `NODE_V8_COVERAGE as ${mode.name}`, () => {
    test('ts-init writes no coverage', async () => {
      const coverage = makeWorkDir();
      await runShellChild([TS_INIT], mode.flags, options, 'NODE_V8_COVERAGE', { NODE_V8_COVERAGE: coverage });
      expect(fs.readdirSync(coverage)).toEqual([]);
    });

    // ts-init ends with _exit, which skips Node's coverage writer, except
    // when the program cannot be started: that exit goes through Node.
    test('no coverage when the program is missing', async () => {
      const coverage = makeWorkDir();
      const init = await startInit([TS_INIT], [...mode.flags, '--', 'ts-init-no-such-command'], {
        ...options,
        env: { ...process.env, NODE_V8_COVERAGE: coverage },
      });
      expect(await exitStatus(init)).toBe(127);
      expect(fs.readdirSync(coverage)).toEqual([]);
    });

    test('child sees coverage directory', async () => {
      const coverage = makeWorkDir();
      const { value } = await runShellChild([TS_INIT], mode.flags, options, 'NODE_V8_COVERAGE', { NODE_V8_COVERAGE: coverage });
      expect(value).toBe(coverage);
    });
  });

  describeIf(namespaceUnavailable(), `NODE_CHANNEL_FD as ${mode.name}`, () => {
    test('message from child arrives', async () => {
      const marker = path.join(makeWorkDir(), 'send');
      const run = startWithChannel([TS_INIT], mode.flags, mode.namespace, marker);
      await run.exited;
      expect(run.messages).toEqual(['hello from the main child']);
    });

    test('exit status stays the child\'s', async () => {
      const marker = path.join(makeWorkDir(), 'send');
      const run = startWithChannel([TS_INIT], mode.flags, mode.namespace, marker);
      expect(await run.exited).toBe(3);
    });
  });

  describeIf(namespaceUnavailable(), `inspector as ${mode.name}`, () => {
    test('ts-init holds no inspector port', async () => {
      const sockets = await inspectorSockets([TS_INIT], mode.flags, options);
      expect(sockets.init.filter((inode) => sockets.listeners.includes(inode))).toEqual([]);
    });

    test('child opens the inspector port', async () => {
      const sockets = await inspectorSockets([TS_INIT], mode.flags, options);
      expect(sockets.child.filter((inode) => sockets.listeners.includes(inode))).toHaveLength(1);
    });

    test('inspect-brk does not pause ts-init', async () => {
      const nodeOptions = `--inspect-brk=127.0.0.1:${await freePort()}`;
      const { value } = await runShellChild([TS_INIT], mode.flags, options, 'NODE_OPTIONS', { NODE_OPTIONS: nodeOptions });
      expect(value).toBe(nodeOptions);
    });
  });
}

// The same runs with Node started on dist/main.js directly: each variable
// then acts on ts-init, which shows that the checks above can fail.
describeIf(namespaceUnavailable(), 'controls without the launcher', () => {
  test('preload also runs in ts-init', async () => {
    const { loaders } = await runNodeChild(NODE_WITHOUT_LAUNCHER, [], {}, preloadOptions());
    expect(loaders).toContain(1);
  });

  test('ts-init writes coverage', async () => {
    const coverage = makeWorkDir();
    const init = await startInit(NODE_WITHOUT_LAUNCHER, ['--', 'ts-init-no-such-command'], {
      env: { ...process.env, NODE_V8_COVERAGE: coverage },
    });
    expect(await exitStatus(init)).toBe(127);
    expect(fs.readdirSync(coverage)).not.toEqual([]);
  });

  test('child loses the IPC channel', async () => {
    const marker = path.join(makeWorkDir(), 'send');
    const run = startWithChannel(NODE_WITHOUT_LAUNCHER, [], true, marker);
    await run.exited;
    expect(readText(marker)).toBe('undefined');
  });

  test('inspect-brk pauses ts-init', async () => {
    const port = await freePort();
    const marker = path.join(makeWorkDir(), 'value');
    const env = { PATH: process.env.PATH, NODE_OPTIONS: `--inspect-brk=127.0.0.1:${port}` };
    const run = await startInit(NODE_WITHOUT_LAUNCHER, ['--', 'sh', '-c', 'echo started > "$0"', marker], { env });
    await waitFor(() => listenerInodes(run.pid, port).some((inode) => socketInodes(run.pid).includes(inode)), 'ts-init to listen for a debugger');
    expect(exists(marker)).toBe(false);
  });
});
