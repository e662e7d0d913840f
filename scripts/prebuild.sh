#!/bin/sh
# Builds the prebuilt addons shipped in the package: prebuilds/linux-x64 and
# prebuilds/linux-arm64, glibc, one Node-API binary per platform for every
# Node version. arm64 is cross-compiled with Debian's g++-aarch64-linux-gnu.
set -eu
cd "$(dirname "$0")/.."

# node-gyp would download Node's headers; the installed ones are next to node.
if [ -z "${npm_config_nodedir:-}" ]; then
  npm_config_nodedir=$(node -p "require('path').resolve(process.execPath, '..', '..')")
  export npm_config_nodedir
fi

npx prebuildify --napi --strip --tag-libc --arch x64

CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
  npx prebuildify --napi --tag-libc --arch arm64 --strip --strip-bin aarch64-linux-gnu-strip
