/**
 * Datagram (UDP) endpoints over `node:dgram`, shared by both loops until the
 * native loop brings its own uv_udp transport (asyncio's
 * `_SelectorDatagramTransport`).
 *
 * As in net_transport.ts, Node's socket events go to an inbox and one pump
 * scheduled with `callSoon` delivers them on the loop: `connectionMade`,
 * then `datagramReceived(data, [address, port])` / `errorReceived(err)` in
 * arrival order, then `connectionLost(null)` exactly once. A protocol
 * callback that throws goes to the exception handler and aborts only this
 * transport.
 * @module
 */
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import * as net from 'node:net';
import { describe, type EventLoop } from './events.js';
import { callConnectionLost, checkProtocol, startProtocol, type BaseProtocol, type DatagramProtocol, type ProtocolFactory } from './protocols.js';
import { ProtocolTransport, socketExtraInfo, type DatagramTransport, type SockAddr } from './transports.js';
import { checkFactory, checkOptions, checkPort, checkString } from './net_transport.js';
import { nodeSupportsReusePort } from './servers.js';
import { AF_INET, AF_INET6 } from './dns.js';

/**
 * An address as `sendto()` takes it: `[host, port]` or `{ address, port }`.
 *
 * @example
 * ```ts
 * transport.sendto('hi', ['127.0.0.1', 9999]);
 * transport.sendto('hi', { address: '::1', port: 9999 });
 * ```
 */
export type DatagramAddress = [string, number] | { address: string; port: number };

/**
 * Options of `loop.createDatagramEndpoint()`.
 *
 * @example
 * ```ts
 * await loop.createDatagramEndpoint(() => new Echo(), { localAddr: ['127.0.0.1', 0] });
 * ```
 */
export interface DatagramEndpointOptions {
  /** Bind to `[host, port]` (port 0: a free port). */
  localAddr?: [string, number];
  /** Connect to `[host, port]`: `sendto(data)` needs no address, only this peer's datagrams arrive. */
  remoteAddr?: [string, number];
  /** SO_REUSEPORT (Node >= 22.12 / 23.1). */
  reusePort?: boolean;
  /** 4 or 6, or asyncio's AF_INET / AF_INET6; deduced from the addresses when unset. */
  family?: number;
}

const ERR = Symbol('error');
type InboxItem = [Buffer, [string, number]] | [typeof ERR, Error];

function addrOf(a: dgram.Socket['address'] extends () => infer R ? R : never): SockAddr {
  return { address: a.address, port: a.port, family: a.family };
}

/**
 * @internal What both loops' datagram transports share: protocol start-up
 * state, delivery of datagrams and errors to the protocol, connectionLost
 * exactly once, and the Transport API that does not touch the socket.
 * @example
 * ```ts
 * class MyUdp extends BaseDatagramTransport { ... }
 * ```
 */
export abstract class BaseDatagramTransport extends ProtocolTransport<DatagramProtocol> implements DatagramTransport {
  /** @internal */ _started = false;
  /** @internal */ _closing = false;
  /** @internal */ _lostCalled = false;

  constructor(
    loop: EventLoop,
    /** @internal */ readonly _connected: boolean,
    /** @internal */ readonly _sockname: SockAddr,
    /** @internal */ readonly _peername: SockAddr | undefined,
  ) {
    super(loop);
  }

  abstract sendto(data: Uint8Array | string, addr?: DatagramAddress | null): void;
  abstract close(): void;
  /** @internal The 'socket' extra info. */
  abstract _socketInfo(): unknown;

  /** @internal Hand a datagram to the protocol (on the loop). */
  _deliverDatagram(data: Buffer, addr: [string, number]): void {
    try {
      this._protocol!.datagramReceived?.(data, addr);
    } catch (exception) {
      this._protocolFailed('datagramReceived', exception);
    }
  }

  /** @internal Hand a send or receive error to the protocol (on the loop). */
  _deliverError(err: Error): void {
    try {
      this._protocol!.errorReceived?.(err);
    } catch (exception) {
      this._protocolFailed('errorReceived', exception);
    }
  }

  /** @internal connectionLost, exactly once: null, or the error of a protocol callback that aborted the transport. */
  _connectionLost(): void {
    if (this._lostCalled) return;
    this._lostCalled = true;
    callConnectionLost(this._loop, this, this._protocol, this._lostError);
  }

  /** True once closing. */
  isClosing(): boolean {
    return this._closing;
  }

  /** `sockname`, `peername` ({@link SockAddr}; peername only with remoteAddr), `socket`; `dflt` otherwise. */
  getExtraInfo(name: string, dflt?: unknown): unknown {
    return socketExtraInfo(this, name, dflt);
  }

  /** The current protocol. */
  getProtocol(): BaseProtocol {
    return this._protocol!;
  }

  /** Switch protocols. */
  setProtocol(protocol: BaseProtocol): void {
    this._protocol = checkProtocol(protocol);
  }

  override toString(): string {
    return `<${this.constructor.name} ${this._lostCalled ? 'closed' : this._closing ? 'closing' : 'open'}>`;
  }
}

/**
 * A datagram transport over a `dgram.Socket`. Made by
 * `loop.createDatagramEndpoint()`; not constructed directly.
 *
 * `sendto()` after `close()`/`abort()` throws `Error('transport is closed')`
 * (asyncio silently drops such datagrams and warns after 5; a synchronous
 * error is easier to notice).
 *
 * @example
 * ```ts
 * const [t] = await loop.createDatagramEndpoint(() => ({}), { remoteAddr: ['127.0.0.1', port] });
 * t.sendto('ping');
 * t.close();
 * ```
 */
export class UdpTransport extends BaseDatagramTransport {
  /** @internal */ _socket: dgram.Socket;
  /** @internal */ _inbox: InboxItem[] = [];
  /** @internal */ _pumpScheduled = false;
  /** @internal Bytes handed to send() whose callback did not run yet. */
  _pending = 0;
  /**
   * @internal Datagrams handed to send() whose callback did not run yet:
   * what close() waits for (an empty datagram adds no bytes to `_pending`,
   * and closing under it made Node drop it).
   */
  _sending = 0;
  /** @internal The socket is closed (close finished or abort). */
  _socketClosed = false;

  /** @internal Use loop.createDatagramEndpoint(). */
  constructor(loop: EventLoop, socket: dgram.Socket, connected: boolean) {
    super(loop, connected, addrOf(socket.address()), connected ? addrOf(socket.remoteAddress()) : undefined);
    this._socket = socket;
    socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      if (this._closing) return;
      this._inbox.push([msg, [rinfo.address, rinfo.port]]);
      this._schedulePump();
    });
    socket.on('error', (err: Error) => {
      if (this._closing) return;
      this._inbox.push([ERR, err]);
      this._schedulePump();
    });
  }

  /** @internal Make the protocol and call connectionMade on the loop. */
  _start(factory: ProtocolFactory, done: (err: unknown) => void): void {
    const started = startProtocol(this, this, factory, done, () => {
      this._closing = this._lostCalled = true;
      this._closeSocket();
    });
    if (started) this._pump();
  }

  private _schedulePump(): void {
    if (this._pumpScheduled || !this._started || this._lostCalled) return;
    if (this._loop.isClosed()) {
      this._closeSocket();
      return;
    }
    this._pumpScheduled = true;
    this._loop.callSoon(this._pumpFromLoop);
  }

  private readonly _pumpFromLoop = (): void => {
    this._pumpScheduled = false;
    this._pump();
  };

  private _pump(): void {
    if (this._lostCalled) return;
    const inbox = this._inbox;
    let i = 0;
    while (!this._closing && i < inbox.length) {
      const [a, b] = inbox[i++]!;
      if (a === ERR) this._deliverError(b as Error);
      else this._deliverDatagram(a, b as [string, number]);
    }
    if (this._closing) inbox.length = 0;
    else inbox.splice(0, i);
    if (this._closing && this._sending === 0) this._closeSocket();
    if (this._socketClosed) this._connectionLost();
  }

  private _closeSocket(): void {
    if (this._socketClosed) return;
    this._socketClosed = true;
    try {
      this._socket.close();
    } catch {
      // already closed
    }
  }

  /**
   * Send one datagram (strings as UTF-8) to `addr` (`[host, port]` or
   * `{ address, port }`), or to the remote address when the endpoint was
   * made with `remoteAddr` (then `addr` must be omitted or equal to it).
   * Throws `Error('transport is closed')` after `close()`/`abort()`.
   */
  sendto(data: Uint8Array | string, addr?: DatagramAddress | null): void {
    const target = checkSendto(data, addr, this._connected ? this._peername! : null);
    const host = target?.[0];
    const port = target?.[1];
    if (this._closing) throw new Error('transport is closed');
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    this._pending += buf.length;
    this._sending++;
    const onSent = (err: Error | null) => {
      this._pending -= buf.length;
      this._sending--;
      if (err) {
        this._inbox.push([ERR, err]);
        this._schedulePump();
      } else if (this._protocolPaused && !this._loop.isClosed() && !this._lostCalled) {
        this._loop.callSoon(() => this._maybeResumeProtocol());
      }
      if (this._closing && this._sending === 0) {
        this._closeSocket();
        this._schedulePumpClosing();
      }
    };
    if (host === undefined) this._socket.send(buf, onSent);
    else this._socket.send(buf, port, host, onSent);
    this._maybePauseProtocol();
  }

  private _schedulePumpClosing(): void {
    if (this._loop.isClosed()) return;
    if (!this._pumpScheduled && !this._lostCalled) {
      this._pumpScheduled = true;
      this._loop.callSoon(this._pumpFromLoop);
    }
  }

  /** Stop receiving; once pending datagrams are sent, close; `connectionLost(null)` follows. */
  close(): void {
    if (this._closing) return;
    this._beginClosing();
  }

  /**
   * Close at once; `connectionLost(null)` follows. Datagrams already handed
   * to Node's socket still go out: asyncio's sendto() sends at once when
   * nothing is buffered (as the native loop does), and closing the socket
   * under a send that is still resolving its address made Node drop it.
   */
  abort(): void {
    if (this._lostCalled) return;
    this._beginClosing();
  }

  /** Stop receiving; close the socket once Node has sent what it was handed. */
  private _beginClosing(): void {
    this._closing = true;
    this._inbox.length = 0;
    if (this._sending === 0) this._closeSocket();
    this._schedulePumpClosing();
  }

  /** Bytes given to `sendto()` that the kernel did not take yet. */
  getWriteBufferSize(): number {
    return this._pending;
  }

  /** @internal The `dgram.Socket`. */
  _socketInfo(): unknown {
    return this._socket;
  }

}

/**
 * @internal The checks of `sendto()` (both loops): the destination, or null
 * for the connected peer. `peer` is the remote address of a connected endpoint.
 * @example
 * ```ts
 * const target = checkSendto(data, addr, connected ? peername : null);
 * ```
 */
export function checkSendto(data: unknown, addr: DatagramAddress | null | undefined, peer: SockAddr | null): [string, number] | null {
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new TypeError(`sendto() data must be a Uint8Array or a string, not ${describe(data)}`);
  }
  if (addr !== undefined && addr !== null) {
    const [host, port] = parseAddress(addr, 'sendto');
    if (peer === null) return [host, port];
    if (port !== peer.port || (host !== peer.address && !(net.isIP(host) === 0))) {
      throw new RangeError(`sendto() addr must be ${peer.address}:${peer.port} (the remote address), not ${host}:${port}`);
    }
    return null;
  }
  if (peer === null) throw new TypeError('sendto() needs an address: the endpoint has no remoteAddr');
  return null;
}

function parseAddress(addr: unknown, method: string): [string, number] {
  let host: unknown;
  let port: unknown;
  if (Array.isArray(addr)) {
    if (addr.length !== 2) throw new TypeError(`${method}() address must be [host, port], not ${describe(addr)}`);
    [host, port] = addr;
  } else if (typeof addr === 'object' && addr !== null) {
    ({ address: host, port } = addr as { address: unknown; port: unknown });
  } else {
    throw new TypeError(`${method}() address must be [host, port] or { address, port }, not ${describe(addr)}`);
  }
  checkString(host, `${method}() host`);
  checkPort(port, method, 0);
  return [host, port];
}

function resolve(host: string, family: 4 | 6 | undefined): Promise<{ address: string; family: 4 | 6 }> {
  const ip = net.isIP(host);
  if (ip !== 0) return Promise.resolve({ address: host, family: ip as 4 | 6 });
  return new Promise((res, rej) => {
    dns.lookup(host, { family: family ?? 0 }, (err, address, fam) => {
      if (err) rej(err);
      else res({ address, family: fam as 4 | 6 });
    });
  });
}

/**
 * @internal Checked arguments of `createDatagramEndpoint()`.
 * @example
 * ```ts
 * const args: DatagramArgs = checkDatagramArgs(factory, opts);
 * ```
 */
export interface DatagramArgs {
  local: [string, number] | null;
  remote: [string, number] | null;
  family: 4 | 6 | undefined;
  reusePort: boolean;
}

/**
 * @internal The argument checks of `loop.createDatagramEndpoint()` (both loops).
 * @example
 * ```ts
 * const args = checkDatagramArgs(factory, { localAddr: ['127.0.0.1', 0] });
 * ```
 */
export function checkDatagramArgs(factory: unknown, opts: DatagramEndpointOptions | undefined): DatagramArgs {
  checkFactory(factory, 'createDatagramEndpoint');
  checkOptions(opts, 'createDatagramEndpoint');
  const local = opts?.localAddr !== undefined ? parseAddress(opts.localAddr, 'createDatagramEndpoint() localAddr') : null;
  const remote = opts?.remoteAddr !== undefined ? parseAddress(opts.remoteAddr, 'createDatagramEndpoint() remoteAddr') : null;
  if (remote !== null && remote[1] === 0) throw new RangeError('createDatagramEndpoint() remoteAddr port must be in [1, 65535], not 0');
  if (local === null && remote === null && opts?.family === undefined) {
    throw new TypeError('createDatagramEndpoint() needs localAddr, remoteAddr or family');
  }
  const rawFamily = opts?.family as number | undefined;
  // 4/6 (Node's spelling) or AF_INET/AF_INET6 (asyncio's).
  const family: 4 | 6 | undefined =
    rawFamily === undefined ? undefined : rawFamily === 4 || rawFamily === AF_INET ? 4 : rawFamily === 6 || rawFamily === AF_INET6 ? 6 : undefined;
  if (rawFamily !== undefined && family === undefined) {
    throw new RangeError(`createDatagramEndpoint() family must be 4, 6, AF_INET or AF_INET6, not ${describe(rawFamily)}`);
  }
  const reusePort = opts?.reusePort;
  if (reusePort !== undefined && typeof reusePort !== 'boolean') {
    throw new TypeError(`createDatagramEndpoint() reusePort must be a boolean, not ${describe(reusePort)}`);
  }
  return { local, remote, family, reusePort: reusePort === true };
}

/**
 * @internal Resolve the local and remote hosts; all addresses must share one family.
 * @example
 * ```ts
 * const { l, r, fam } = await resolveDatagramAddrs(args);
 * ```
 */
export async function resolveDatagramAddrs(
  args: DatagramArgs,
): Promise<{ l: { address: string; family: 4 | 6 } | null; r: { address: string; family: 4 | 6 } | null; fam: 4 | 6 }> {
  const { local, remote, family } = args;
  const l = local !== null ? await resolve(local[0], family) : null;
  const r = remote !== null ? await resolve(remote[0], family ?? l?.family) : null;
  const fam = family ?? l?.family ?? r?.family ?? 4;
  if ((l !== null && l.family !== fam) || (r !== null && r.family !== fam)) {
    throw new RangeError(`createDatagramEndpoint() addresses must all be IPv${fam}`);
  }
  return { l, r, fam };
}

/**
 * @internal `loop.createDatagramEndpoint()`: bind (and connect, with
 * `remoteAddr`), then make the protocol and call connectionMade on the loop.
 * @example
 * ```ts
 * const [t, p] = await createDatagramEndpoint(loop, () => new Echo(), { localAddr: ['127.0.0.1', 0] });
 * ```
 */
export function createDatagramEndpoint<P extends BaseProtocol>(
  loop: EventLoop,
  factory: ProtocolFactory<P>,
  opts?: DatagramEndpointOptions,
): Promise<[DatagramTransport, P]> {
  const args = checkDatagramArgs(factory, opts);
  if (args.reusePort && !nodeSupportsReusePort()) {
    throw new Error(
      `createDatagramEndpoint() reusePort needs Node >= 22.12 or 23.1 on the default loop (SO_REUSEPORT); this is Node ${process.versions.node}. The native loop supports it.`,
    );
  }
  if (loop.isClosed()) throw new Error('Event loop is closed');
  const { local, remote, reusePort } = args;
  return (async () => {
    const { l, r, fam } = await resolveDatagramAddrs(args);
    const socket = dgram.createSocket({ type: fam === 6 ? 'udp6' : 'udp4', ...(reusePort ? { reusePort: true } : {}) } as dgram.SocketOptions);
    try {
      await new Promise<void>((res, rej) => {
        socket.once('error', rej);
        socket.bind(l !== null ? { port: local![1], address: l.address } : { port: 0 }, () => {
          socket.removeListener('error', rej);
          res();
        });
      });
      if (r !== null) {
        await new Promise<void>((res, rej) => {
          socket.connect(remote![1], r.address, (err?: Error) => (err ? rej(err) : res()));
        });
      }
    } catch (err) {
      try {
        socket.close();
      } catch {
        // not open
      }
      throw err;
    }
    const transport = new UdpTransport(loop, socket, r !== null);
    return new Promise<[DatagramTransport, P]>((res, rej) => {
      if (loop.isClosed()) {
        socket.close();
        rej(new Error('Event loop is closed'));
        return;
      }
      loop.callSoon(() =>
        transport._start(factory, (err) => {
          if (err !== null) rej(err);
          else res([transport, transport._protocol as unknown as P]);
        }),
      );
    });
  })();
}
