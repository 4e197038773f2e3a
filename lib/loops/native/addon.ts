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
  /** Stream handles (TCP, pipes, UDP, processes, signal watchers) not closed yet. */
  streams: number;
  /** Closed streams kept, with their ids, until JS has been handed their close event. */
  closedStreams: number;
  /** napi references held: onWake, the async context, the inbound slab, the events array, read buffers. */
  references: number;
  /** BufferedProtocol buffers referenced now (one per stream waiting to read into its buffer). */
  readBuffers: number;
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

  // Streams (native/stream.h): ids name them; events arrive through onWake.
  /** New views of the outbound batch: its bytes, and its (id, offset, length) int32 records. */
  outbound(): [ArrayBuffer, ArrayBuffer];
  /** Writes the first `count` records of the outbound batch; leaves (id, queued) pairs in its records, returns how many. */
  flush(count: number): number;
  /** Writes `data` now (too big for the batch); returns the bytes still queued. */
  write(id: number, data: Uint8Array): number;
  readStart(id: number): void;
  readStop(id: number): void;
  shutdown(id: number): void;
  closeStream(id: number, abort: boolean): void;
  fileno(id: number): number;
  /**
   * The next read of stream `id` goes straight into `buffer`, held until replaced (null: let go, back
   * to the batch). Returns whether the buffer it held was still armed (no read had landed in it).
   */
  setReadBuffer(id: number, buffer: Uint8Array | null): boolean;
  /** The next read goes into the buffer setReadBuffer holds again (each read disarms it). */
  rearmReadBuffer(id: number): void;
  tcpListen(host: string, port: number, backlog: number, reusePort: boolean, ipv6Only: boolean): number;
  tcpConnect(host: string, port: number, localHost: string | null, localPort: number): number;
  tcpAddress(id: number, peer: boolean): [string, number, 'IPv4' | 'IPv6'] | null;
  udpBind(host: string, port: number, reusePort: boolean): number;
  udpConnect(id: number, host: string, port: number): void;
  udpAddress(id: number, peer: boolean): [string, number, 'IPv4' | 'IPv6'] | null;
  signalStart(signum: number): number;
  /** Starts `file`; modes: 0 ignore, 1 inherit, 2 pipe. Returns [id, pid, stdin id, stdout id, stderr id] (-1: no pipe). */
  spawn(file: string, argv: string[], env: string[] | null, cwd: string | null, modes: number[]): [number, number, number, number, number];
  /** Signals child `id`; returns 0 or a libuv error. */
  kill(id: number, signum: number): number;
  /** Calls back with (error, [family, address, family, address, ...]). */
  getaddrinfo(host: string, family: 0 | 4 | 6, flags: number, cb: (err: Error | null, flat?: (number | string)[]) => void): void;
  getnameinfo(address: string, port: number, flags: number, cb: (err: Error | null, result?: [string, string]) => void): void;
  pipeListen(path: string, backlog: number): number;
  pipeConnect(path: string): number;
  pipeOpen(fd: number, readable: boolean): number;
}

/**
 * onWake's arguments: the inbound slab the batch's reads landed in, and an
 * Int32Array (reused) whose first `count` entries are the batch's (kind, id,
 * a, b) event records; none when there was no I/O.
 */
export type WakeCallback = (slab?: Buffer, events?: Int32Array, count?: number) => void;

/** What the addon exports. */
export interface NativeAddon {
  version(): string;
  napiVersion: number;
  libuvVersion(): string;
  debugBuild: boolean;
  /** uv_hrtime in milliseconds (the native loop's clock). */
  now(): number;
  /** `onWake` runs the TS drain; C++ calls it through napi_make_callback. */
  Loop: new (onWake: WakeCallback) => NativeLoopBinding;
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
