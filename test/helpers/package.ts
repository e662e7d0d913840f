// The published package as a user gets it: the prebuilt binaries
// `npm run prebuild` writes to prebuilds/, the tarball `npm pack` makes, and
// an install of that tarball on a machine without build tools or network.

import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT } from './init';

const IN_CI = process.env.CI === 'true';

export const PACKAGE_NAME = '@ts-init/ts-init';
export const PREBUILDS = path.join(ROOT, 'prebuilds');
export const ADDON_FILE = '@ts-init+ts-init.glibc.node';
export const LAUNCHER_FILE = 'ts-init-launcher';
export const ARCHES = ['x64', 'arm64'] as const;

/** Machine name readelf prints for each Node architecture. */
export const ELF_MACHINES: Record<string, string> = {
  x64: 'Advanced Micro Devices X86-64',
  arm64: 'AArch64',
};

/** Lists every file `npm run prebuild` is expected to write. */
export function expectedPrebuilds(): string[] {
  return ARCHES.flatMap((arch) => [path.join(PREBUILDS, `linux-${arch}`, ADDON_FILE), path.join(PREBUILDS, `linux-${arch}`, LAUNCHER_FILE)]);
}

/** Lists the files in prebuilds/<platform>/ whose name passes match, sorted. */
export function prebuiltFiles(match: (name: string) => boolean): string[] {
  if (!fs.existsSync(PREBUILDS)) return [];
  return fs
    .readdirSync(PREBUILDS)
    .flatMap((dir) => {
      const full = path.join(PREBUILDS, dir);
      return fs.statSync(full).isDirectory() ? fs.readdirSync(full).filter(match).map((name) => path.join(full, name)) : [];
    })
    .sort();
}

function unavailable(reason: string | undefined): string | undefined {
  if (reason !== undefined && IN_CI) throw new Error(`CI=true but ${reason}`);
  return reason;
}

/** Returns why the prebuilt binaries are missing (run `npm run prebuild`), or undefined. */
export function prebuildsUnavailable(): string | undefined {
  const missing = expectedPrebuilds().filter((file) => !fs.existsSync(file));
  if (missing.length === 0) return undefined;
  return unavailable(`needs npm run prebuild (missing ${missing.map((file) => path.relative(ROOT, file)).join(', ')})`);
}

export const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

/** Returns why an arm64 Node cannot run here under qemu-user, or undefined. */
export function arm64NodeUnavailable(): string | undefined {
  const node = process.env.TS_INIT_ARM64_NODE;
  if (node === undefined || node === '') return unavailable('needs TS_INIT_ARM64_NODE, the path of an arm64 node binary');
  if (!fs.existsSync(node)) return unavailable(`TS_INIT_ARM64_NODE names ${node}, which does not exist`);
  if (!fs.existsSync(ARM64_SYSROOT)) return unavailable(`needs the arm64 C library in ${ARM64_SYSROOT} (libc6-arm64-cross)`);
  return undefined;
}

/** Returns the directory holding npm-cli.js and npx-cli.js of the npm that runs these tests. */
export function npmBinDir(): string {
  const execPath = process.env.npm_execpath;
  if (execPath !== undefined && /np[mx]-cli\.js$/.test(execPath) && fs.existsSync(execPath)) return path.dirname(execPath);
  const located = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  if (located.status !== 0) throw new Error('npm not found on PATH');
  return path.dirname(fs.realpathSync(located.stdout.trim()));
}

export const NPM_CLI = (): string => path.join(npmBinDir(), 'npm-cli.js');
export const NPX_CLI = (): string => path.join(npmBinDir(), 'npx-cli.js');

// Compilers, linkers, make and Python: what node-gyp would need.
const BUILD_TOOLS = [/^gcc/, /^g\+\+/, /^cc$/, /^c\+\+$/, /^c89/, /^c99/, /^cpp/, /^make$/, /^gmake$/, /^cmake$/, /-linux-gnu-/, /^python/, /^clang/, /^ld/, /^as$/, /^gold$/];

export function isBuildTool(name: string): boolean {
  return BUILD_TOOLS.some((pattern) => pattern.test(name));
}

/**
 * Makes a directory of symbolic links to every program in /usr/bin and /bin
 * except the build tools, for use as the whole PATH. Node is linked even
 * when it lives elsewhere.
 */
export function makeRestrictedBin(dir: string): string {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  for (const source of ['/usr/bin', '/bin']) {
    for (const name of fs.readdirSync(source)) {
      const link = path.join(bin, name);
      if (isBuildTool(name) || fs.existsSync(link)) continue;
      fs.symlinkSync(path.join(source, name), link);
    }
  }
  if (!fs.existsSync(path.join(bin, 'node'))) fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  return bin;
}

/**
 * Returns the environment of a fresh login: HOME, the given PATH, and npm's
 * cache location when one is configured, so `--offline` finds what `npm ci`
 * put there. Nothing comes from the test runner or from npm's script runner.
 */
export function userEnvironment(bin: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { HOME: process.env.HOME ?? os.homedir(), PATH: bin, LANG: 'C.UTF-8' };
  for (const name of ['npm_config_cache', 'NPM_CONFIG_CACHE', 'TMPDIR']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  return env;
}

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function asResult(result: SpawnSyncReturns<string>): CommandResult {
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Runs `node <npm or npx cli> --offline ARGS` in a new network namespace,
 * whose only device is a loopback that is down, so no host can be reached.
 */
export function runNpmOffline(cli: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 120_000): CommandResult {
  const command = ['unshare', '--net', '--', process.execPath, cli, '--offline', ...args];
  return asResult(spawnSync(command[0], command.slice(1), { cwd, env, encoding: 'utf8', timeout: timeoutMs }));
}

/** Packs the checkout with `npm pack` into dir and returns the tarball's path. */
export function packTarball(dir: string): string {
  // Without --ignore-scripts, `prepare` would recompile dist/ in the shared
  // checkout while other test files run it. `npm ci` has built dist/ already.
  const result = asResult(
    spawnSync(process.execPath, [NPM_CLI(), 'pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    }),
  );
  if (result.status !== 0) throw new Error(`npm pack failed (${result.status}): ${result.stderr}`);
  const [{ filename }] = JSON.parse(result.stdout) as { filename: string }[];
  return path.join(dir, filename);
}

/** Lists the paths inside the tarball, without npm's leading package/. */
export function tarballEntries(tarball: string): string[] {
  const result = asResult(spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }));
  if (result.status !== 0) throw new Error(`tar -tzf ${tarball} failed: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.replace(/^package\//, ''));
}

/** Runs a binutils command (readelf, objdump) and returns its output. */
export function binutils(command: string, args: string[]): string {
  const result = asResult(spawnSync(command, args, { encoding: 'utf8' }));
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Lists the GLIBC_x.y versions the file's dynamic symbols need, as "x.y" strings. */
export function glibcVersions(file: string): string[] {
  const versions = new Set<string>();
  for (const match of binutils('objdump', ['-T', file]).matchAll(/GLIBC_(\d+(?:\.\d+)+)/g)) versions.add(match[1]);
  return [...versions];
}

/** Turns a version into one comparable number: 2.28 is 2028000, 2.17.1 is 2017001. */
export function versionKey(version: string): number {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map(Number);
  return major * 1_000_000 + minor * 1_000 + patch;
}

/** Returns the highest of the versions, or undefined for none. */
export function highestVersion(versions: string[]): string | undefined {
  return [...versions].sort((a, b) => versionKey(a) - versionKey(b)).at(-1);
}
