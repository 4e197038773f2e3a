/**
 * The native loop's datagram transport: a uv_udp_t driven from C++
 * (native/udp.cc) through the loop's I/O batch (./io.ts). Received
 * datagrams arrive in the batch with their sender's address; `sendto()`
 * logs the datagram into the outbound batch, which C++ sends with
 * uv_udp_try_send at the end of the loop tick (queueing only what the kernel
 * refuses).
 * @module
 */
import * as dns from 'node:dns';
import type { EventLoop } from '../../events.js';
import { BaseDatagramTransport, checkSendto, resolveDatagramAddrs, type DatagramAddress, type DatagramArgs } from '../../datagrams.js';
import { startProtocol, type BaseProtocol, type ProtocolFactory } from '../../protocols.js';
import type { DatagramTransport } from '../../transports.js';
import type { NativeLoopBinding } from './addon.js';
import { ADDR_RECORD, type BatchWriter, type NativeIo, type StreamOwner } from './io.js';
import { formatIp, ipToBytes } from './ip.js';
import { sockAddr } from './stream_transport.js';

/** Encoded destination addresses, by host text (bounded: cleared when full). */
const encoded = new Map<string, Uint8Array>();
const ENCODED_MAX = 1024;

function encode(host: string): Uint8Array | null {
  let bytes = encoded.get(host);
  if (bytes === undefined) {
    const parsed = ipToBytes(host);
    if (parsed === null) return null;
    if (encoded.size >= ENCODED_MAX) encoded.clear();
    encoded.set(host, parsed);
    bytes = parsed;
  }
  return bytes;
}

/**
 * A DatagramTransport over a native UDP endpoint. Made by the native loop's
 * `createDatagramEndpoint()`; behaves as the default loop's UdpTransport.
 *
 * @example
 * ```ts
 * const [t] = await new NativeLoop().createDatagramEndpoint(() => ({}), { remoteAddr: ['127.0.0.1', port] });
 * t.sendto('ping');
 * ```
 */
export class NativeUdpTransport extends BaseDatagramTransport implements StreamOwner, BatchWriter {
  /** @internal -1 once closed. */ _id: number;
  /** @internal */ _unflushed = 0;
  /** @internal */ _queued = 0;
  /** @internal */ _dirty = false;
  /** @internal The last sender's key and text: most datagrams come from one peer. */
  private _lastKey = -1;
  private _lastHost = '';

  /** @internal Use the native loop's createDatagramEndpoint(). */
  constructor(
    loop: EventLoop,
    private readonly _io: NativeIo,
    private readonly _native: NativeLoopBinding,
    id: number,
    connected: boolean,
  ) {
    super(loop, connected, sockAddr(_native.udpAddress(id, false))!, connected ? sockAddr(_native.udpAddress(id, true)) : undefined);
    this._id = id;
    _io.register(id, this);
  }

  /** @internal Make the protocol and call connectionMade (on the loop), then receive. */
  _start(factory: ProtocolFactory, done: (err: unknown) => void): void {
    const started = startProtocol(this, this, factory, done, () => {
      this._closing = this._lostCalled = true;
      this._native.closeStream(this._id, true);
    });
    if (started && !this._closing) this._native.readStart(this._id);
  }

  // -- Events (on the loop) ----------------------------------------------------

  /** @internal */
  _onDatagram(bytes: Buffer, offset: number, length: number): void {
    if (this._closing) return;
    const family = bytes[offset] as 4 | 6;
    const port = bytes[offset + 2]! | (bytes[offset + 3]! << 8);
    let host: string;
    if (family === 4) {
      const key = bytes.readUInt32BE(offset + 4);
      if (key !== this._lastKey) {
        this._lastKey = key;
        this._lastHost = formatIp(bytes, offset + 4, 4);
      }
      host = this._lastHost;
    } else {
      host = formatIp(bytes, offset + 4, 6);
    }
    const start = offset + ADDR_RECORD;
    this._deliverDatagram(this._io.slabSlice(start, length), [host, port]);
  }

  /** @internal */
  _onDatagramError(err: Error): void {
    if (!this._closing) this._deliverError(err);
  }

  /** @internal */
  _onClosed(): void {
    this._id = -1;
    this._connectionLost();
  }

  /** @internal */
  _onWritten(queued: number): void {
    this._queued = queued;
    this._maybeResumeProtocol();
  }

  /** @internal BatchWriter: the loop's batch was flushed. */
  _flushed(): void {
    if (this._protocolPaused) this._maybeResumeProtocol();
    else this._maybePauseProtocol();
  }


  // -- Transport API -------------------------------------------------------------

  /**
   * Send one datagram (strings as UTF-8) to `addr` (`[host, port]` or
   * `{ address, port }`), or to the remote address of an endpoint made with
   * `remoteAddr`. It leaves with the loop's next flush (the end of this loop
   * tick). A host name is resolved first (the datagram follows when it is).
   * Throws `Error('transport is closed')` after `close()`/`abort()`.
   */
  sendto(data: Uint8Array | string, addr?: DatagramAddress | null): void {
    const target = checkSendto(data, addr, this._connected ? this._peername! : null);
    if (this._closing) throw new Error('transport is closed');
    if (target === null) {
      this._io.writeDatagram(this, data, 0, 0, null);
    } else {
      const bytes = encode(target[0]);
      if (bytes !== null) {
        this._io.writeDatagram(this, data, bytes.length === 4 ? 4 : 6, target[1], bytes);
      } else {
        const copy = typeof data === 'string' ? data : Buffer.from(data);
        dns.lookup(target[0], { family: this._sockname.family === 'IPv6' ? 6 : 4 }, (err, address) => {
          if (this._closing || this._loop.isClosed()) return;
          if (err) this._loop.callSoon(() => this._onDatagramError(err));
          else this.sendto(copy, [address, target[1]]);
        });
        return;
      }
    }
    this._maybePauseProtocol();
  }

  /** Stop receiving; once queued datagrams are sent, close; `connectionLost(null)` follows. */
  close(): void {
    if (this._closing) return;
    this._closing = true;
    if (this._id < 0) return;
    this._io.flush();
    this._native.closeStream(this._id, false);
  }

  /**
   * Close at once (datagrams the kernel has not taken are dropped);
   * `connectionLost(null)` follows. Datagrams still in the loop's batch go
   * to the kernel first: asyncio's sendto() sends at once when nothing is
   * buffered.
   */
  abort(): void {
    if (this._lostCalled) return;
    this._closing = true;
    if (this._id < 0) return;
    if (this._unflushed > 0) this._io.flush();
    this._native.closeStream(this._id, true);
  }

  /** Bytes given to `sendto()` that the kernel did not take yet. */
  getWriteBufferSize(): number {
    return this._id < 0 ? 0 : this._unflushed + this._queued;
  }

  /** @internal The 'socket' extra info: `{ fileno() }`. */
  _socketInfo(): unknown {
    const native = this._native;
    const id = this._id;
    return id < 0 ? undefined : { fileno: () => native.fileno(id) };
  }
}

/**
 * @internal The native loop's `createDatagramEndpoint()` (arguments checked).
 * @example
 * ```ts
 * const [t, p] = await nativeDatagramEndpoint(loop, io, native, factory, args);
 * ```
 */
export async function nativeDatagramEndpoint<P extends BaseProtocol>(
  loop: EventLoop,
  io: NativeIo,
  native: NativeLoopBinding,
  factory: ProtocolFactory<P>,
  args: DatagramArgs,
): Promise<[DatagramTransport, P]> {
  const { l, r, fam } = await resolveDatagramAddrs(args);
  if (loop.isClosed()) throw new Error('Event loop is closed');
  const id = native.udpBind(l?.address ?? (fam === 6 ? '::' : '0.0.0.0'), args.local?.[1] ?? 0, args.reusePort);
  try {
    if (r !== null) native.udpConnect(id, r.address, args.remote![1]);
  } catch (err) {
    native.closeStream(id, true);
    throw err;
  }
  const transport = new NativeUdpTransport(loop, io, native, id, r !== null);
  return new Promise((resolve, reject) => {
    // connectionMade on the loop, as asyncio (call_soon) and the default loop do.
    loop.callSoon(() =>
      transport._start(factory, (err) => {
        if (err !== null) reject(err);
        else resolve([transport, transport._protocol as unknown as P]);
      }),
    );
  });
}
