/**
 * What every stream transport (TCP or Unix socket) shares, whichever loop
 * moves its bytes: protocol start-up, delivery of data and EOF to a Protocol
 * or BufferedProtocol, `connectionLost` exactly once, write checks and the
 * Transport API that does not touch the socket. Two subclasses:
 * `SocketTransport` (node:net, the default loop) and
 * `NativeStreamTransport` (libuv streams driven by the native loop).
 *
 * The inbox holds what arrived but cannot be delivered yet: the transport is
 * paused (`pauseReading()`), or the bytes came from outside a loop
 * iteration and wait for the pump (`callSoon`) to run on the loop.
 * @module
 */
import { describe } from './events.js';
import {
  callConnectionLost,
  checkProtocol,
  isBufferedProtocol,
  startProtocol,
  type BaseProtocol,
  type BufferedProtocol,
  type Protocol,
  type ProtocolFactory,
} from './protocols.js';
import { ProtocolTransport, socketExtraInfo, type SockAddr, type Transport } from './transports.js';

/** @internal The inbox marker for the peer's EOF. */
export const EOF = Symbol('eof');

/**
 * @internal What a transport tells the server that accepted it.
 * @example
 * ```ts
 * const owner: ConnectionOwner = { _detach: (t) => live.delete(t) };
 * ```
 */
export interface ConnectionOwner {
  _detach(transport: BaseStreamTransport): void;
}

/**
 * @internal The Transport half every stream transport shares; subclasses
 * move the bytes (`write`, `writeEof`, `close`, `abort`, reading control).
 * @example
 * ```ts
 * class MyTransport extends BaseStreamTransport { ... }
 * ```
 */
export abstract class BaseStreamTransport extends ProtocolTransport<BaseProtocol> implements Transport {
  /** @internal close(), abort() or connection lost. */
  _closing = false;
  /** @internal */ _aborted = false;
  /** @internal writeEof() was called. */
  _eofWritten = false;
  /** @internal */ _reading = true;
  /** @internal */ _started = false;
  /** @internal What arrived and is not delivered yet. */
  _inbox: (Buffer | typeof EOF)[] = [];
  /** @internal */ _pumpScheduled = false;
  /** @internal The socket is gone: connectionLost follows once the inbox is empty. */
  _peerGone = false;
  /** @internal connectionLost was called. */
  _lostCalled = false;
  /** @internal Writes dropped after close (asyncio counts them too). */
  _droppedWrites = 0;
  /** @internal The server that accepted the connection. */
  _owner: ConnectionOwner | null = null;
  /** @internal */ _peername: SockAddr | string | undefined = undefined;
  /** @internal */ _sockname: SockAddr | string | undefined = undefined;

  /** @internal Release the socket at once (no protocol will handle it). */
  abstract _destroy(): void;
  abstract write(data: Uint8Array | string): void;
  abstract writeEof(): void;
  abstract close(): void;
  abstract pauseReading(): void;
  abstract resumeReading(): void;

  /**
   * @internal Make the protocol and call connectionMade (the caller is on
   * the loop), then `done(null)`, or `done(error)` when the factory or
   * connectionMade threw.
   */
  _start(factory: ProtocolFactory, done: (err: unknown) => void): void {
    const started = startProtocol(this, this, factory, done, () => {
      this._closing = this._aborted = true;
      this._destroy();
      this._lostCalled = true; // no protocol to tell
      this._owner?._detach(this);
    });
    if (started) this._pump();
  }

  /** @internal Deliver from the inbox on the loop, soon. */
  _schedulePump(): void {
    if (this._pumpScheduled || !this._started) return;
    if (this._loop.isClosed()) {
      // Nobody can ever handle this connection: release the socket.
      this._destroy();
      return;
    }
    this._pumpScheduled = true;
    this._loop.callSoon(this._pumpFromLoop);
  }

  private readonly _pumpFromLoop = (): void => {
    this._pumpScheduled = false;
    this._pump();
  };

  /** @internal Deliver what arrived, in order; connectionLost last. */
  _pump(): void {
    if (this._lostCalled) return;
    const inbox = this._inbox;
    // After close()/abort() asyncio delivers no more data (the reader is removed).
    if (this._closing) inbox.length = 0;
    let i = 0;
    while (this._reading && !this._closing && i < inbox.length) {
      const item = inbox[i++]!;
      if (item === EOF) this._deliverEof();
      else this._deliverData(item);
      if (this._lostCalled) return;
    }
    if (this._closing) inbox.length = 0;
    else if (i > 0) inbox.splice(0, i);
    if (this._peerGone && inbox.length === 0) this._connectionLost(this._lostError);
  }

  /** @internal Hand bytes to the protocol (the caller is on the loop). */
  _deliverData(chunk: Buffer): void {
    const protocol = this._protocol!;
    if (isBufferedProtocol(protocol)) {
      this._deliverBuffered(protocol, chunk);
      return;
    }
    try {
      (protocol as Protocol).dataReceived?.(chunk);
    } catch (exception) {
      this._protocolFailed('dataReceived', exception);
    }
  }

  /** BufferedProtocol: copy into the protocol's buffers until the chunk is used up. */
  private _deliverBuffered(protocol: BufferedProtocol, chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this._closing) {
      let method = 'getBuffer';
      try {
        const buf = protocol.getBuffer(chunk.length - offset);
        if (!(buf instanceof Uint8Array)) throw new TypeError(`getBuffer() must return a Uint8Array, not ${describe(buf)}`);
        if (buf.length === 0) throw new RangeError('getBuffer() returned an empty buffer');
        const n = Math.min(buf.length, chunk.length - offset);
        buf.set(chunk.subarray(offset, offset + n));
        offset += n;
        method = 'bufferUpdated';
        protocol.bufferUpdated(n);
      } catch (exception) {
        this._protocolFailed(method, exception);
        return;
      }
    }
  }

  /** @internal The peer's EOF reached the protocol's turn. */
  _deliverEof(): void {
    let keepOpen: unknown;
    try {
      keepOpen = (this._protocol as Protocol).eofReceived?.();
    } catch (exception) {
      this._protocolFailed('eofReceived', exception);
      return;
    }
    // A true value keeps our write side open (half-close); else close, as asyncio does.
    if (!keepOpen) this.close();
  }

  /** @internal Tell the protocol, exactly once; then the server forgets us. */
  _connectionLost(err: Error | null): void {
    if (this._lostCalled) return;
    this._lostCalled = true;
    this._closing = true;
    try {
      callConnectionLost(this._loop, this, this._protocol, err);
    } finally {
      this._owner?._detach(this);
    }
  }

  /**
   * @internal The checks of `write()`: false when the write is to be
   * dropped (closing); throws on bad input or after writeEof().
   */
  _acceptsWrite(data: Uint8Array | string): boolean {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`data must be a Uint8Array or a string, not ${describe(data)}`);
    }
    if (this._eofWritten) throw new Error('Cannot call write() after writeEof()');
    if (data.length === 0) return false;
    if (this._closing) {
      this._droppedWrites++;
      return false;
    }
    return true;
  }

  /** Write each item of `list`, in order. */
  writelines(list: Iterable<Uint8Array | string>): void {
    if (list === null || typeof (list as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`writelines() needs an iterable, not ${describe(list)}`);
    }
    for (const item of list) this.write(item);
  }

  /** TCP and Unix sockets can half-close: always true. */
  canWriteEof(): boolean {
    return true;
  }

  /** True once closing (close, abort, EOF handling or connection lost). */
  isClosing(): boolean {
    return this._closing;
  }

  /** True unless paused or closing. */
  isReading(): boolean {
    return this._reading && !this._closing;
  }

  /** @internal The 'socket' extra info. */
  abstract _socketInfo(): unknown;

  /**
   * `peername` / `sockname` ({@link SockAddr}; the path for Unix sockets,
   * '' for an unnamed end), `socket`; `dflt` otherwise.
   */
  getExtraInfo(name: string, dflt?: unknown): unknown {
    return socketExtraInfo(this, name, dflt);
  }

  /** The current protocol. */
  getProtocol(): BaseProtocol {
    return this._protocol!;
  }

  /** Switch protocols: later events go to `protocol`. */
  setProtocol(protocol: BaseProtocol): void {
    this._protocol = checkProtocol(protocol);
  }

  override toString(): string {
    const state = this._lostCalled ? 'closed' : this._closing ? 'closing' : 'open';
    return `<${this.constructor.name} ${state}>`;
  }
}
