// The default loop's socket reads (lib/net_transport.ts): accepted sockets
// are made again to read through Node's `onread` option, and a socket that
// cannot be keeps reading through 'data' events.
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readingThroughRoute, type SocketTransport } from '../lib/net_transport.js';

describe('readingThroughRoute', () => {
  it('leaves a socket without a libuv handle reading through data events', () => {
    const socket = new net.Socket(); // not connected: no handle
    const { socket: same, reads } = readingThroughRoute(socket);
    expect(same).toBe(socket);
    expect(reads).toBeNull();
    socket.destroy();
  });

  it('hands every byte of an accepted socket to the route, in order, in chunks that stay intact', async () => {
    const payload = randomBytes(3 * 1024 * 1024 + 11);
    const chunks: Buffer[] = [];
    let shellClosed = false;
    const got = new Promise<void>((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
        accepted.on('close', () => (shellClosed = true));
        const { socket, reads } = readingThroughRoute(accepted);
        if (reads === null) return reject(new Error('no route: Node internals differ'));
        // Only _onChunk is called on the transport; the chunks are kept, not copied.
        reads.attach({ _onChunk: (chunk: Buffer) => chunks.push(chunk) } as unknown as SocketTransport);
        socket.on('end', () => {
          socket.end();
          server.close();
          resolve();
        });
        socket.on('error', reject);
      });
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        const client = net.connect(port, '127.0.0.1', () => client.end(payload));
        client.on('error', reject);
      });
    });
    await got;
    expect(shellClosed).toBe(true); // the accepted socket's shell is gone, its handle lives on
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((c) => c.length <= 64 * 1024)).toBe(true);
    expect(Buffer.concat(chunks).equals(payload)).toBe(true);
  });
});
