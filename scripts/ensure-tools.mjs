#!/usr/bin/env node
// Make sure the Debian packages the example-server tests and benchmarks use
// are installed: redis-cli / redis-benchmark (redis-tools), redis-server
// (the comparison in bench/servers), wrk (the HTTP load generator) and
// libuv1-dev (headers for the native transports).
//
//   node scripts/ensure-tools.mjs                 # the default list
//   node scripts/ensure-tools.mjs wrk redis-tools # just these
//
// Missing packages are installed with `apt-get install -y`; if that fails
// (stale package lists), `apt-get update` runs and the install is retried.
// Installing needs root: as another user the script only reports what is
// missing. Exit code 0 when every package is present at the end, 1 otherwise.
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const DEFAULT_PACKAGES = ['redis-tools', 'redis-server', 'wrk', 'libuv1-dev'];

/** True when dpkg says the package is installed. */
export function isInstalled(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && /\binstall ok installed\b/.test(r.stdout);
}

function aptGet(args, log) {
  log(`ensure-tools: apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', args, {
    stdio: ['ignore', 2, 2], // apt's own output goes to stderr
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error) log(`ensure-tools: apt-get failed to start: ${r.error.message}`);
  return r.status === 0;
}

/** Install what is missing of `packages`; returns the packages still missing. `log` prints progress. */
export function ensurePackages(packages, log = console.log) {
  let missing = packages.filter((p) => !isInstalled(p));
  if (missing.length === 0) {
    log(`ensure-tools: all present (${packages.join(', ')})`);
    return [];
  }
  log(`ensure-tools: missing ${missing.join(', ')}`);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    log(`ensure-tools: not root, not installing; run: sudo apt-get install -y ${missing.join(' ')}`);
    return missing;
  }
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (!aptGet(install, log)) {
    // Usually stale or absent package lists: refresh them and retry once.
    aptGet(['update'], log);
    aptGet(install, log);
  }
  missing = packages.filter((p) => !isInstalled(p));
  if (missing.length === 0) log(`ensure-tools: all present (${packages.join(', ')})`);
  else log(`ensure-tools: still missing ${missing.join(', ')}`);
  return missing;
}

// Run as a program (not when imported by bench/servers/run.mjs).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const wanted = process.argv.slice(2);
  const missing = ensurePackages(wanted.length > 0 ? wanted : DEFAULT_PACKAGES);
  process.exit(missing.length === 0 ? 0 : 1);
}
