/**
 * The native loop's I/O batch, JS half (DESIGN.md, "The native transport"):
 * - inbound: C++ collects one libuv iteration's reads and stream events and
 *   hands them over in one call (`onWake(slab, events, n)`); `dispatch()`
 *   routes each event record to the stream's owner (a transport or a
 *   listener). The reads landed in `slab`, a Buffer C++ fills from one end
 *   to the other and replaces (never rewrites) when it runs low, so plain
 *   protocols get slices of it, without a copy, and may keep them.
 * - outbound: `write()` copies into one outbound buffer and logs an
 *   (id, offset, length) record; `flush()` hands every record to C++ in one
 *   call, once per loop tick, where runs of records for one stream become
 *   one writev (uv_try_write first, queue the rest). A write of 4 KiB or
 *   more goes to C++ at once instead, straight from the caller's memory.
 * @module
 */
import { getSystemErrorName } from 'node:util';
import { markAsUntransferable } from 'node:worker_threads';
import type { NativeLoopBinding } from './addon.js';
import { monotonicMs } from '../../clock.js';
// The global Buffer is an accessor property (read through an IC call in optimized code); the import is a constant.
import { Buffer } from 'node:buffer';

/** Event kinds: native/stream.h `EventKind`. */
export const enum IoEvent {
  Data = 1,
  Eof = 2,
  Error = 3,
  Closed = 4,
  Accept = 5,
  Connect = 6,
  Written = 7,
  ListenError = 8,
  Datagram = 9,
  DatagramError = 10,
  Signal = 11,
  Exit = 12,
  Buffered = 13,
}

/** IoEvent names, for debug messages. */
const IO_EVENT_NAMES: Record<number, string> = {
  [IoEvent.Data]: 'data',
  [IoEvent.Eof]: 'eof',
  [IoEvent.Error]: 'error',
  [IoEvent.Closed]: 'close',
  [IoEvent.Accept]: 'accept',
  [IoEvent.Connect]: 'connect',
  [IoEvent.Written]: 'write done',
  [IoEvent.ListenError]: 'listen error',
  [IoEvent.Datagram]: 'datagram',
  [IoEvent.DatagramError]: 'datagram error',
  [IoEvent.Signal]: 'signal',
  [IoEvent.Exit]: 'exit',
  [IoEvent.Buffered]: 'read into buffer',
};

/**
 * Writes of at least this many bytes skip the outbound batch (see write()):
 * above a few KiB the copy into the batch costs more than the call.
 */
const DIRECT_WRITE = 4096;
/** What failed, by the `b` field of an Error event. */
const ERROR_SYSCALLS = ['read', 'write', 'shutdown'];

/**
 * @internal Whoever owns a native stream id: a transport or a listener.
 * Each event of its id arrives as one method call, on the loop.
 * @example
 * ```ts
 * io.register(id, transport);
 * ```
 */
export interface StreamOwner {
  /** The handle is closed and the id is free. */
  _onClosed(): void;
  // Each kind of owner has the methods of the events its handle produces.
  _onData?(chunk: Buffer): void;
  _onEof?(): void;
  _onError?(err: Error): void;
  _onConnect?(status: number): void;
  /** A queued write completed; `queued` bytes remain in libuv. */
  _onWritten?(queued: number): void;
  _onAccept?(id: number): void;
  _onListenError?(err: Error): void;
  /** UDP: a datagram; its address record (see native/udp.cc) is at `bytes[offset]`, the payload follows. */
  _onDatagram?(bytes: Buffer, offset: number, length: number): void;
  /** UDP: a send or receive failed; the endpoint stays open. */
  _onDatagramError?(err: Error): void;
  _onSignal?(signum: number): void;
  /** BufferedProtocol: `n` bytes were read straight into the buffer given with setReadBuffer. */
  _onBuffered?(n: number): void;
  /** A child process exited with `status`, or was killed by `signal` (non-zero). */
  _onExit?(status: number, signal: number): void;
}

/** Bytes of a datagram's address record (native/udp.cc). */
export const ADDR_RECORD = 20;

/**
 * @internal A writer of the outbound batch: its byte counts are kept here
 * so getWriteBufferSize() stays exact.
 * @example
 * ```ts
 * class T implements BatchWriter { _id = 3; _unflushed = 0; _queued = 0; _dirty = false; _flushed() {} }
 * ```
 */
export interface BatchWriter {
  _id: number;
  /** Bytes in the outbound batch, not yet handed to C++. */
  _unflushed: number;
  /** Bytes C++ queued in libuv (the kernel did not take them yet). */
  _queued: number;
  /** In the batch's dirty list. */
  _dirty: boolean;
  /** The batch was flushed: `_unflushed` and `_queued` are current. */
  _flushed(): void;
}

/**
 * A Node-style error for a libuv error number: `code` ('ECONNREFUSED'),
 * `errno`, `syscall`, and a message like Node's ("connect ECONNREFUSED 127.0.0.1:1").
 *
 * @example
 * ```ts
 * throw uvError(-111, 'connect', '127.0.0.1:1');
 * ```
 */
export function uvError(errno: number, syscall: string, detail?: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    code = `E${-errno}`;
  }
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}${detail ? ` ${detail}` : ''}`);
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  return err;
}

/**
 * @internal What NativeIo needs of its loop.
 * @example
 * ```ts
 * const host: IoHost = loop;
 * ```
 */
export interface IoHost {
  /** True while the loop runs callbacks (a flush follows at the tick's end). */
  readonly _inIteration: boolean;
  isClosed(): boolean;
  callExceptionHandler(context: { message: string; exception: unknown }): void;
}

/**
 * @internal One native loop's stream registry and I/O batches.
 * @example
 * ```ts
 * const io = new NativeIo(binding, loop);
 * ```
 */
export class NativeIo {
  /** Owners by stream id (null once closed). */
  private readonly _owners: (StreamOwner | null)[] = [];
  /** The inbound slab of the last batch. */
  private _slab: Buffer | undefined = undefined;
  /**
   * The slab's memory, for the Buffers handed to protocols:
   * `Buffer.from(arrayBuffer, offset, length)` costs ~40 ns against ~60-75
   * for `slab.subarray()`, whose species lookup reaches Node's Buffer
   * constructor and Buffer.from anyway.
   */
  private _slabMemory = new ArrayBuffer(0);
  private _slabBase = 0;
  /**
   * The outbound batch, memory C++ flushes in place (`outbound()`): the
   * bytes, and (id, offset, length) records. Bigger writes bypass it.
   */
  private readonly _out: Buffer;
  private readonly _ops: Int32Array;
  private _outUsed = 0;
  private _outCount = 0;
  /**
   * Writers with records in the batch: the first `_dirtyCount` entries of
   * `_dirtyList`. The array is reused (a fresh `[]` per flush grew its
   * backing store on every first push: ~100 instructions a request of the
   * one-connection echo); `_spareList` is the other of the two a flush swaps.
   */
  private _dirtyList: (BatchWriter | undefined)[] = [];
  private _dirtyCount = 0;
  private _spareList: (BatchWriter | undefined)[] | null = [];

  constructor(
    private readonly _native: NativeLoopBinding,
    private readonly _host: IoHost,
  ) {
    const [bytes, ops] = _native.outbound();
    // Our own views stay usable: a transfer to a worker throws instead.
    markAsUntransferable(bytes);
    markAsUntransferable(ops);
    this._out = Buffer.from(bytes);
    this._ops = new Int32Array(ops);
  }

  /** Route events of `id` to `owner`. */
  register(id: number, owner: StreamOwner): void {
    this._owners[id] = owner;
  }

  /** Streams with an owner (tests: all closed means 0). */
  liveOwners(): number {
    let n = 0;
    for (const o of this._owners) if (o !== null && o !== undefined) n++;
    return n;
  }

  /** True while records wait for flush(). */
  hasPendingWrites(): boolean {
    return this._outCount !== 0;
  }

  /**
   * A Buffer of `length` bytes at `start` in the current inbound slab, for a
   * protocol to keep (C++ never rewrites a slab).
   *
   * @example
   * ```ts
   * protocol.datagramReceived(io.slabSlice(start, length), addr);
   * ```
   */
  slabSlice(start: number, length: number): Buffer {
    return Buffer.from(this._slabMemory, this._slabBase + start, length);
  }

  /**
   * Debug mode's `dispatch`: each event on its own, timed; one that kept the
   * loop `slowMs` or more is reported to `warn` (asyncio's debug mode times
   * its I/O callbacks like any other handle).
   */
  dispatchTimed(bytes: Buffer | undefined, events: Int32Array, count: number, slowMs: number, warn: (message: string) => void): void {
    for (let i = 0; i < count; i += 4) {
      const t0 = monotonicMs();
      this.dispatch(bytes, events.subarray(i, i + 4), 4);
      const took = monotonicMs() - t0;
      if (took >= slowMs) {
        const owner = this._owners[events[i + 1]!];
        const what = `${IO_EVENT_NAMES[events[i]!] ?? 'event'} of ${owner?.constructor.name ?? 'a closed stream'} ${events[i + 1]}`;
        warn(`Executing <I/O ${what}> took ${took.toFixed(3)} ms`);
      }
    }
  }

  /** Deliver one batch of events, in order. */
  dispatch(bytes: Buffer | undefined, events: Int32Array, count: number): void {
    if (bytes !== undefined && bytes !== this._slab) {
      // A new slab: C++ keeps reading into it, so it must never move to
      // another thread (postMessage's transfer list throws instead).
      this._slab = bytes;
      this._slabMemory = bytes.buffer as ArrayBuffer;
      this._slabBase = bytes.byteOffset;
      markAsUntransferable(bytes.buffer);
    }
    const owners = this._owners;
    const n = count;
    let i = 0;
    while (i < n) {
      try {
        for (; i < n; i += 4) {
          const id = events[i + 1]!;
          const owner = owners[id];
          if (owner === null || owner === undefined) continue; // refused or already forgotten
          const a = events[i + 2]!;
          switch (events[i]) {
            case IoEvent.Data:
              owner._onData!(this.slabSlice(a, events[i + 3]!));
              break;
            case IoEvent.Eof:
              owner._onEof!();
              break;
            case IoEvent.Error:
              owner._onError!(uvError(a, ERROR_SYSCALLS[events[i + 3]!] ?? 'read'));
              break;
            case IoEvent.Closed:
              owners[id] = null;
              owner._onClosed();
              break;
            case IoEvent.Accept:
              owner._onAccept!(a);
              break;
            case IoEvent.Connect:
              owner._onConnect!(a);
              break;
            case IoEvent.Written:
              owner._onWritten!(a);
              break;
            case IoEvent.ListenError:
              owner._onListenError!(uvError(a, 'accept'));
              break;
            case IoEvent.Datagram:
              owner._onDatagram!(bytes!, a, events[i + 3]!);
              break;
            case IoEvent.Signal:
              owner._onSignal!(a);
              break;
            case IoEvent.Buffered:
              owner._onBuffered!(a);
              break;
            case IoEvent.Exit:
              owner._onExit!(a, events[i + 3]!);
              break;
            case IoEvent.DatagramError:
              owner._onDatagramError!(uvError(a, events[i + 3] === 1 ? 'send' : 'recv'));
              break;
          }
        }
      } catch (exception) {
        // Owners catch protocol errors themselves; this is an internal
        // failure. Report it and go on with the next event.
        this._host.callExceptionHandler({ message: 'Internal error while dispatching native I/O events', exception });
        i += 4;
      }
    }
  }

  /**
   * Queue `data` for `writer`'s stream (strings as UTF-8). The bytes are
   * copied now: the caller may reuse its buffer at once, as asyncio allows.
   */
  write(writer: BatchWriter, data: Uint8Array | string): void {
    let len: number;
    const room = this._out.length - this._outUsed;
    if (typeof data === 'string') {
      // UTF-8 needs at most 3 bytes per UTF-16 unit: skip byteLength when it surely fits.
      len = data.length * 3 <= room ? -1 : Buffer.byteLength(data, 'utf8');
      if (len > room) {
        this._big(writer, Buffer.from(data, 'utf8'));
        return;
      }
      len = this._out.write(data, this._outUsed, 'utf8');
    } else {
      len = data.length;
      if (len >= DIRECT_WRITE && !writer._dirty) {
        // Big enough that the copy costs more than a call: write it now,
        // straight from the caller's memory (C++ copies only what the
        // kernel refuses). Nothing of this stream waits in the batch, so
        // the order holds.
        this._writeNow(writer, data);
        return;
      }
      if (len > room) {
        this._big(writer, data);
        return;
      }
      this._out.set(data, this._outUsed);
    }
    this._outUsed += len;
    this._log(writer, this._outUsed - len, len);
  }

  /**
   * Queue one datagram for a UDP `writer`: an address record (`family` 0:
   * the connected peer; else 4 or 6 with `addr` bytes in network order)
   * followed by the payload.
   */
  writeDatagram(writer: BatchWriter, data: Uint8Array | string, family: number, port: number, addr: Uint8Array | null): void {
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const len = ADDR_RECORD + payload.length;
    if (len > this._out.length) throw new RangeError(`sendto(): a datagram of ${payload.length} bytes is too large`);
    if (len > this._out.length - this._outUsed) this.flush();
    const out = this._out;
    const at = this._outUsed;
    out[at] = family;
    out[at + 1] = 0;
    out[at + 2] = port & 0xff;
    out[at + 3] = port >>> 8;
    if (addr !== null) out.set(addr, at + 4);
    out.set(payload, at + ADDR_RECORD);
    this._outUsed = at + len;
    // The record is not payload: only the payload counts as buffered.
    this._log(writer, at, len, payload.length);
  }

  /** A write that does not fit: flush the batch, then log it or write it directly. */
  private _big(writer: BatchWriter, data: Uint8Array): void {
    this.flush();
    if (data.length <= this._out.length) {
      this._out.set(data, 0);
      this._outUsed = data.length;
      this._log(writer, 0, data.length);
      return;
    }
    // Bigger than the whole batch: C++ writes what the kernel takes and copies the rest.
    this._writeNow(writer, data);
  }

  /** Write `data` in C++ at once, bypassing the batch; C++ copies only what the kernel refuses. */
  private _writeNow(writer: BatchWriter, data: Uint8Array): void {
    if (this._host.isClosed()) return; // the streams went with the loop
    writer._queued = this._native.write(writer._id, data);
    writer._flushed();
  }

  /**
   * Log one record of the batch (bytes already at `offset`). Outside a loop
   * iteration (a Node callback, a promise reaction) no tick end is coming to
   * flush, so the batch goes at once.
   */
  private _log(writer: BatchWriter, offset: number, len: number, counted = len): void {
    const k = this._outCount * 3;
    this._ops[k] = writer._id;
    this._ops[k + 1] = offset;
    this._ops[k + 2] = len;
    writer._unflushed += counted;
    if (!writer._dirty) {
      writer._dirty = true;
      this._dirtyList[this._dirtyCount++] = writer;
    }
    if (++this._outCount * 3 === this._ops.length || !this._host._inIteration) this.flush();
  }

  /** Hand every logged write to C++ (one call), then update the writers' counts. */
  flush(): void {
    const count = this._outCount;
    if (count === 0) return;
    this._outCount = 0;
    this._outUsed = 0;
    // The list is taken whole and every writer leaves it now: a writer's
    // _flushed() below may write again (to itself or another writer), which
    // lists it in the next batch.
    const dirty = this._dirtyList;
    const n = this._dirtyCount;
    this._dirtyList = this._spareList ?? []; // a flush inside _flushed() finds no spare
    this._spareList = null;
    this._dirtyCount = 0;
    for (let i = 0; i < n; i++) {
      const w = dirty[i]!;
      w._unflushed = 0;
      w._queued = 0;
      w._dirty = false;
    }
    if (this._host.isClosed()) {
      dirty.fill(undefined, 0, n);
      this._spareList = dirty;
      return; // the streams went with the loop
    }
    const ops = this._ops;
    const k = this._native.flush(count);
    for (let i = 0; i < k; i++) {
      const owner = this._owners[ops[2 * i]!] as unknown as BatchWriter | null | undefined;
      if (owner) owner._queued = ops[2 * i + 1]!;
    }
    for (let i = 0; i < n; i++) {
      const w = dirty[i]!;
      dirty[i] = undefined;
      w._flushed();
    }
    this._spareList = dirty;
  }
}
