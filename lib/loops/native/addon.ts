/**
 * Loads the native addon once, and says why when it cannot.
 * @module
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** What the addon exports today. */
export interface NativeAddon {
  version(): string;
  napiVersion: number;
  libuvVersion(): string;
  debugBuild: boolean;
}

const require = createRequire(import.meta.url);
/** The package root: this file is dist/loops/native/addon.js (or lib/ under vitest). */
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let addon: NativeAddon | null | undefined;
let loadError = '';

/**
 * The addon, or null when it is not built. `AIOLOOP_NATIVE_BINARY` names a
 * specific build (the sanitizer build uses it).
 *
 * @example
 * ```ts
 * const native = loadAddon();
 * if (native) console.log(native.libuvVersion());
 * ```
 */
export function loadAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  const candidates = process.env.AIOLOOP_NATIVE_BINARY
    ? [path.resolve(process.env.AIOLOOP_NATIVE_BINARY)]
    : [
        path.join(packageRoot, 'build', 'Release', 'aioloop.node'),
        path.join(packageRoot, 'build', 'Debug', 'aioloop.node'),
        path.join(packageRoot, 'build-cmake', 'Release', 'aioloop.node'),
      ];
  const errors: string[] = [];
  for (const file of candidates) {
    try {
      addon = require(file) as NativeAddon;
      return addon;
    } catch (err) {
      errors.push(`${file}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  addon = null;
  loadError = errors.join('; ');
  return null;
}

/** Why the addon did not load ('' when it did). */
export function addonLoadError(): string {
  loadAddon();
  return loadError;
}
