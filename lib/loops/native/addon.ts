/**
 * Loads the native addon once, and says why when it cannot.
 * @module
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Per-loop counters of what a native Loop still holds (all zero after close()). */
export interface NativeLoopStats {
  handles: number;
  activeHandles: number;
  timers: number;
  references: number;
  strongReferences: number;
  closed: boolean;
}

/**
 * The C++ half of one NativeLoop (native/loop.h documents each method).
 * Timers are ids (slab indices chosen by the TS side); the heap orders them.
 */
export interface NativeLoopBinding {
  now(): number;
  setRunning(running: boolean): void;
  setReady(ready: boolean): void;
  addTimer(when: number, id: number): void;
  cancelTimer(id: number): boolean;
  /** Applies `count` logged ops from `ops`: pairs (when, id) add a timer, (NaN, id) cancel one. */
  applyOps(ops: Float64Array, count: number): void;
  /** Writes due ids (deadline <= now) in order into `out`; returns how many. */
  popDue(now: number, out: Int32Array): number;
  nextDeadline(): number;
  close(): void;
  stats(): NativeLoopStats;
}

/** What the addon exports. */
export interface NativeAddon {
  version(): string;
  napiVersion: number;
  libuvVersion(): string;
  debugBuild: boolean;
  /** uv_hrtime in milliseconds (the native loop's clock). */
  now(): number;
  /** `onWake` runs the TS drain; C++ calls it through napi_make_callback. */
  Loop: new (onWake: () => void) => NativeLoopBinding;
  /** Debug builds: libuv handles not yet freed and Loop objects alive, process-wide. */
  debugCounters(): { liveHandles: number; liveLoops: number } | undefined;
}

const require = createRequire(import.meta.url);
/** The package root: this file is dist/loops/native/addon.js (or lib/ under vitest). */
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let addon: NativeAddon | null | undefined;
let loadError = '';
let loadedFrom = '';

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
      loadedFrom = file;
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

/** The file the addon was loaded from ('' when it did not load). */
export function addonPath(): string {
  loadAddon();
  return loadedFrom;
}
