/**
 * The native loop: the shared TypeScript driver and ready queue (see
 * ../driver.ts, ../../base_loop.ts) on a C++ Node-API addon that owns the
 * clock (uv_hrtime), the timer heap behind one uv_timer_t, and an idle +
 * check handle pair on Node's own libuv loop (native/loop.{h,cc}).
 *
 * Crossings: C++ calls JS only to wake the drain (at most once per libuv
 * iteration: the check handle, after poll); JS calls C++ to hand over timer
 * ops in batches (applyOps), to collect due timers in batches (popDue), and
 * to switch the idle handle when the drain yields to I/O. Callbacks and
 * single timer operations never cross.
 * @module
 */
import { DrivenLoop } from '../driver.js';
import { monotonicMs } from '../../clock.js';
import { anchorHiddenClasses } from '../../hidden_classes.js';
import type { NumberedTimerStore, TimerHandle } from '../../events.js';
import { PendingTimers } from '../../pending_timers.js';
import { checkConnectionArgs, checkFactory, checkUnixPath, type ConnectionOptions } from '../../net_transport.js';
import type { BaseProtocol, ProtocolFactory } from '../../protocols.js';
import { checkServerArgs, prepareUnixServer, type Server, type ServerOptions } from '../../servers.js';
import type { DatagramTransport, Transport } from '../../transports.js';
import { checkDatagramArgs, type DatagramEndpointOptions } from '../../datagrams.js';
import { nativeDatagramEndpoint } from './udp_transport.js';
import type { SignalSource } from '../../signals.js';
import { nativeSignals } from './signals.js';
import { nativeResolver } from './dns.js';
import type { Resolver } from '../../dns.js';
import type { Spawner } from '../../subprocess.js';
import { nativeSpawner } from './process.js';
import { addonLoadError, loadAddon, type NativeAddon, type NativeLoopBinding, type NativeLoopStats } from './addon.js';
import { NativeIo } from './io.js';
import { nativeConnect, nativeConnectUnix, nativeListen, nativeListenUnix, type NativeNet } from './tcp.js';
import { isPipeFd, nativeOpenPipe } from './pipes.js';
import type { Readable, Writable } from 'node:stream';
import type { ReadTransport, WriteTransport } from '../../transports.js';

/** Due timer ids collected per popDue() call. */
const DUE_BATCH = 256;
/**
 * Timer ops (add, cancel) logged before they are handed to C++ in one
 * applyOps() call. A JS->C++ call costs 80-150 ns on Node 20 (node-addon-api
 * instance method, measured), more than the heap work itself; logging costs
 * two Float64Array stores.
 */
const LOG_OPS = 1024;

/**
 * Throws a clear error unless the native loop can be created here; returns
 * the addon.
 *
 * @example
 * ```ts
 * try { assertNativeLoopAvailable(); } catch (e) { console.log(e.message); }
 * ```
 */
export function assertNativeLoopAvailable(): NativeAddon {
  const addon = loadAddon();
  if (addon === null) {
    throw new Error(
      'aioloop: the native loop is not available: the native addon is not built ' +
        `(${addonLoadError()}). Build it with \`npm run build:native\` ` +
        '(needs python3, make and a C++ compiler), or use the default loop.',
    );
  }
  if (typeof addon.Loop !== 'function') {
    throw new Error(
      `aioloop: the native loop is not available: the built addon (${addon.version()}) predates it. ` +
        'Rebuild it with `npm run build:native`, or use the default loop.',
    );
  }
  return addon;
}

/**
 * How far the addon's clock (uv_hrtime in ms) is ahead of `monotonicMs()`
 * (../../clock.ts): the same clock, both uv_hrtime, so the offset is the
 * rounding of the two conversions to ms. Each sample `now() - before` can
 * only overstate the offset, by the time between the two reads; the
 * smallest of a few is kept. So `time()` is never behind the heap's clock,
 * and a timer never runs before `time()` reaches its deadline (at worst it
 * runs a fraction of a microsecond late).
 */
function clockOffset(addon: NativeAddon): number {
  let best = Infinity;
  for (let i = 0; i < 8; i++) {
    const before = monotonicMs();
    const offset = addon.now() - before;
    if (offset < best) best = offset;
  }
  return best;
}

/**
 * The native event loop: same behaviour as DefaultLoop, on libuv handles
 * driven from C++. Obtain one with `new NativeLoop()`, `install()`, or
 * `run(main, { loop: 'native' })`.
 *
 * How a stored TimerHandle finds its C++ heap entry: its id (an index into
 * `_slab`, reused through a free list) is in `_prev` and this loop in
 * `_next`, the chain links a stored timer does not need (so `cancel()` calls
 * `_cancelStored`). No field of its own keeps TimerHandle one small object
 * for both loops (see TimerHandle in ../../events.ts).
 *
 * @example
 * ```ts
 * const loop = new NativeLoop();
 * try { console.log(await loop.runUntilComplete(main())); } finally { loop.close(); }
 * ```
 */
export class NativeLoop extends DrivenLoop implements NumberedTimerStore {
  private readonly _addon: NativeAddon;
  private readonly _native: NativeLoopBinding;
  /** Stored timers by id; null in free slots. */
  private _slab: (TimerHandle | null)[] = [];
  /** Free ids in `_slab` (a stack: recently freed slots are reused first). */
  private _freeIds: number[] = [];
  /** New timers not in the slab yet. */
  private readonly _pending = new PendingTimers();
  private readonly _storeFn = (handle: TimerHandle) => this._store(handle);
  /** Mirror of the native idle state, so the drain only crosses on a change. */
  private _nativeReady = false;
  private readonly _due = new Int32Array(DUE_BATCH);
  /**
   * Timer ops not yet applied in C++: pairs (when, id) add, (NaN, id) cancel.
   * Flushed when full, before popDue(), when a burst ends (the uv timer must
   * be armed while JS waits), before running starts, and at once for a timer
   * added while the loop waits in libuv.
   */
  private readonly _log = new Float64Array(LOG_OPS * 2);
  private _logged = 0;
  /** The C++ half was closed (its handles are gone). */
  private _nativeClosed = false;
  /** Streams and the I/O batches (./io.ts). */
  private readonly _io: NativeIo;
  /** What the network functions (./tcp.ts) need. */
  private readonly _net: NativeNet;
  private readonly _signals: SignalSource;
  private readonly _spawn: Spawner;
  private readonly _dns: Resolver;
  /**
   * Called by C++ (check handle, after poll): deliver this libuv
   * iteration's I/O events, if any, then run a burst.
   */
  private readonly _wake = (slab?: Buffer, events?: Int32Array, count?: number) => {
    if (events !== undefined) {
      // I/O callbacks are part of the loop's iteration (asyncio runs them
      // from its ready queue): callSoon from them must not schedule a tick.
      const was = this._inIteration;
      this._inIteration = true;
      try {
        if (this._debug) this._io.dispatchTimed(slab, events, count!, this.slowCallbackDuration, (m) => this._debugWarn(m));
        else this._io.dispatch(slab, events, count!);
      } finally {
        this._inIteration = was;
      }
    }
    this._onTick();
  };

  constructor() {
    const addon = assertNativeLoopAvailable();
    super();
    this._addon = addon;
    // time() (BaseEventLoop) then reads the C++ heap's clock: uv_hrtime as
    // monotonicMs() plus this offset, cheaper than a call into the addon
    // (50 against 75 ns when the clock was performance.now()), on every
    // callLater.
    this._clockOffset = clockOffset(addon);
    this._native = new addon.Loop(this._wake);
    this._io = new NativeIo(this._native, this);
    this._net = { loop: this, io: this._io, native: this._native };
    this._signals = nativeSignals(this._native, this._io, () => this._nativeClosed);
    this._spawn = nativeSpawner(this, this._io, this._native);
    this._dns = nativeResolver(this._native);
    anchorHiddenClasses(NativeLoop, () => new NativeLoop());
  }

  /** @internal Signals through uv_signal_t watchers (./signals.ts). */
  protected override _signalSource(): SignalSource {
    return this._signals;
  }

  /** @internal Child processes through uv_spawn, their pipes as native streams (./process.ts). */
  protected override _spawner(): Spawner {
    return this._spawn;
  }

  /** @internal Names resolved by uv_getaddrinfo / uv_getnameinfo in libuv's thread pool (./dns.ts). */
  protected override _resolver(): Resolver {
    return this._dns;
  }

  /** @internal A burst, then this tick's writes go out in one flush. */
  override _onTick(): void {
    super._onTick();
    if (this._io.hasPendingWrites()) this._io.flush();
  }

  // -- Network: libuv streams driven from C++ (./tcp.ts, ./stream_transport.ts)

  override createConnection<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    host: string,
    port: number,
    opts?: ConnectionOptions,
  ): Promise<[Transport, P]> {
    const localAddr = checkConnectionArgs(protocolFactory, host, port, opts);
    if (this._closed) throw new Error('Event loop is closed');
    return nativeConnect(this._net, protocolFactory, host, port, localAddr);
  }

  override createServer(
    protocolFactory: ProtocolFactory,
    host: string | null | undefined,
    port: number | null | undefined,
    opts?: ServerOptions,
  ): Promise<Server> {
    const args = checkServerArgs(protocolFactory, host, port, opts);
    if (this._closed) throw new Error('Event loop is closed');
    return nativeListen(this._net, protocolFactory, args.host, args.port, args.backlog, args.reusePort);
  }

  override createDatagramEndpoint<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    opts?: DatagramEndpointOptions,
  ): Promise<[DatagramTransport, P]> {
    const args = checkDatagramArgs(protocolFactory, opts);
    if (this._closed) throw new Error('Event loop is closed');
    return nativeDatagramEndpoint(this, this._io, this._native, protocolFactory, args);
  }

  /** A pipe or socket fd becomes a native uv_pipe_t; streams and other fds take the shared path. */
  override connectReadPipe<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, pipe: number | Readable): Promise<[ReadTransport, P]> {
    if (!isPipeFd(pipe)) return super.connectReadPipe(protocolFactory, pipe);
    checkFactory(protocolFactory, 'connectReadPipe');
    if (this._closed) throw new Error('Event loop is closed');
    return nativeOpenPipe(this._net, protocolFactory, pipe, true);
  }

  /** As connectReadPipe: pipe and socket fds are native. */
  override connectWritePipe<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, pipe: number | Writable): Promise<[WriteTransport, P]> {
    if (!isPipeFd(pipe)) return super.connectWritePipe(protocolFactory, pipe);
    checkFactory(protocolFactory, 'connectWritePipe');
    if (this._closed) throw new Error('Event loop is closed');
    return nativeOpenPipe(this._net, protocolFactory, pipe, false);
  }

  override createUnixConnection<P extends BaseProtocol>(protocolFactory: ProtocolFactory<P>, path: string): Promise<[Transport, P]> {
    checkFactory(protocolFactory, 'createUnixConnection');
    checkUnixPath(path, 'createUnixConnection() path');
    if (this._closed) throw new Error('Event loop is closed');
    return nativeConnectUnix(this._net, protocolFactory, path);
  }

  override createUnixServer(protocolFactory: ProtocolFactory, path: string, opts?: ServerOptions): Promise<Server> {
    const backlog = prepareUnixServer(this, protocolFactory, path, opts);
    try {
      return Promise.resolve(nativeListenUnix(this._net, protocolFactory, path, backlog));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Close the loop and release its libuv handles. */
  override close(): void {
    super.close();
    if (this._closed) {
      this._nativeClosed = true;
      this._native.close(); // idempotent
    }
  }

  /** @internal What the C++ half still holds (tests assert all zero after close). */
  _nativeStats(): NativeLoopStats {
    if (!this._closed) this._flushOps();
    return this._native.stats();
  }

  protected _addTimer(handle: TimerHandle): void {
    // Pending first (../../pending_timers.ts): it reaches the slab and the
    // C++ heap with the next flush, unless cancelled before.
    this._pending.add(handle);
    // Added while the loop waits in libuv (from a Node callback, not from a
    // burst): C++ must arm its timer now, nothing else would flush.
    if (this._running && !this._inIteration && !this._tickScheduled) this._flushOps();
  }

  /** A pending timer that is still live joins the slab and the C++ heap (through the op log). */
  private _store(handle: TimerHandle): void {
    const id = this._freeIds.length > 0 ? this._freeIds.pop()! : this._slab.length;
    this._slab[id] = handle;
    handle._prev = id;
    handle._next = this as unknown as TimerHandle;
    this._logOp(handle._when, id);
  }

  /** @internal NumberedTimerStore: the stored timer `id` was cancelled. */
  _cancelStored(handle: TimerHandle, id: number): void {
    this._logOp(NaN, id); // id may be reused at once: C++ applies ops in order
    this._slab[id] = null;
    this._freeIds.push(id);
    handle._prev = handle._next = null;
  }

  protected _popDueTimers(now: number): number {
    this._flushOps();
    const out = this._due;
    const slab = this._slab;
    let n: number;
    do {
      n = this._native.popDue(now, out);
      for (let i = 0; i < n; i++) {
        const id = out[i]!;
        const handle = slab[id]!;
        slab[id] = null;
        this._freeIds.push(id);
        handle._prev = null;
        this._enqueue(handle); // sets handle._next
      }
    } while (n === out.length);
    // _flushOps() above drained the pending timers into the slab; every
    // slot is free when no timer is stored.
    return this._slab.length === this._freeIds.length ? Infinity : this._native.nextDeadline();
  }

  protected _clearTimers(): void {
    this._pending.clear();
    for (const handle of this._slab) {
      if (handle !== null) handle._prev = handle._next = null;
    }
    this._slab = [];
    this._freeIds = [];
    this._logged = 0; // the C++ heap goes with close()
  }

  protected _keepAlive(on: boolean): void {
    // Refs Node's loop (the check handle) while running, and starts the
    // check handle and the uv timer; off undoes all of it.
    if (on) this._flushOps(); // the uv timer is armed from the heap
    this._native.setRunning(on);
  }

  protected _yieldToIo(): void {
    // The idle handle makes this libuv iteration poll without blocking; the
    // check handle then calls _wake.
    this._setNativeReady(true);
  }

  protected _waitForTimers(): void {
    // The C++ uv timer is armed for the earliest deadline whenever the heap
    // changes: hand it this burst's timer ops, then let the poll block again.
    this._flushOps();
    this._setNativeReady(false);
  }

  private _logOp(when: number, id: number): void {
    const k = this._logged * 2;
    this._log[k] = when;
    this._log[k + 1] = id;
    if (++this._logged === LOG_OPS) this._flushOps();
  }

  /** @internal Apply the logged timer ops in C++ (pending timers first join the log). */
  _flushOps(): void {
    this._pending.drain(this._storeFn);
    const n = this._logged;
    if (n === 0) return;
    this._logged = 0;
    this._native.applyOps(this._log, n);
  }

  protected _disarm(): void {
    this._setNativeReady(false);
  }

  private _setNativeReady(ready: boolean): void {
    if (this._nativeReady === ready) return;
    this._nativeReady = ready;
    if (!this._closed) this._native.setReady(ready);
  }
}
