#!/usr/bin/env node
// Builds the native addon with node-gyp -> build/Release/aioloop.node
// (build/Debug/aioloop.node with --debug). Runs as the package's `install`
// script, so it must never break `npm install` for users: the TypeScript
// default loop works without the addon.
//
//   node scripts/build-native.mjs [extra node-gyp args, e.g. --debug -j max]
//
// Exit status: 0 on success. On failure, 1 if CI is set (and not "false"/"0")
// or AIOLOOP_REQUIRE_NATIVE=1; otherwise a warning and 0.
//
// Offline by design: we pass --nodedir=<prefix of the running node>, so
// node-gyp compiles against the headers that ship with this node instead of
// downloading a tarball. We do not rely on `nodedir` from an .npmrc.
// Only node builtins are used: this runs before devDependencies may exist.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const passthrough = process.argv.slice(2);

function isTruthyEnv(value) {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

const strict = isTruthyEnv(process.env.CI) || process.env.AIOLOOP_REQUIRE_NATIVE === '1';

// Resolve node-gyp, preferring the pinned devDependency, then the copy npm
// bundles (npm exports its path as npm_config_node_gyp to scripts), then PATH.
// .js entry points run under the current node so PATH/shebangs don't matter.
function findNodeGyp() {
  const local = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(local)) return { cmd: process.execPath, args: [local], label: local };
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) {
    return /\.[cm]?js$/.test(fromNpm)
      ? { cmd: process.execPath, args: [fromNpm], label: fromNpm }
      : { cmd: fromNpm, args: [], label: fromNpm };
  }
  // On Windows node-gyp on PATH is a .cmd shim, which needs a shell.
  return { cmd: 'node-gyp', args: [], label: 'node-gyp (PATH)', shell: process.platform === 'win32' };
}

// <prefix>/bin/node -> <prefix>; official tarballs, nvm, Homebrew and distro
// packages with a -dev/headers package install headers at <prefix>/include/node.
// The Windows installer ships no headers, so there node-gyp's download is the
// only option.
function nodeDirArgs() {
  // An explicit --nodedir from the caller wins.
  if (passthrough.some((a) => a.startsWith('--nodedir'))) return [];
  const prefix = path.dirname(path.dirname(process.execPath));
  const probe = path.join(prefix, 'include', 'node', 'node_api.h');
  if (existsSync(probe)) return [`--nodedir=${prefix}`];
  console.warn(
    `aioloop: ${probe} not found, so node-gyp will use its default header lookup ` +
      '(it may try to download Node headers; set --nodedir=<dir> to avoid that).',
  );
  return [];
}

function run(cmd, args, opts) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
    child.on('error', (err) => resolve({ code: null, error: err }));
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

const gyp = findNodeGyp();
const args = [...gyp.args, 'rebuild', ...nodeDirArgs(), ...passthrough];
console.log(`aioloop: ${gyp.label} ${args.slice(gyp.args.length).join(' ')}`);

const result = await run(gyp.cmd, args, { shell: gyp.shell ?? false });
if (result.code === 0) process.exit(0);

const why = result.error
  ? `could not run node-gyp: ${result.error.message}`
  : result.signal
    ? `node-gyp killed by ${result.signal}`
    : `node-gyp exited with code ${result.code}`;

if (strict) {
  console.error(`aioloop: native addon build failed (${why}).`);
  process.exit(1);
}
console.warn(`aioloop: ${why}`);
console.warn(
  'aioloop: native addon failed to build; the default loop works, ' +
    'the native loop is unavailable. Rebuild with: npm run build:native',
);
process.exit(0);
