#!/usr/bin/env node
// npm install hook: use a prebuilt addon from prebuilds/ when one loads,
// otherwise build native/ with node-gyp.
//
// node-gyp downloads Node's headers unless told where they are. Node
// installs them next to its binary (<prefix>/bin/node and
// <prefix>/include/node), so that prefix is passed as npm_config_nodedir
// and the build works offline.

'use strict';

const fs = require('node:fs');
const path = require('node:path');

const prefix = path.resolve(path.dirname(process.execPath), '..');
const headers = path.join(prefix, 'include', 'node', 'node_api.h');

if (!process.env.npm_config_nodedir && fs.existsSync(headers)) {
  process.env.npm_config_nodedir = prefix;
}

require('node-gyp-build/bin.js');
