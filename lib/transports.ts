/**
 * Transport interfaces (asyncio's `transports.py`) and the write-buffer flow
 * control every writing transport shares (asyncio's
 * `_FlowControlMixin`): the protocol is told `pauseWriting()` when the write
 * buffer passes the high-water mark and `resumeWriting()` once it drains to
 * the low-water mark, so a fast producer does not buffer without bound.
 * @module
 */
import { describe, type EventLoop } from './events.js';
import { reportProtocolError, type BaseProtocol } from './protocols.js';

/**
 * Default high-water mark of a write buffer: 64 KiB (asyncio's default).
 *
 * @example
 * ```ts
 * transport.getWriteBufferLimits().high === DEFAULT_HIGH_WATER; // until changed
 * ```
 */
export const DEFAULT_HIGH_WATER = 64 * 1024;
/**
 * Default low-water mark: a quarter of the high one (16 KiB).
 *
 * @example
 * ```ts
 * transport.getWriteBufferLimits().low === DEFAULT_LOW_WATER; // until changed
 * ```
 */
export const DEFAULT_LOW_WATER = 16 * 1024;

/**
 * An address of a TCP endpoint (`getExtraInfo('peername')`, `Server.addresses()`).
 * Unix sockets report their path (a string) instead, as asyncio does.
 *
 * @example
 * ```ts
 * const { address, port, family } = transport.getExtraInfo('peername') as SockAddr;
 * ```
 */
export interface SockAddr {
  address: string;
  port: number;
  family: string;
}

/**
 * What every transport offers (asyncio's BaseTransport).
 *
 * @example
 * ```ts
 * if (!t.isClosing()) t.close();
 * ```
 */
export interface BaseTransport {
  /** Close: buffered data is flushed first, then the protocol gets `connectionLost(null)`. */
  close(): void;
  /** True once `close()`/`abort()` was called or the connection is lost. */
  isClosing(): boolean;
  /** `peername`, `sockname` ({@link SockAddr}, or a path for Unix sockets), `socket`; else `dflt`. */
  getExtraInfo(name: string, dflt?: unknown): unknown;
  getProtocol(): BaseProtocol;
  setProtocol(protocol: BaseProtocol): void;
}

/**
 * The reading half (asyncio's ReadTransport).
 *
 * @example
 * ```ts
 * t.pauseReading(); // no dataReceived until resumeReading()
 * ```
 */
export interface ReadTransport extends BaseTransport {
  pauseReading(): void;
  resumeReading(): void;
  isReading(): boolean;
}

/**
 * The writing half (asyncio's WriteTransport).
 *
 * @example
 * ```ts
 * t.setWriteBufferLimits({ high: 1 << 20 });
 * t.write('hello\n');
 * t.writeEof();
 * ```
 */
export interface WriteTransport extends BaseTransport {
  /** Queue bytes (strings are UTF-8); never blocks. */
  write(data: Uint8Array | string): void;
  writelines(list: Iterable<Uint8Array | string>): void;
  /** Half-close: flush, then send EOF; reading goes on. */
  writeEof(): void;
  canWriteEof(): boolean;
  /** Close at once: buffered data is lost. */
  abort(): void;
  getWriteBufferSize(): number;
  getWriteBufferLimits(): { high: number; low: number };
  setWriteBufferLimits(limits?: { high?: number; low?: number }): void;
}

/**
 * A bidirectional stream transport (TCP, Unix socket).
 *
 * @example
 * ```ts
 * const [t, p] = await loop.createConnection(() => new Echo(), '127.0.0.1', 8080);
 * t.write('ping');
 * ```
 */
export interface Transport extends ReadTransport, WriteTransport {}

/**
 * A datagram transport (`loop.createDatagramEndpoint()`, lib/datagrams.ts).
 * `addr` is `[host, port]` or `{ address, port }`; it may be omitted when the
 * endpoint has a `remoteAddr`. `sendto()` after close throws.
 *
 * @example
 * ```ts
 * dt.sendto(Buffer.from('hi'), ['127.0.0.1', 9999]);
 * dt.sendto('hi', { address: '127.0.0.1', port: 9999 });
 * ```
 */
export interface DatagramTransport extends BaseTransport {
  sendto(data: Uint8Array | string, addr?: [string, number] | { address: string; port: number } | null): void;
  abort(): void;
  getWriteBufferSize(): number;
}

/**
 * Validate and complete write-buffer limits the way asyncio does: a missing
 * `high` is 4 × `low` (or 64 KiB), a missing `low` is `high / 4`.
 *
 * @example
 * ```ts
 * resolveWriteBufferLimits({ high: 1000 }); // { high: 1000, low: 250 }
 * ```
 */
export function resolveWriteBufferLimits(limits?: { high?: number; low?: number }): { high: number; low: number } {
  if (limits === undefined) return { high: DEFAULT_HIGH_WATER, low: DEFAULT_LOW_WATER };
  if (typeof limits !== 'object' || limits === null) {
    throw new TypeError(`setWriteBufferLimits() needs an object { high?, low? }, not ${describe(limits)}`);
  }
  let { high, low } = limits;
  for (const [name, v] of [['high', high], ['low', low]] as const) {
    if (v === undefined) continue;
    if (typeof v !== 'number') throw new TypeError(`write buffer limit ${name} must be a number, not ${describe(v)}`);
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`write buffer limit ${name} must be a finite number >= 0, not ${v}`);
  }
  if (high === undefined) high = low === undefined ? DEFAULT_HIGH_WATER : 4 * low;
  if (low === undefined) low = Math.floor(high / 4);
  if (high < low) throw new RangeError(`write buffer limit high (${high}) must be >= low (${low})`);
  return { high, low };
}

/**
 * The flow-control half of a writing transport (asyncio's
 * `_FlowControlMixin`). A subclass reports its buffer size through
 * `getWriteBufferSize()` and calls `_maybePauseProtocol()` after buffering
 * and `_maybeResumeProtocol()` after the buffer shrank. Both run on the loop.
 *
 * @example
 * ```ts
 * class MyTransport extends WriteFlowControl {
 *   getWriteBufferSize() { return this.queued; }
 *   write(d: Uint8Array) { this.queued += d.length; this._maybePauseProtocol(); }
 * }
 * ```
 */
export abstract class WriteFlowControl {
  /** @internal */ _highWater = DEFAULT_HIGH_WATER;
  /** @internal */ _lowWater = DEFAULT_LOW_WATER;
  /** @internal True between pauseWriting() and resumeWriting() of the protocol. */
  _protocolPaused = false;

  constructor(
    /** @internal */ readonly _loop: EventLoop,
  ) {}

  /** Bytes buffered and not yet handed to the kernel. */
  abstract getWriteBufferSize(): number;
  /** @internal The protocol to notify. */
  abstract _getProtocolForFlow(): BaseProtocol;
  /** @internal A protocol callback threw: report it and close the transport. */
  abstract _protocolFailed(method: string, exception: unknown): void;

  /** `{ high, low }` water marks in bytes. */
  getWriteBufferLimits(): { high: number; low: number } {
    return { high: this._highWater, low: this._lowWater };
  }

  /**
   * Set the water marks (see {@link resolveWriteBufferLimits}); `high < low`
   * is a RangeError. May pause the protocol at once.
   */
  setWriteBufferLimits(limits?: { high?: number; low?: number }): void {
    const { high, low } = resolveWriteBufferLimits(limits);
    this._highWater = high;
    this._lowWater = low;
    this._maybePauseProtocol();
  }

  /** @internal Tell the protocol to pause if the buffer passed the high mark. */
  _maybePauseProtocol(): void {
    if (this._protocolPaused || this.getWriteBufferSize() <= this._highWater) return;
    this._protocolPaused = true;
    const protocol = this._getProtocolForFlow();
    try {
      protocol.pauseWriting?.();
    } catch (exception) {
      this._protocolFailed('pauseWriting', exception);
    }
  }

  /** @internal Tell a paused protocol to resume once the buffer is at or below the low mark. */
  _maybeResumeProtocol(): void {
    if (!this._protocolPaused || this.getWriteBufferSize() > this._lowWater) return;
    this._protocolPaused = false;
    const protocol = this._getProtocolForFlow();
    try {
      protocol.resumeWriting?.();
    } catch (exception) {
      this._protocolFailed('resumeWriting', exception);
    }
  }
}

/**
 * @internal A transport that owns a protocol (the stream, datagram and pipe
 * transports of both loops): its protocol, the error `connectionLost` will
 * get, and what a throwing protocol callback does to it.
 * @example
 * ```ts
 * class MyTransport extends ProtocolTransport<Protocol> { ... }
 * ```
 */
export abstract class ProtocolTransport<P extends BaseProtocol> extends WriteFlowControl {
  /** @internal Null until the protocol factory ran on the loop. */
  _protocol: P | null = null;
  /** @internal The transport's first error (the socket's or a protocol callback's), for connectionLost. */
  _lostError: Error | null = null;

  /** Close at once, dropping buffered data. */
  abstract abort(): void;

  /**
   * @internal A protocol callback threw: report it and abort only this
   * transport; `connectionLost` gets the error (asyncio's `_fatal_error`).
   */
  _protocolFailed(method: string, exception: unknown): void {
    reportProtocolError(this._loop, this, this._protocol, method, exception);
    this._lostError ??= exception as Error;
    this.abort();
  }

  /** @internal */
  _getProtocolForFlow(): BaseProtocol {
    return this._protocol ?? {};
  }
}

/**
 * @internal `getExtraInfo()` of a socket transport, stream or datagram:
 * `peername`, `sockname` (undefined falls back to `dflt`), `socket`.
 * @example
 * ```ts
 * getExtraInfo(name, dflt) { return socketExtraInfo(this, name, dflt); }
 * ```
 */
export function socketExtraInfo(
  t: { readonly _peername: unknown; readonly _sockname: unknown; _socketInfo(): unknown },
  name: string,
  dflt: unknown,
): unknown {
  switch (name) {
    case 'peername':
      return t._peername ?? dflt;
    case 'sockname':
      return t._sockname ?? dflt;
    case 'socket':
      return t._socketInfo() ?? dflt;
    default:
      return dflt;
  }
}
