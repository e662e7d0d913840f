#!/bin/sh
# Builds what the package ships in prebuilds/<platform>-<arch>/ for linux-x64
# and linux-arm64 (glibc): the addon, one Node-API binary that loads in every
# Node version, and ts-init-launcher, the static launcher for images without
# /bin/sh. arm64 is cross-compiled with Debian's g++-aarch64-linux-gnu.
#
# The build runs in a scratch copy, because node-gyp wipes build/ and a
# development build there may be in use.
set -eu
cd "$(dirname "$0")/.."
root=$PWD

# node-gyp would download Node's headers; the installed ones are next to node.
if [ -z "${npm_config_nodedir:-}" ]; then
  npm_config_nodedir=$(node -p "require('path').resolve(process.execPath, '..', '..')")
  export npm_config_nodedir
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -R binding.gyp native package.json "$scratch/"
ln -s "$root/node_modules" "$scratch/node_modules"
cd "$scratch"

npx prebuildify --napi --strip --tag-libc --arch x64
CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
  npx prebuildify --napi --tag-libc --arch arm64 --strip --strip-bin aarch64-linux-gnu-strip

# Static, so it runs in any image whatever its libc.
launcher_flags="-static -Os -s -Wall -Wextra -Werror"
gcc $launcher_flags -o prebuilds/linux-x64/ts-init-launcher native/launcher.c
aarch64-linux-gnu-gcc $launcher_flags -o prebuilds/linux-arm64/ts-init-launcher native/launcher.c

mkdir -p "$root/prebuilds"
cp -R prebuilds/. "$root/prebuilds/"
ls -l "$root"/prebuilds/*/
