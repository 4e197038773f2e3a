/**
 * The native loop's createConnection / createServer and their Unix forms:
 * argument checks and host resolution in TypeScript (shared with the default
 * loop), sockets in C++ (native/tcp.cc, native/pipe.cc).
 * @module
 */
import type { EventLoop } from '../../events.js';
import { resolveHost } from '../../net_transport.js';
import type { BaseProtocol, ProtocolFactory } from '../../protocols.js';
import { Server, type Listener } from '../../servers.js';
import type { SockAddr, Transport } from '../../transports.js';
import type { NativeLoopBinding } from './addon.js';
import { uvError, type NativeIo, type StreamOwner } from './io.js';
import { NativeStreamTransport, sockAddr } from './stream_transport.js';

/** Node's default listen backlog. */
const DEFAULT_BACKLOG = 511;

/**
 * @internal What the native loop lends these functions.
 * @example
 * ```ts
 * const ctx: NativeNet = { loop, io, native };
 * ```
 */
export interface NativeNet {
  loop: EventLoop;
  io: NativeIo;
  native: NativeLoopBinding;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Connect `id` (already started in C++), then start the protocol on the loop. */
function connected<P extends BaseProtocol>(
  ctx: NativeNet,
  id: number,
  factory: ProtocolFactory<P>,
  unixPath: string | null,
  describeTarget: string,
): Promise<[Transport, P]> {
  const transport = new NativeStreamTransport(ctx.loop, ctx.io, ctx.native, id);
  return new Promise((resolve, reject) => {
    transport._onConnected = (status) => {
      if (status !== 0) {
        transport._lostCalled = true; // there is no protocol to tell
        transport._closing = true;
        transport._destroy();
        reject(uvError(status, 'connect', describeTarget));
        return;
      }
      if (unixPath === null) transport._nameTcp();
      else {
        transport._peername = unixPath;
        transport._sockname = '';
      }
      transport._start(factory, (err) => {
        if (err !== null) reject(err);
        else resolve([transport, transport._protocol as P]);
      });
    };
  });
}

/**
 * @internal `createConnection` on the native loop (arguments already checked).
 * @example
 * ```ts
 * const [t, p] = await nativeConnect(ctx, factory, 'localhost', 8080, undefined);
 * ```
 */
export async function nativeConnect<P extends BaseProtocol>(
  ctx: NativeNet,
  factory: ProtocolFactory<P>,
  host: string,
  port: number,
  localAddr: [string, number] | undefined,
): Promise<[Transport, P]> {
  const address = await resolveHost(host);
  const local = localAddr === undefined ? null : await resolveHost(localAddr[0]);
  if (ctx.loop.isClosed()) throw new Error('Event loop is closed');
  const id = ctx.native.tcpConnect(address, port, local, localAddr?.[1] ?? 0);
  return connected(ctx, id, factory, null, hostPort(address, port));
}

/**
 * @internal `createUnixConnection` on the native loop.
 * @example
 * ```ts
 * const [t] = await nativeConnectUnix(ctx, factory, '/tmp/app.sock');
 * ```
 */
export function nativeConnectUnix<P extends BaseProtocol>(
  ctx: NativeNet,
  factory: ProtocolFactory<P>,
  path: string,
): Promise<[Transport, P]> {
  if (ctx.loop.isClosed()) return Promise.reject(new Error('Event loop is closed'));
  const id = ctx.native.pipeConnect(path);
  return connected(ctx, id, factory, path, path);
}

/** A server's listening socket on the native loop. */
class NativeListener implements Listener, StreamOwner {
  private _id: number;
  private readonly _addresses: (SockAddr | string)[];

  constructor(
    private readonly _ctx: NativeNet,
    private readonly _server: Server,
    id: number,
    private readonly _unixPath: string | null,
  ) {
    this._id = id;
    _ctx.io.register(id, this);
    this._addresses = _unixPath !== null ? [_unixPath] : [sockAddr(_ctx.native.tcpAddress(id, false))!];
  }

  close(): void {
    if (this._id < 0) return;
    this._ctx.native.closeStream(this._id, true);
    this._id = -1;
  }

  addresses(): (SockAddr | string)[] {
    return this._id < 0 ? [] : this._addresses;
  }

  _onAccept(connId: number): void {
    const { loop, io, native } = this._ctx;
    const server = this._server;
    const transport = new NativeStreamTransport(loop, io, native, connId);
    if (server._refuses()) {
      transport._lostCalled = transport._closing = true;
      transport._destroy();
      return;
    }
    if (this._unixPath === null) transport._nameTcp();
    else {
      transport._peername = '';
      transport._sockname = this._unixPath;
    }
    // We are on the loop (the I/O dispatch): the protocol starts at once.
    server._attach(transport, (done) => transport._start(server._factory, done));
  }

  _onListenError(err: Error): void {
    this._server._acceptFailed(err);
  }

  _onClosed(): void {}
}

/**
 * @internal `createServer` on the native loop (arguments already checked).
 * `host` null listens on every interface: IPv6 `::` (dual stack) when the
 * machine has IPv6, else `0.0.0.0`.
 * @example
 * ```ts
 * const server = await nativeListen(ctx, factory, '127.0.0.1', 0, 128, false);
 * ```
 */
export async function nativeListen(
  ctx: NativeNet,
  factory: ProtocolFactory,
  host: string | null,
  port: number,
  backlog: number | undefined,
  reusePort: boolean,
): Promise<Server> {
  const server = new Server(ctx.loop, factory);
  const address = host === null ? null : await resolveHost(host);
  if (ctx.loop.isClosed()) throw new Error('Event loop is closed');
  let id: number;
  try {
    id = ctx.native.tcpListen(address ?? '::', port, backlog ?? DEFAULT_BACKLOG, reusePort, false);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (address !== null || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw err;
    id = ctx.native.tcpListen('0.0.0.0', port, backlog ?? DEFAULT_BACKLOG, reusePort, false);
  }
  return server._listening(new NativeListener(ctx, server, id, null));
}

/**
 * @internal `createUnixServer` on the native loop (a stale socket file was
 * removed by the caller; libuv unlinks the path on close).
 * @example
 * ```ts
 * const server = await nativeListenUnix(ctx, factory, '/tmp/app.sock', undefined);
 * ```
 */
export function nativeListenUnix(ctx: NativeNet, factory: ProtocolFactory, path: string, backlog: number | undefined): Server {
  if (ctx.loop.isClosed()) throw new Error('Event loop is closed');
  const server = new Server(ctx.loop, factory);
  const id = ctx.native.pipeListen(path, backlog ?? DEFAULT_BACKLOG);
  return server._listening(new NativeListener(ctx, server, id, path));
}
