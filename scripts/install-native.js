#!/usr/bin/env node
// npm install hook: use a prebuilt addon from prebuilds/ when one loads
// here, otherwise build native/ with node-gyp.
//
// node-gyp downloads Node's headers unless told where they are. Node
// installs them next to its binary (<prefix>/bin/node and
// <prefix>/include/node), so that prefix is passed as npm_config_nodedir
// and the build works offline.

'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function prebuiltAddonLoads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

function isOnPath(command) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0;
}

function platformName() {
  const musl = fs.existsSync('/etc/alpine-release') || process.env.LIBC === 'musl';
  return `${process.platform}-${process.arch} (${musl ? 'musl' : 'glibc'})`;
}

function nodeGypCommand() {
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    // Outside a development checkout npm provides its own copy of node-gyp.
    if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
    return ['node-gyp'];
  }
}

function build() {
  // CXX may carry a wrapper and flags ("ccache g++"); its first word is the
  // program. node-gyp also takes its Python from PYTHON or npm_config_python.
  const compiler = (process.env.CXX || 'g++').trim().split(/\s+/)[0];
  const python = process.env.PYTHON || process.env.npm_config_python || 'python3';
  const missing = [compiler, 'make', python].filter((command) => !isOnPath(command));
  if (missing.length > 0) {
    console.error(
      `ts-init: no prebuilt addon loads on ${platformName()}, and building one needs ${missing.join(', ')}. ` +
        'Install the build tools (Alpine: apk add g++ make python3; Debian/Ubuntu: apt-get install g++ make python3) and install ts-init again.',
    );
    process.exit(1);
  }

  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const env = { ...process.env };
  if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
    env.npm_config_nodedir = prefix;
  }

  const [command, ...args] = nodeGypCommand();
  const result = spawnSync(command, [...args, 'rebuild'], { cwd: root, env, stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

if (process.env.TS_INIT_BUILD_FROM_SOURCE === '1' || !prebuiltAddonLoads()) build();
