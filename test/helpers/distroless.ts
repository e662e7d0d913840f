// An image without a shell, as the distroless Node images are: a root
// directory holding only Node and the libraries it links, the ts-init
// package and a workload, used as the root filesystem of a runc bundle.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { FIXTURES, ROOT } from './init';

/** Paths inside the image. */
export const IMAGE = {
  node: '/usr/bin/node',
  packageDir: '/opt/ts-init',
  launcher: `/opt/ts-init/prebuilds/linux-${process.arch}/ts-init-launcher`,
  workload: '/app/workload.js',
  preload: '/app/preload.js',
} as const;

// What ts-init needs at run time: its compiled code, the prebuilt addon and
// launcher, and its two run-time dependencies.
const PACKAGE_ENTRIES = ['dist', 'prebuilds', 'package.json', 'node_modules/commander', 'node_modules/node-gyp-build'];

/** Absolute paths of the shared libraries and the loader ldd lists for binary. */
export function sharedLibraries(binary: string): string[] {
  const result = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ldd ${binary} failed: ${result.stderr}`);
  return [...result.stdout.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)].map((match) => match[1]);
}

function copyInto(root: string, source: string, target: string = source): void {
  const destination = path.join(root, target);
  fs.mkdirSync(path.dirname(destination), { recursive: true });
  fs.cpSync(source, destination, { recursive: true, dereference: true });
}

/**
 * Builds the image in a fresh directory and returns it: Node at IMAGE.node
 * with its libraries at the paths ldd shows, the package in
 * IMAGE.packageDir, and the workload and preload fixtures under /app.
 */
export function buildShellFreeImage(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-init-distroless-'));
  fs.chmodSync(root, 0o755);
  // Mount points runc fills in: the root filesystem is mounted read-only,
  // so runc cannot create them.
  for (const dir of ['proc', 'dev', 'sys', 'tmp']) fs.mkdirSync(path.join(root, dir));

  copyInto(root, process.execPath, IMAGE.node);
  for (const library of sharedLibraries(process.execPath)) copyInto(root, library);
  for (const entry of PACKAGE_ENTRIES) copyInto(root, path.join(ROOT, entry), path.join(IMAGE.packageDir, entry));
  copyInto(root, path.join(FIXTURES, 'distroless-workload.js'), IMAGE.workload);
  copyInto(root, path.join(FIXTURES, 'distroless-preload.js'), IMAGE.preload);
  return root;
}

/** Creates, inside the image, the mount point for a host directory mounted at the same path. */
export function addMountPoint(root: string, dir: string): void {
  fs.mkdirSync(path.join(root, dir), { recursive: true });
}
