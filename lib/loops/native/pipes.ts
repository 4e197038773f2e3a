/**
 * The native loop's connectReadPipe / connectWritePipe for pipe and socket
 * file descriptors: a uv_pipe_t (native/pipe.cc) under a native stream
 * transport. Other fds and Node streams take the shared path (lib/pipes.ts).
 * @module
 */
import * as fs from 'node:fs';
import type { BaseProtocol, ProtocolFactory } from '../../protocols.js';
import type { Transport } from '../../transports.js';
import { NativeStreamTransport } from './stream_transport.js';
import type { NativeNet } from './tcp.js';

/**
 * @internal True when `fd` is a pipe or a socket, which libuv can drive as
 * a uv_pipe_t (regular files and ttys stay with the shared fs/net path).
 * @example
 * ```ts
 * if (isPipeFd(fd)) nativeOpenPipe(ctx, factory, fd, true);
 * ```
 */
export function isPipeFd(fd: unknown): fd is number {
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) return false;
  try {
    const st = fs.fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false; // EBADF...: the shared path reports it
  }
}

/**
 * @internal The native loop's connectReadPipe / connectWritePipe for a pipe
 * or socket fd: a uv_pipe_t that owns (and finally closes) the fd.
 * @example
 * ```ts
 * const [t, p] = await nativeOpenPipe(ctx, () => new Collector(), fd, true);
 * ```
 */
export function nativeOpenPipe<P extends BaseProtocol>(
  ctx: NativeNet,
  factory: ProtocolFactory<P>,
  fd: number,
  readable: boolean,
): Promise<[Transport, P]> {
  const id = ctx.native.pipeOpen(fd, false);
  const transport = new NativeStreamTransport(ctx.loop, ctx.io, ctx.native, id);
  transport._peername = transport._sockname = undefined;
  if (!readable) transport._reading = false;
  return new Promise((resolve, reject) => {
    // connectionMade on the loop (asyncio: call_soon), then reading starts.
    ctx.loop.callSoon(() =>
      transport._start(factory, (err) => {
        if (err !== null) {
          reject(err);
          return;
        }
        if (readable && !transport._closing && transport._reading) ctx.native.readStart(id);
        resolve([transport, transport._protocol as P]);
      }),
    );
  });
}
