/**
 * Protocol interfaces (asyncio's `protocols.py`). A protocol is a plain
 * object or class instance; every method is optional, so a protocol only
 * implements the events it cares about. Transports call these methods on the
 * loop (inside a loop iteration), so `getRunningLoop()` works in them.
 * @module
 */
import type { Transport } from './transports.js';
import { describe, type ExceptionContext } from './events.js';

/**
 * What every protocol may implement: connection life cycle and write flow
 * control.
 *
 * @example
 * ```ts
 * const p: BaseProtocol = { connectionLost: (err) => console.log('gone', err) };
 * ```
 */
export interface BaseProtocol {
  /** The connection is up; `transport` is how to write and close. */
  connectionMade?(transport: Transport): void;
  /** The connection is gone, exactly once: `null` on a clean close or EOF, else the error. */
  connectionLost?(err: Error | null): void;
  /** The transport's write buffer passed its high-water mark: stop writing. */
  pauseWriting?(): void;
  /** The write buffer drained below the low-water mark: writing may go on. */
  resumeWriting?(): void;
}

/**
 * A stream protocol that receives data as Buffers.
 *
 * @example
 * ```ts
 * class Echo implements Protocol {
 *   t!: Transport;
 *   connectionMade(t: Transport) { this.t = t; }
 *   dataReceived(data: Buffer) { this.t.write(data); }
 * }
 * ```
 */
export interface Protocol extends BaseProtocol {
  /** Some bytes arrived (a Buffer the protocol may keep). */
  dataReceived?(data: Buffer): void;
  /**
   * The peer sent EOF (half-close). Return `true` (any truthy value, as in
   * asyncio) to keep the write side open; anything else closes the transport.
   */
  eofReceived?(): boolean | void;
}

/**
 * A stream protocol that receives data into its own buffer (asyncio's
 * BufferedProtocol): `getBuffer(sizeHint)` hands a buffer, the transport
 * copies what arrived into it and calls `bufferUpdated(nbytes)`.
 *
 * @example
 * ```ts
 * const buf = new Uint8Array(65536);
 * const p: BufferedProtocol = {
 *   getBuffer: () => buf,
 *   bufferUpdated: (n) => consume(buf.subarray(0, n)),
 * };
 * ```
 */
export interface BufferedProtocol extends BaseProtocol {
  /** A buffer to receive at least one byte; `sizeHint` is how many bytes are waiting (-1 if unknown). */
  getBuffer(sizeHint: number): Uint8Array;
  /** `nbytes` bytes were written at the start of the last buffer from `getBuffer`. */
  bufferUpdated(nbytes: number): void;
  /** As in {@link Protocol.eofReceived}. */
  eofReceived?(): boolean | void;
}

/**
 * A datagram (UDP) protocol (`loop.createDatagramEndpoint()`). `addr` is
 * asyncio-shaped: `[address, port]`. `connectionMade` receives the
 * DatagramTransport.
 *
 * @example
 * ```ts
 * const p: DatagramProtocol = { datagramReceived: (data, [host, port]) => console.log(host, port, data) };
 * ```
 */
export interface DatagramProtocol extends BaseProtocol {
  datagramReceived?(data: Buffer, addr: [string, number]): void;
  errorReceived?(err: Error): void;
}

/**
 * A subprocess protocol (`loop.subprocessExec()`, lib/subprocess.ts):
 * `fd` is 1 (stdout) or 2 (stderr) for data, 0/1/2 for pipeConnectionLost.
 * `connectionMade` receives the SubprocessTransport.
 *
 * @example
 * ```ts
 * const p: SubprocessProtocol = { pipeDataReceived: (fd, data) => console.log(fd, String(data)) };
 * ```
 */
export interface SubprocessProtocol extends BaseProtocol {
  pipeDataReceived?(fd: number, data: Buffer): void;
  pipeConnectionLost?(fd: number, err: Error | null): void;
  processExited?(): void;
}

/**
 * Something that makes a fresh protocol for each connection.
 *
 * @example
 * ```ts
 * const factory: ProtocolFactory<Echo> = () => new Echo();
 * ```
 */
export type ProtocolFactory<P extends BaseProtocol = BaseProtocol> = () => P;

/**
 * True when `p` is a BufferedProtocol (it has `getBuffer` and `bufferUpdated`).
 *
 * @example
 * ```ts
 * isBufferedProtocol({ getBuffer: () => buf, bufferUpdated() {} }); // true
 * ```
 */
export function isBufferedProtocol(p: unknown): p is BufferedProtocol {
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof (p as BufferedProtocol).getBuffer === 'function' &&
    typeof (p as BufferedProtocol).bufferUpdated === 'function'
  );
}

/** @internal What a transport exposes to `startProtocol`. */
export interface ProtocolHost<P extends BaseProtocol> {
  _protocol: P | null;
  _started: boolean;
  readonly _loop: { callExceptionHandler(context: ExceptionContext): void };
}

/**
 * @internal The start-up every transport shares (asyncio's transport
 * `__init__` + `connection_made`): make the protocol with `factory`, then
 * call its `connectionMade(transport)`. Reports to `done` (null or the
 * error) and returns true when the transport can start delivering data.
 * `onFactoryError` tears the transport down when there is no protocol to
 * tell; a failing connectionMade is reported to the loop's exception
 * handler and the transport goes on, as in asyncio.
 *
 * @example
 * ```ts
 * if (startProtocol(this, this, factory, done, () => this.abort())) this._pump();
 * ```
 */
export function startProtocol<P extends BaseProtocol>(
  host: ProtocolHost<P>,
  transport: unknown,
  factory: ProtocolFactory,
  done: (err: unknown) => void,
  onFactoryError: () => void,
): boolean {
  let protocol: P;
  try {
    protocol = factory() as P;
    if (typeof protocol !== 'object' || protocol === null) {
      throw new TypeError(`protocol factory must return an object, not ${describe(protocol)}`);
    }
  } catch (exception) {
    onFactoryError();
    done(exception);
    return false;
  }
  host._protocol = protocol;
  host._started = true;
  try {
    protocol.connectionMade?.(transport as never);
  } catch (exception) {
    // asyncio calls connection_made through call_soon: an error is only
    // reported, and the connection (or endpoint, or child) goes on.
    host._loop.callExceptionHandler({ message: 'Exception in callback protocol.connectionMade()', exception, transport, protocol });
  }
  done(null);
  return true;
}

/**
 * @internal A protocol callback threw: report it to the loop's exception
 * handler (asyncio's "Fatal error: protocol.X() call failed."). The caller
 * then ends only that transport.
 *
 * @example
 * ```ts
 * reportProtocolError(this._loop, this, this._protocol, 'dataReceived', err);
 * this.abort();
 * ```
 */
export function reportProtocolError(
  loop: { callExceptionHandler(context: ExceptionContext): void },
  transport: unknown,
  protocol: unknown,
  method: string,
  exception: unknown,
): void {
  loop.callExceptionHandler({ message: `Fatal error: protocol.${method}() call failed.`, exception, transport, protocol });
}

/**
 * @internal The argument of `setProtocol()`: an object, else TypeError.
 *
 * @example
 * ```ts
 * this._protocol = checkProtocol(protocol);
 * ```
 */
export function checkProtocol<P extends BaseProtocol>(protocol: unknown): P {
  if (typeof protocol !== 'object' || protocol === null) {
    throw new TypeError(`protocol must be an object, not ${describe(protocol)}`);
  }
  return protocol as P;
}

/**
 * @internal Call `protocol.connectionLost(err)`; an exception it throws goes
 * to the loop's exception handler (the transport is gone either way).
 * @example
 * ```ts
 * callConnectionLost(loop, transport, protocol, null);
 * ```
 */
export function callConnectionLost(
  loop: { callExceptionHandler(context: ExceptionContext): void },
  transport: unknown,
  protocol: BaseProtocol | null,
  err: Error | null,
): void {
  try {
    protocol?.connectionLost?.(err);
  } catch (exception) {
    loop.callExceptionHandler({ message: 'Exception in protocol.connectionLost()', exception, transport, protocol });
  }
}
