// The package as npm publishes it. The prebuilt binaries must run wherever
// the official Node binaries run, and the arm64 addon must load in an arm64
// Node. The tarball must hold what an install needs and nothing else. On a
// machine with neither compiler nor network, an install of that tarball must
// work from the prebuilt addon alone.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';

import {
  describeIf,
  exists,
  exitStatus,
  FIXTURES,
  killLeftovers,
  makeWorkDir,
  namespaceUnavailable,
  programUnavailable,
  readText,
  ROOT,
  RunningInit,
  startInit,
  TS_INIT,
  waitFor,
} from './helpers/init';
import {
  ADDON_FILE,
  ARM64_SYSROOT,
  arm64NodeUnavailable,
  binutils,
  CommandResult,
  ELF_MACHINES,
  expectedPrebuilds,
  glibcVersions,
  highestVersion,
  LAUNCHER_FILE,
  makeRestrictedBin,
  NPM_CLI,
  NPX_CLI,
  PACKAGE_NAME,
  packTarball,
  PREBUILDS,
  prebuildsUnavailable,
  prebuiltFiles,
  runNpmOffline,
  tarballEntries,
  userEnvironment,
  versionKey,
} from './helpers/package';

// The official Node.js Linux binaries, from Node 18 on, are built against
// glibc 2.28 and need at least that version.
const GLIBC_FLOOR = '2.28';
const DOCUMENTED_NPX = `npx -p ${PACKAGE_NAME} ts-init --`;
// Below the test timeout, so a hung npx fails its test with a message.
const NPX_TIMEOUT_MS = 45_000;

const workDirs: string[] = [];

afterEach(killLeftovers);
afterAll(() => {
  for (const dir of workDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function newWorkDir(): string {
  const dir = makeWorkDir();
  workDirs.push(dir);
  return dir;
}

let packed: string | undefined;

/** Packs this checkout on first use and returns the tarball's path. */
function tarball(): string {
  packed ??= packTarball(newWorkDir());
  return packed;
}

function prebuildCase(file: string): { file: string; full: string; arch: string } {
  return { file: path.relative(ROOT, file), full: file, arch: path.basename(path.dirname(file)).replace(/^linux-/, '') };
}

// The files found on disk, plus the ones the prebuild script must write, so
// that a missing one fails its own test.
const addonCases = [...new Set([...expectedPrebuilds().filter((file) => file.endsWith('.node')), ...prebuiltFiles((name) => name.endsWith('.node'))])].map(prebuildCase);
const launcherCases = [...new Set([...expectedPrebuilds().filter((file) => file.endsWith(LAUNCHER_FILE)), ...prebuiltFiles((name) => name === LAUNCHER_FILE)])].map(prebuildCase);

describeIf(prebuildsUnavailable() ?? programUnavailable('objdump') ?? programUnavailable('readelf'), 'prebuilt binaries', () => {
  test.each(addonCases)('addon $file needs known glibc', ({ full }) => {
    expect(glibcVersions(full).length).toBeGreaterThan(0);
  });

  test.each(addonCases)(`addon $file needs glibc ${GLIBC_FLOOR} at most`, ({ full }) => {
    const highest = highestVersion(glibcVersions(full)) ?? '0';
    expect(versionKey(highest), `highest GLIBC_ version needed is ${highest}`).toBeLessThanOrEqual(versionKey(GLIBC_FLOOR));
  });

  test.each(launcherCases)('launcher $file has no interpreter', ({ full }) => {
    expect(binutils('readelf', ['-lW', full])).not.toMatch(/\bINTERP\b/);
  });

  test.each(launcherCases)('launcher $file needs no library', ({ full }) => {
    expect(binutils('readelf', ['-dW', full])).not.toContain('(NEEDED)');
  });

  test.each([...addonCases, ...launcherCases])('$file targets its architecture', ({ full, arch }) => {
    const machine = /^\s*Machine:\s*(.+)$/m.exec(binutils('readelf', ['-hW', full]))?.[1].trim();
    expect(machine).toBe(ELF_MACHINES[arch]);
  });
});

const BUILT_ADDON = path.join(ROOT, 'build', 'Release', 'ts_init.node');

describeIf(prebuildsUnavailable() ?? (exists(BUILT_ADDON) ? undefined : 'needs the addon built by npm ci in build/Release'), 'prebuilt addon freshness', () => {
  // A prebuilt addon older than native/ still loads, and then dist/ calls
  // what it lacks: the installed package fails while the checkout works.
  /** Lists the names the addon exports, sorted. */
  function exportedNames(addon: string): string[] {
    const script = 'const binding = { exports: {} }; process.dlopen(binding, process.argv[1]); console.log(JSON.stringify(Object.keys(binding.exports).sort()));';
    const result = spawnSync(process.execPath, ['-e', script, addon], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`loading ${addon} failed: ${result.stderr}`);
    return JSON.parse(result.stdout);
  }

  test('prebuild exports match build', () => {
    const prebuilt = path.join(PREBUILDS, `linux-${process.arch}`, ADDON_FILE);
    expect(exportedNames(prebuilt), 'prebuilds/ is older than native/; run npm run prebuild').toEqual(exportedNames(BUILT_ADDON));
  });
});

describeIf(prebuildsUnavailable() ?? programUnavailable('qemu-aarch64') ?? arm64NodeUnavailable(), 'arm64 addon under qemu-user', () => {
  // Loads the addon by hand, calls waitpid to get a system call's error,
  // and reads the real-time signal range, which glibc computes at run time.
  const probe = `
    const binding = { exports: {} };
    process.dlopen(binding, process.argv[1]);
    const addon = binding.exports;
    let code = 'no error';
    try {
      addon.waitpid(-1, addon.WNOHANG);
    } catch (error) {
      code = error.code;
    }
    console.log(JSON.stringify({ code, arch: process.arch, rtmin: addon.SIGRTMIN, rtmax: addon.SIGRTMAX }));
  `;
  let run: CommandResult;
  let report: { code?: string; arch?: string; rtmin?: number; rtmax?: number } = {};

  beforeAll(() => {
    const addon = path.join(PREBUILDS, 'linux-arm64', ADDON_FILE);
    const node = process.env.TS_INIT_ARM64_NODE as string;
    const result = spawnSync('qemu-aarch64', ['-L', ARM64_SYSROOT, node, '-e', probe, addon], { encoding: 'utf8', timeout: 110_000 });
    run = { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
    const last = run.stdout.trim().split('\n').at(-1) ?? '';
    if (run.status === 0 && last.startsWith('{')) report = JSON.parse(last);
  }, 120_000);

  test('arm64 node loads addon', () => {
    expect(run.status, run.stderr).toBe(0);
  });

  test('process.arch is arm64', () => {
    expect(report.arch).toBe('arm64');
  });

  test('waitpid without children fails ECHILD', () => {
    expect(report.code).toBe('ECHILD');
  });

  test('SIGRTMIN is 34', () => {
    expect(report.rtmin).toBe(34);
  });

  test('SIGRTMAX is 64', () => {
    expect(report.rtmax).toBe(64);
  });
});

describeIf(prebuildsUnavailable() ?? programUnavailable('qemu-aarch64'), 'arm64 launcher under qemu-user', () => {
  let lines: string[];

  beforeAll(() => {
    // A host shell script takes the place of node: qemu-user runs the
    // launcher, and the launcher's execve starts the script natively.
    const fakeNode = path.join(newWorkDir(), 'node');
    fs.copyFileSync(path.join(FIXTURES, 'pkg-fake-node.sh'), fakeNode);
    fs.chmodSync(fakeNode, 0o755);
    const launcher = path.join(PREBUILDS, 'linux-arm64', LAUNCHER_FILE);
    const env = { PATH: process.env.PATH, TS_INIT_NODE: fakeNode, NODE_OPTIONS: '--require /nonexistent.js' };
    const result = spawnSync('qemu-aarch64', [launcher, '--', 'sh', '-c', 'exit 3'], { env, encoding: 'utf8', timeout: 60_000 });
    lines = (result.stdout ?? '').trim().split('\n');
  }, 90_000);

  test('arm64 launcher runs dist/main.js', () => {
    const args = lines.filter((line) => line.startsWith('arg ')).map((line) => line.slice(4));
    expect(args).toEqual(['--v8-pool-size=1', path.join(ROOT, 'dist', 'main.js'), '--', 'sh', '-c', 'exit 3']);
  });

  test('arm64 launcher moves NODE_OPTIONS aside', () => {
    expect(lines).toContain('NODE_OPTIONS (unset)');
    expect(lines).toContain('TS_INIT_SAVED_NODE_OPTIONS --require /nonexistent.js');
  });
});

describeIf(prebuildsUnavailable() ?? programUnavailable('tar'), 'npm pack contents', () => {
  let entries: string[];

  beforeAll(() => {
    entries = tarballEntries(tarball());
  }, 180_000);

  const nativeSources = fs
    .readdirSync(path.join(ROOT, 'native'))
    .filter((name) => /\.(cc|h)$/.test(name))
    .map((name) => `native/${name}`);
  const required = [
    'bin/ts-init',
    'dist/main.js',
    ...expectedPrebuilds().map((file) => path.relative(ROOT, file)),
    'binding.gyp',
    ...nativeSources,
    'scripts/install-native.js',
    'package.json',
    'README.md',
    'LICENSE',
  ];

  test.each(required)('tarball contains %s', (entry) => {
    expect(entries).toContain(entry);
  });

  test.each(['test/', 'src/', '.ci/', 'examples/', 'node_modules/', 'build/'])('tarball leaves out %s', (prefix) => {
    expect(entries.filter((entry) => entry.startsWith(prefix))).toEqual([]);
  });
});

const HOST_LAUNCHER = path.join(PREBUILDS, `linux-${process.arch}`, LAUNCHER_FILE);
const launchers = [{ name: 'bin/ts-init', file: TS_INIT }, ...(exists(HOST_LAUNCHER) ? [{ name: 'static launcher', file: HOST_LAUNCHER }] : [])];

describeIf(namespaceUnavailable(), 'PID namespace without own /proc', () => {
  // `unshare --pid --fork` without --mount-proc leaves /proc showing the
  // parent namespace, so there /proc/1 is the parent's PID 1, not ts-init.
  // The parent's PID 1 here has OUTER in its environment.

  /** Runs launcher as PID 1 of the inner namespace and returns its exit status. */
  function runNested(launcher: string, out: string): number | null {
    const program = `printf '%s/%s' "$INNER" "$OUTER" > ${out}; exit 3`;
    const inner = ['unshare', '--pid', '--fork', 'env', '-i', 'INNER=yes', `PATH=${process.env.PATH}`, launcher, '--', 'sh', '-c', program];
    const outer = ['env', '--default-signal', 'unshare', '--pid', '--fork', '--mount-proc', '--kill-child', 'env', '-i', 'OUTER=parent', `PATH=${process.env.PATH}`];
    const command = [...outer, ...inner];
    return spawnSync(command[0], command.slice(1), { stdio: 'ignore', timeout: 45_000 }).status;
  }

  test.each(launchers)('$name starts its program', ({ file }) => {
    expect(runNested(file, path.join(newWorkDir(), 'seen'))).toBe(3);
  });

  test.each(launchers)('$name passes its own environment', ({ file }) => {
    const out = path.join(newWorkDir(), 'seen');
    runNested(file, out);
    expect(exists(out) ? readText(out) : '(program never ran)').toBe('yes/');
  });
});

describeIf(prebuildsUnavailable() ?? namespaceUnavailable(), 'install without build tools or network', () => {
  let bin: string;
  let env: NodeJS.ProcessEnv;
  let project: string;
  let installed: string;
  let install: CommandResult;

  beforeAll(() => {
    const dir = newWorkDir();
    bin = makeRestrictedBin(dir);
    env = userEnvironment(bin);
    project = path.join(dir, 'project');
    fs.mkdirSync(project);
    installed = path.join(project, 'node_modules', ...PACKAGE_NAME.split('/'));
    install = runNpmOffline(NPM_CLI(), ['install', '--no-audit', '--no-fund', tarball()], project, env);
  }, 300_000);

  function onRestrictedPath(tool: string): boolean {
    return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { env, stdio: 'ignore' }).status === 0;
  }

  test.each(['g++', 'gcc', 'cc', 'make', 'python3'])('restricted PATH hides %s', (tool) => {
    expect(onRestrictedPath(tool)).toBe(false);
  });

  test('npm install succeeds offline', () => {
    expect(install.status, install.stderr).toBe(0);
  });

  test('npm install builds nothing', () => {
    expect(exists(path.join(installed, 'package.json'))).toBe(true);
    expect(exists(path.join(installed, 'build'))).toBe(false);
  });

  test('npx runs installed ts-init', () => {
    const run = runNpmOffline(NPX_CLI(), ['-p', PACKAGE_NAME, 'ts-init', '--', 'sh', '-c', 'exit 3'], project, env, NPX_TIMEOUT_MS);
    expect(run.status, run.stderr).toBe(3);
  });

  /** Starts the installed ts-init on pkg-term.sh as PID 1 and waits for the program's ready marker. */
  async function startInstalled(marks: string): Promise<RunningInit> {
    const init = await startInit([path.join(project, 'node_modules', '.bin', 'ts-init')], ['--', 'sh', path.join(FIXTURES, 'pkg-term.sh'), marks], { env });
    let exited = false;
    void init.exited.then(() => (exited = true));
    await waitFor(() => exited || exists(path.join(marks, 'ready')), 'the program to start', 30_000);
    if (!exists(path.join(marks, 'ready'))) throw new Error(`ts-init exited before the program started: ${init.stderr()}`);
    return init;
  }

  test('installed copy runs from prebuilt addon', async () => {
    const marks = newWorkDir();
    const init = await startInstalled(marks);

    const script = fs
      .readFileSync(`/proc/${init.pid}/cmdline`, 'utf8')
      .split('\0')
      .find((arg) => arg.endsWith('/dist/main.js'));
    expect(fs.realpathSync(script ?? '/nonexistent')).toBe(fs.realpathSync(path.join(installed, 'dist', 'main.js')));
    const addon = fs.realpathSync(path.join(installed, 'prebuilds', `linux-${process.arch}`, ADDON_FILE));
    expect(readText(`/proc/${init.pid}/maps`)).toContain(addon);
  });

  test('installed copy forwards SIGTERM', async () => {
    const marks = newWorkDir();
    const init = await startInstalled(marks);

    init.signal('SIGTERM');
    expect(await exitStatus(init, 30_000)).toBe(0);
    expect(exists(path.join(marks, 'term'))).toBe(true);
  });

  describe('README npx instructions', () => {
    const lines = readText(path.join(ROOT, 'README.md')).split('\n');
    const documented = lines.map((line) => line.trim()).find((line) => line.startsWith(DOCUMENTED_NPX));

    test('README documents scoped npx', () => {
      expect(documented, `no README line starts with "${DOCUMENTED_NPX}"`).toBeDefined();
    });

    test('README npx lines name scope', () => {
      // A bare `npx ts-init` outside a clone fetches an unrelated package.
      const bare = lines.filter((line) => /\bnpx\b/.test(line) && !line.includes(PACKAGE_NAME) && !/\bclone\b/i.test(line));
      expect(bare).toEqual([]);
    });

    test('documented npx line exits 3', () => {
      expect(documented, `no README line starts with "${DOCUMENTED_NPX}"`).toBeDefined();
      // The documented words up to `--`, with the program replaced.
      const words = (documented as string).slice(0, (documented as string).indexOf(' --')).split(/\s+/);
      const run = runNpmOffline(NPX_CLI(), [...words.slice(1), '--', 'sh', '-c', 'exit 3'], project, env, NPX_TIMEOUT_MS);
      expect(run.status, run.stderr).toBe(3);
    });
  });

  describe('install script without prebuilds', () => {
    let script: CommandResult;

    beforeAll(() => {
      // A copy of the installed project, so node-gyp-build is still found
      // and only the prebuilt binaries are missing.
      const copy = path.join(newWorkDir(), 'project');
      fs.cpSync(project, copy, { recursive: true, verbatimSymlinks: true });
      const copied = path.join(copy, 'node_modules', ...PACKAGE_NAME.split('/'));
      fs.rmSync(path.join(copied, 'prebuilds'), { recursive: true, force: true });
      const result = spawnSync(process.execPath, ['scripts/install-native.js'], { cwd: copied, env, encoding: 'utf8', timeout: 60_000 });
      script = { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
    }, 120_000);

    test('install script fails', () => {
      expect(script.status).toBeGreaterThan(0);
    });

    test('install script prints one line', () => {
      expect(script.stderr.trim().split('\n')).toHaveLength(1);
    });

    test.each(['g++', 'make', 'python3'])('message names %s', (tool) => {
      expect(script.stderr).toContain(tool);
    });

    test('message says what to install', () => {
      expect(script.stderr).toMatch(/apt-get install|apk add/);
    });
  });
});
