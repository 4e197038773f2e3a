/** Transports, protocols and servers over real sockets (asyncio's test_events socket parts), on every loop. */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  fromPromise,
  getRunningLoop,
  nodeSupportsReusePort,
  sleep,
  type BaseProtocol,
  type BufferedProtocol,
  type Coroutine,
  type EventLoop,
  type ExceptionContext,
  type Future,
  type Protocol,
  type Server,
  type SockAddr,
  type Transport,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

const HOST = '127.0.0.1';
const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** What a test hands back about the bytes a peer received: their sha256 and length. */
const digest = (b: Uint8Array): [string, number] => [sha(b), b.length];
/** The received bytes are exactly `sent`, in order. */
function expectReceived([hash, length]: [string, number], sent: Buffer[]): void {
  const want = Buffer.concat(sent);
  expect(length).toBe(want.length);
  expect(hash).toBe(sha(want));
}
const portOf = (server: Server) => (server.addresses()[0] as SockAddr).port;

/**
 * Serve `protocol` on a fresh server, send it `payload` from a client that
 * then closes, wait for `done` (the protocol's connectionLost), and close
 * the server.
 */
function* sendToServer(loop: EventLoop, protocol: BaseProtocol, payload: Uint8Array, done: Future<void>): Coroutine<void> {
  const server = yield* fromPromise(loop.createServer(() => protocol, HOST, 0));
  const [t] = yield* fromPromise(loop.createConnection(() => ({}), HOST, portOf(server)));
  t.write(payload);
  t.close();
  yield* done;
  server.close();
  yield* server.waitClosed();
}
let unixCounter = 0;
const unixPath = () => path.join(os.tmpdir(), `aioloop-t-${process.pid}-${++unixCounter}.sock`);

/** A protocol that records its events and resolves `lost` on connectionLost. */
class Recorder implements Protocol {
  events: string[] = [];
  data: Buffer[] = [];
  transport!: Transport;
  lostError: Error | null | undefined = undefined;
  lost = getRunningLoop().createFuture<Error | null>();
  loops: boolean[] = [];
  constructor(
    private readonly opts: { echo?: boolean; keepOpenOnEof?: boolean; eofReply?: string } = {},
  ) {}
  connectionMade(t: Transport) {
    this.transport = t;
    this.events.push('connectionMade');
    this.loops.push(getRunningLoop() === this.lost.getLoop());
  }
  dataReceived(d: Buffer) {
    if (this.events[this.events.length - 1] !== 'dataReceived') this.events.push('dataReceived');
    this.data.push(d);
    if (this.opts.echo) this.transport.write(d);
  }
  eofReceived() {
    this.events.push('eofReceived');
    this.loops.push(getRunningLoop() === this.lost.getLoop());
    if (this.opts.eofReply !== undefined) {
      this.transport.write(this.opts.eofReply);
      this.transport.close();
      return true;
    }
    if (this.opts.keepOpenOnEof) {
      this.transport.writeEof();
      return true;
    }
    return false;
  }
  connectionLost(err: Error | null) {
    this.events.push('connectionLost');
    this.lostError = err;
    this.lost.setResult(err);
  }
  received(): Buffer {
    return Buffer.concat(this.data);
  }
}

describe.each(LOOPS)('$name loop: TCP transports', (kind) => {
  it('calls connectionMade, dataReceived, eofReceived, connectionLost in order, on the loop', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const serverProtos: Recorder[] = [];
        const server = yield* fromPromise(
          loop.createServer(() => {
            const p = new Recorder({ echo: true });
            serverProtos.push(p);
            return p;
          }, HOST, 0),
        );
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server)));
        expect(client.events).toEqual(['connectionMade']);
        t.write('hello');
        t.writeEof();
        const err = yield* client.lost;
        expect(err).toBeNull();
        const sp = serverProtos[0]!;
        yield* sp.lost;
        expect(sp.events).toEqual(['connectionMade', 'dataReceived', 'eofReceived', 'connectionLost']);
        expect(sp.received().toString()).toBe('hello');
        expect(sp.lostError).toBeNull();
        expect(client.events).toEqual(['connectionMade', 'dataReceived', 'eofReceived', 'connectionLost']);
        expect(client.received().toString()).toBe('hello');
        expect([...client.loops, ...sp.loops].every(Boolean)).toBe(true);
        expect(t.isClosing()).toBe(true);
        server.close();
        yield* server.waitClosed();
        return 'ok';
      }
      expect(await run(loop, main)).toBe('ok');
    }));

  it('resumes an `await fut` right after a protocol callback completed fut, while the loop is busy', () =>
    withLoop(kind, async (loop) => {
      const main = async (): Promise<number> => {
        let hops = 0;
        let busy = true;
        const hop = () => {
          hops++;
          if (busy) loop.callSoon(hop);
        };
        const got = loop.createFuture<number>();
        const server = await loop.createServer(
          () => ({ dataReceived: () => got.done() || got.setResult(hops) }) as unknown as Protocol,
          HOST,
          0,
        );
        const client = net.connect(portOf(server), HOST);
        try {
          loop.callSoon(hop); // a callback chain keeps every burst full
          await new Promise((resolve) => client.once('connect', resolve));
          client.write('x');
          const deliveredAt = await got;
          const resumedAt = hops;
          busy = false;
          expect(hops).toBeGreaterThan(100);
          return resumedAt - deliveredAt;
        } finally {
          busy = false;
          client.destroy();
          server.close();
        }
      };
      // Not after the rest of a burst of iterations: the delivery's resolve ended it.
      expect(await loop.runUntilComplete(main())).toBeLessThanOrEqual(2);
    }));

  it('moves 16 MiB each way intact (sha256 of the chunks dataReceived got, all kept to the end)', () =>
    withLoop(kind, async (loop) => {
      const payload = randomBytes(16 * 1024 * 1024);
      function* main(): Coroutine<[string, number]> {
        const server = yield* fromPromise(loop.createServer(() => new Recorder({ echo: true, keepOpenOnEof: true }), HOST, 0));
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server)));
        // Write in 1 MiB pieces straight away: the transport buffers what the kernel refuses.
        for (let i = 0; i < payload.length; i += 1 << 20) t.write(payload.subarray(i, i + (1 << 20)));
        t.writeEof();
        yield* client.lost;
        server.close();
        yield* server.waitClosed();
        return digest(client.received());
      }
      expectReceived(await run(loop, main), [payload]);
    }));

  it('write() takes the bytes at once: the caller may refill its buffer right after, even while writes queue', () =>
    withLoop(kind, async (loop) => {
      // 512 writes of 32 KiB and 8 of 1 MiB (24 MiB to a peer not reading
      // yet: far more than the kernel takes, so most of them queue), all from
      // ONE scratch buffer refilled before each write, as a server reusing
      // its reply buffer does.
      const scratch = Buffer.alloc(1 << 20);
      const expected: Buffer[] = [];
      function* main(): Coroutine<[string, number]> {
        const serverProtos: Recorder[] = [];
        const server = yield* fromPromise(
          loop.createServer(() => {
            const p = new Recorder({ keepOpenOnEof: true });
            serverProtos.push(p);
            return p;
          }, HOST, 0),
        );
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server)));
        while (serverProtos.length === 0) yield* sleep(1);
        serverProtos[0]!.transport.pauseReading();
        for (let i = 0; i < 520; i++) {
          const size = i < 512 ? 32 * 1024 : 1 << 20;
          scratch.fill(i & 0xff, 0, size);
          scratch.writeUInt32BE(i, 0);
          expected.push(Buffer.from(scratch.subarray(0, size)));
          t.write(scratch.subarray(0, size));
        }
        scratch.fill(0xee); // after the last write too
        expect(t.getWriteBufferSize()).toBeGreaterThan(0); // writes did queue
        serverProtos[0]!.transport.resumeReading();
        t.writeEof();
        yield* client.lost;
        yield* serverProtos[0]!.lost;
        server.close();
        yield* server.waitClosed();
        return digest(serverProtos[0]!.received());
      }
      expectReceived(await run(loop, main), expected);
    }));

  it('small writes from one refilled buffer arrive intact, whether the kernel takes them at once or they queue', () =>
    withLoop(kind, async (loop) => {
      // Bursts of small writes with pauses between: the first writes of a
      // burst go to the kernel before write() returns (the default loop then
      // cuts the next copy from the same memory), later ones queue.
      const scratch = Buffer.alloc(8192);
      const expected: Buffer[] = [];
      let seed = 7;
      const rnd = () => (seed = (seed * 16807) % 2147483647);
      function* main(): Coroutine<[string, number]> {
        const server = yield* fromPromise(loop.createServer(() => new Recorder({ echo: true, keepOpenOnEof: true }), HOST, 0));
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server)));
        for (let burst = 0; burst < 30; burst++) {
          for (let i = 0; i < 120; i++) {
            const size = 1 + (rnd() % 6000);
            for (let k = 0; k < size; k += 4) scratch.writeUInt32LE(rnd(), k);
            expected.push(Buffer.from(scratch.subarray(0, size)));
            t.write(scratch.subarray(0, size));
          }
          yield* sleep(burst % 3 === 0 ? 5 : 0);
        }
        t.writeEof();
        yield* client.lost;
        server.close();
        yield* server.waitClosed();
        return digest(client.received());
      }
      expectReceived(await run(loop, main), expected);
    }));

  it('a timer or callback scheduled from dataReceived runs with nothing else going on', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string> {
        const server = yield* fromPromise(
          loop.createServer(() => {
            const p = new Recorder();
            p.dataReceived = (d: Buffer) => {
              const msg = d.toString();
              // The reply leaves from a timer, then from a callSoon: no other I/O wakes the loop.
              getRunningLoop().callLater(20, () => getRunningLoop().callSoon(() => p.transport.write(`late ${msg}`)));
            };
            return p;
          }, HOST, 0),
        );
        const reply = loop.createFuture<string>();
        const [t] = yield* fromPromise(
          loop.createConnection((): Protocol => ({ dataReceived: (d: Buffer) => reply.setResult(d.toString()) }), HOST, portOf(server)),
        );
        t.write('ping');
        const got = yield* reply; // nothing polls meanwhile: only the server's timer can answer
        t.close();
        server.close();
        yield* server.waitClosed();
        return got;
      }
      expect(await run(loop, main)).toBe('late ping');
    }));

  it('stop() called from dataReceived stops the loop at once', () =>
    withLoop(kind, async (loop) => {
      const server = await loop.runUntilComplete(
        loop.createServer((): Protocol => ({ dataReceived: () => loop.stop() }), HOST, 0),
      );
      const client = net.connect(portOf(server), HOST);
      await new Promise<void>((resolve) => client.once('connect', resolve));
      client.write('stop');
      // Nothing else is pending: only the stop() inside dataReceived can end it.
      await loop.runForever();
      client.destroy();
      server.close();
      await loop.runUntilComplete(server.waitClosed());
    }));

  it('a protocol that aborts in the middle of a large upload loses only that connection', () =>
    withLoop(kind, async (loop) => {
      const upload = Buffer.alloc(8 << 20, 7); // far more than one read batch or slab
      function* main(): Coroutine<[number, boolean]> {
        let seen = 0;
        const aborted = loop.createFuture<void>();
        const server = yield* fromPromise(
          loop.createServer(() => {
            let transport: Transport;
            return {
              connectionMade: (t: Transport) => {
                transport = t;
              },
              dataReceived: (d: Buffer) => {
                seen += d.length;
                if (seen >= 1 << 20 && !aborted.done()) {
                  transport.abort(); // "body too large"
                  aborted.setResult();
                }
              },
            };
          }, HOST, 0),
        );
        const client = net.connect(portOf(server), HOST);
        client.on('error', () => {});
        client.write(upload);
        yield* aborted;
        // The server still serves others.
        const [t, c] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server)));
        t.write('x');
        t.close();
        yield* c.lost;
        client.destroy();
        server.close();
        yield* server.waitClosed();
        return [seen, c.lostError === null];
      }
      const [seen, cleanClose] = await run(loop, main);
      expect(seen).toBeGreaterThanOrEqual(1 << 20);
      expect(cleanClose).toBe(true);
    }));

  it('supports half-close: the server writes after the client sent EOF', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string> {
        const server = yield* fromPromise(loop.createServer(() => new Recorder({ eofReply: 'bye after eof' }), HOST, 0));
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server)));
        expect(t.canWriteEof()).toBe(true);
        t.write('question');
        t.writeEof();
        expect(() => t.write('more')).toThrow(/writeEof/);
        yield* client.lost;
        server.close();
        yield* server.waitClosed();
        return client.received().toString();
      }
      expect(await run(loop, main)).toBe('bye after eof');
    }));

  it('keeps the write side open when eofReceived returns any truthy value, as asyncio does', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string> {
        const server = yield* fromPromise(
          loop.createServer(() => {
            const p: Protocol & { t?: Transport } = {
              connectionMade(t) {
                p.t = t;
              },
              eofReceived() {
                loop.callLater(5, () => {
                  p.t!.write('late reply');
                  p.t!.close();
                });
                return 1 as unknown as boolean; // truthy, not true
              },
            };
            return p;
          }, HOST, 0),
        );
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server)));
        t.writeEof();
        yield* client.lost;
        server.close();
        yield* server.waitClosed();
        return client.received().toString();
      }
      expect(await run(loop, main)).toBe('late reply');
    }));

  it('a paused protocol hears resumeWriting before connectionLost after close(), never after abort()', () =>
    withLoop(kind, async (loop) => {
      function* once(mode: 'close' | 'abort'): Coroutine<string[]> {
        const log: string[] = [];
        let peer!: Transport;
        const server = yield* fromPromise(
          loop.createServer(() => ({
            connectionMade(t: Transport) {
              peer = t;
              t.pauseReading(); // the client's writes pile up in its buffer
            },
          }), HOST, 0),
        );
        const lost = loop.createFuture<void>();
        let t!: Transport;
        [t] = yield* fromPromise(
          loop.createConnection(() => ({
            pauseWriting: () => log.push('pauseWriting'),
            resumeWriting: () => log.push(`resumeWriting, closing ${t.isClosing()}`),
            connectionLost: () => {
              log.push('connectionLost');
              lost.setResult();
            },
          }), HOST, portOf(server)),
        );
        while (peer === undefined) yield* sleep(1);
        while (t.getWriteBufferSize() <= t.getWriteBufferLimits().high) t.write(Buffer.alloc(65536));
        if (mode === 'abort') {
          t.abort();
          log.push(`buffer after abort ${t.getWriteBufferSize()}`);
        } else {
          t.close();
        }
        peer.resumeReading();
        yield* lost;
        yield* sleep(20); // nothing comes after connectionLost
        peer.close();
        server.close();
        yield* server.waitClosed();
        return log;
      }
      function* main(): Coroutine<unknown> {
        return [yield* once('close'), yield* once('abort')];
      }
      expect(await run(loop, main)).toEqual([
        ['pauseWriting', 'resumeWriting, closing true', 'connectionLost'],
        ['pauseWriting', 'buffer after abort 0', 'connectionLost'],
      ]);
    }));

  it('reports a peer reset in the middle of a write through connectionLost(err)', () =>
    withLoop(kind, async (loop) => {
      // The peer is a node:net server outside the loop under test, so the
      // reset (RST: SO_LINGER 0) is the same on both loops.
      const peers: net.Socket[] = [];
      const peerServer = net.createServer((s) => {
        s.pause();
        peers.push(s);
      });
      await new Promise<void>((resolve) => peerServer.listen(0, HOST, resolve));
      const port = (peerServer.address() as net.AddressInfo).port;
      function* main(): Coroutine<unknown> {
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        while (peers.length === 0) yield* sleep(1);
        const chunk = Buffer.alloc(1 << 20, 7);
        for (let i = 0; i < 32 && !t.isClosing(); i++) t.write(chunk);
        expect(t.getWriteBufferSize()).toBeGreaterThan(0); // still writing
        peers[0]!.resetAndDestroy();
        const err = yield* client.lost;
        return (err as NodeJS.ErrnoException | null)?.code;
      }
      try {
        expect(['ECONNRESET', 'EPIPE']).toContain(await run(loop, main));
      } finally {
        peerServer.close();
      }
    }));

  it('pauses writing against a peer that does not read, bounded by what was written, and resumes', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const accepted = loop.createFuture<Transport>();
        const serverProto = new Recorder();
        const server = yield* fromPromise(
          loop.createServer(() => {
            const p: Protocol = {
              connectionMade: (t) => {
                t.pauseReading();
                expect(t.isReading()).toBe(false);
                accepted.setResult(t);
                serverProto.connectionMade(t);
              },
              dataReceived: (d) => serverProto.dataReceived(d),
              eofReceived: () => serverProto.eofReceived(),
              connectionLost: (e) => serverProto.connectionLost(e),
            };
            return p;
          }, HOST, 0),
        );
        const calls: string[] = [];
        const resumed = loop.createFuture<number>();
        let t!: Transport;
        const proto: BaseProtocol = {
          pauseWriting: () => calls.push('pause'),
          resumeWriting: () => {
            calls.push('resume');
            resumed.setResult(t.getWriteBufferSize());
          },
        };
        [t] = yield* fromPromise(loop.createConnection(() => proto, HOST, portOf(server)));
        expect(t.getWriteBufferLimits()).toEqual({ high: 65536, low: 16384 });
        const peer = yield* accepted;
        const chunk = Buffer.alloc(64 * 1024, 1);
        let written = 0;
        // The kernel takes a few MiB first; then the transport buffers and pauses the protocol.
        while (calls.length === 0 && written < 256 * 1024 * 1024) {
          t.write(chunk);
          written += chunk.length;
        }
        expect(calls).toEqual(['pause']);
        const size = t.getWriteBufferSize();
        expect(size).toBeGreaterThan(65536);
        expect(size).toBeLessThanOrEqual(written);
        expect(size).toBeLessThanOrEqual(65536 + chunk.length);
        yield* sleep(20);
        expect(calls).toEqual(['pause']); // nobody reads: no resume
        peer.resumeReading();
        const sizeAtResume = yield* resumed;
        expect(sizeAtResume).toBeLessThanOrEqual(16384);
        t.close();
        yield* serverProto.lost;
        expect(serverProto.received().length).toBe(written);
        server.close();
        yield* server.waitClosed();
        return calls;
      }
      expect(await run(loop, main)).toEqual(['pause', 'resume']);
    }));

  it('BufferedProtocol receives exactly the bytes sent, through its own small buffer', () =>
    withLoop(kind, async (loop) => {
      const payload = randomBytes(300 * 1024 + 17);
      function* main(): Coroutine<[string, number]> {
        const parts: Buffer[] = [];
        const hints: number[] = [];
        const done = loop.createFuture<void>();
        const buf = new Uint8Array(1000);
        const proto: BufferedProtocol = {
          getBuffer: (hint) => {
            hints.push(hint);
            return buf;
          },
          bufferUpdated: (n) => parts.push(Buffer.from(buf.subarray(0, n))),
          connectionLost: () => done.setResult(),
        };
        yield* sendToServer(loop, proto, payload, done);
        // A size hint, or -1 (unknown) as asyncio passes before a zero-copy read.
        expect(hints.every((h) => h > 0 || h === -1)).toBe(true);
        expect(parts.every((p) => p.length <= 1000)).toBe(true);
        return digest(Buffer.concat(parts));
      }
      expectReceived(await run(loop, main), [payload]);
    }));

  it('a BufferedProtocol that hands out the free tail of one big buffer gets every byte where it asked', () =>
    withLoop(kind, async (loop) => {
      // A framing reader's usual shape. The native loop used to keep the
      // next read's buffer armed while bytes from its batch went through
      // getBuffer() into the same tail, and the read landed on top of them.
      const payload = randomBytes(4 * 1024 * 1024 + 5);
      function* main(): Coroutine<[string, number]> {
        const big = new Uint8Array(256 * 1024);
        let used = 0;
        const parts: Buffer[] = [];
        const done = loop.createFuture<void>();
        const proto: BufferedProtocol = {
          getBuffer: () => big.subarray(used),
          bufferUpdated: (n) => {
            used += n;
            if (used > 128 * 1024) {
              parts.push(Buffer.from(big.subarray(0, used)));
              used = 0;
            }
          },
          connectionLost: () => {
            parts.push(Buffer.from(big.subarray(0, used)));
            done.setResult();
          },
        };
        const server = yield* fromPromise(loop.createServer(() => proto, HOST, 0));
        const [t] = yield* fromPromise(loop.createConnection(() => ({}), HOST, portOf(server)));
        for (let i = 0; i < payload.length; i += 100_000) t.write(payload.subarray(i, i + 100_000));
        t.close();
        yield* done;
        server.close();
        yield* server.waitClosed();
        return digest(Buffer.concat(parts));
      }
      expectReceived(await run(loop, main), [payload]);
    }));

  it('48 connections whose bytes all wait at once each get them intact, chunks kept to the end', () =>
    withLoop(kind, async (loop) => {
      // Everything is sent while the loop is stopped, so its first poll
      // finds more reads ready than the native loop's inbound slab holds
      // (32 of 64 KiB): readers starve and resume, each connection's chunks
      // stay in order, and no kept chunk is overwritten.
      const conns = 48;
      const payloads = Array.from({ length: conns }, (_, i) => {
        const p = randomBytes(256 * 1024);
        p[0] = i; // the first byte names the sender
        return p;
      });
      const received = new Map<number, Buffer[]>();
      let made = 0;
      let lost = 0;
      const server = await loop.runUntilComplete(
        loop.createServer(
          () => {
            let index = -1;
            const chunks: Buffer[] = [];
            return {
              connectionMade: () => void made++,
              dataReceived: (d: Buffer) => {
                if (index < 0) index = d[0]!;
                chunks.push(d);
              },
              connectionLost: () => {
                received.set(index, chunks);
                lost++;
              },
            };
          },
          HOST,
          0,
        ),
      );
      const clients = payloads.map(() => net.connect(portOf(server), HOST));
      await Promise.all(clients.map((c) => new Promise((resolve) => c.once('connect', resolve))));
      await run(loop, function* () {
        while (made < conns) yield* sleep(1);
      });
      clients.forEach((c, i) => c.end(payloads[i]));
      await new Promise((resolve) => setTimeout(resolve, 50)); // the loop is stopped meanwhile
      await run(loop, function* () {
        while (lost < conns) yield* sleep(1);
      });
      server.close();
      await loop.runUntilComplete(server.waitClosed());
      payloads.forEach((p, i) => expectReceived(digest(Buffer.concat(received.get(i) ?? [])), [p]));
    }));

  it('what is written to a connection lost by a failed write never reaches the next connection', () =>
    withLoop(kind, async (loop) => {
      // The native loop closed such a stream in C++ while JS ran, and the
      // close callback freed its id before JS heard: the next connection
      // accepted got the same id, and writes to the lost transport (from a
      // Node callback, before the loop's next delivery) went to it.
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_l, ctx) => contexts.push(ctx));
      const HOSTILE = 'meant for the first client only';
      const results: { got: string; threw: unknown[]; lost: (Error | null)[] }[] = [];
      for (let round = 0; round < 5; round++) {
        let c1: net.Socket | null = null;
        let c2: net.Socket | null = null;
        let got = '';
        const threw: unknown[] = [];
        const lost: (Error | null)[] = [];
        let lostTransport: Transport | null = null;
        const server = await loop.runUntilComplete(
          loop.createServer(
            () => {
              let transport: Transport | null = null;
              return {
                connectionMade: (t: Transport) => void (transport = t),
                dataReceived: (d: Buffer) => {
                  if (lostTransport !== null || d.toString() !== 'x') return;
                  lostTransport = transport;
                  // The peer resets, then a reply too big for the write batch
                  // fails at once; a second client connects meanwhile.
                  c1!.resetAndDestroy();
                  transport!.write(Buffer.alloc(1024 * 1024));
                  c2 = net.connect(portOf(server), HOST);
                  c2.on('error', () => {});
                  c2.on('data', (b) => (got += b.toString()));
                  c2.on('connect', () => {
                    // A Node callback: the loop has not delivered the news yet.
                    for (const call of [
                      () => lostTransport!.write(HOSTILE),
                      () => lostTransport!.pauseReading(),
                      () => lostTransport!.resumeReading(),
                      () => lostTransport!.write(Buffer.alloc(512 * 1024, 'z')),
                      () => lostTransport!.close(),
                    ]) {
                      try {
                        call();
                      } catch (e) {
                        threw.push(e);
                      }
                    }
                  });
                },
                connectionLost: (err: Error | null) => {
                  if (transport === lostTransport) lost.push(err);
                },
              };
            },
            HOST,
            0,
          ),
        );
        c1 = net.connect(portOf(server), HOST);
        c1.on('error', () => {});
        await new Promise((resolve) => c1!.once('connect', resolve));
        c1.write('x');
        await run(loop, function* () {
          while (lost.length === 0 || c2 === null) yield* sleep(1);
          yield* sleep(50); // time for stray bytes to reach the second client
        });
        results.push({ got, threw, lost });
        c2!.destroy();
        server.close();
        await loop.runUntilComplete(server.waitClosed());
      }
      for (const r of results) {
        expect(r.got).toBe('');
        expect(r.threw).toEqual([]);
        expect(r.lost.length).toBe(1);
        expect(r.lost[0]).toBeInstanceOf(Error);
      }
      expect(contexts.map((c) => c.message)).toEqual([]);
    }));

  it('abort() right after write() still sends what the kernel takes (asyncio writes at once)', () =>
    withLoop(kind, async (loop) => {
      // The native loop dropped writes still in its batch.
      let got = '';
      let peerClosed!: () => void;
      const closed = new Promise<void>((resolve) => (peerClosed = resolve));
      const srv = net.createServer((s) => {
        s.on('data', (d) => (got += d));
        s.on('error', () => {});
        s.on('close', peerClosed);
      });
      await new Promise<void>((resolve) => srv.listen(0, HOST, resolve));
      const [t] = await loop.runUntilComplete(loop.createConnection(() => ({}), HOST, (srv.address() as net.AddressInfo).port));
      await run(loop, function* () {
        t.write('last words');
        t.abort();
        yield* sleep(1);
      });
      await closed;
      srv.close();
      expect(got).toBe('last words');
    }));

  it('a BufferedProtocol whose reply fails on a reset peer loses the connection quietly', () =>
    withLoop(kind, async (loop) => {
      // The reply is too big for the native loop's write batch, so it is
      // written at once and fails at once (the peer sent a reset): the
      // native loop closed the stream in C++ during bufferUpdated, and
      // arming the buffer for the next read then threw an internal error
      // into the exception handler.
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_l, ctx) => contexts.push(ctx));
      function* main(): Coroutine<[number, string]> {
        const buf = new Uint8Array(4096);
        let received = 0;
        const lost = loop.createFuture<Error | null>();
        const proto: BufferedProtocol = {
          getBuffer: () => buf,
          bufferUpdated: (n) => {
            received += n;
            transport!.write(Buffer.alloc(1024 * 1024, 1));
          },
          connectionLost: (err) => lost.setResult(err),
        };
        let transport: Transport | null = null;
        const server = yield* fromPromise(
          loop.createServer(() => ({ ...proto, connectionMade: (t: Transport) => void (transport = t) }), HOST, 0),
        );
        const client = net.connect(portOf(server), HOST);
        yield* fromPromise(new Promise((resolve) => client.once('connect', resolve)));
        client.on('error', () => {});
        // The byte and the reset reach the server's socket before it reads.
        client.write('x', () => client.resetAndDestroy());
        const err = yield* lost;
        server.close();
        yield* server.waitClosed();
        return [received, err === null ? 'null' : (err as NodeJS.ErrnoException).code ?? err.message];
      }
      const [received, code] = await run(loop, main);
      expect(received).toBe(1);
      expect(['ECONNRESET', 'EPIPE']).toContain(code);
      expect(contexts.map((c) => c.message)).toEqual([]);
    }));

  it('switching from a BufferedProtocol to a Protocol mid-stream loses no byte', () =>
    withLoop(kind, async (loop) => {
      const payload = randomBytes(200 * 1024 + 3);
      function* main(): Coroutine<[string, number]> {
        const parts: Buffer[] = [];
        const done = loop.createFuture<void>();
        const plain: Protocol = {
          dataReceived: (d) => parts.push(Buffer.from(d)),
          connectionLost: () => done.setResult(),
        };
        let seen = 0;
        let transport!: Transport;
        const buf = new Uint8Array(4096);
        const buffered: BufferedProtocol = {
          connectionMade: (t) => (transport = t as Transport),
          getBuffer: () => buf,
          bufferUpdated: (n) => {
            parts.push(Buffer.from(buf.subarray(0, n)));
            seen += n;
            if (seen >= 50 * 1024) transport.setProtocol(plain); // later bytes go to dataReceived
          },
          connectionLost: () => done.setResult(),
        };
        yield* sendToServer(loop, buffered, payload, done);
        return digest(Buffer.concat(parts));
      }
      expectReceived(await run(loop, main), [payload]);
    }));

  it('a BufferedProtocol handing out a different buffer (or length) each time gets every byte in the right one', () =>
    withLoop(kind, async (loop) => {
      const payload = randomBytes(200 * 1024 + 5);
      function* main(): Coroutine<[string, number]> {
        const parts: Buffer[] = [];
        const done = loop.createFuture<void>();
        // Two buffers in turn, each sometimes whole and sometimes a shorter
        // view of itself: the transport may reuse nothing it was not given.
        const bufs = [new Uint8Array(3000), new Uint8Array(5000)];
        let calls = 0;
        let current = bufs[0]!;
        const proto: BufferedProtocol = {
          getBuffer: () => {
            const b = bufs[calls % 2]!;
            current = calls % 3 === 0 ? b.subarray(0, 1000 + (calls % 7) * 100) : b;
            calls++;
            return current;
          },
          bufferUpdated: (n) => {
            expect(n).toBeLessThanOrEqual(current.length);
            parts.push(Buffer.from(current.subarray(0, n)));
            current.fill(0); // stale bytes would show in the digest
          },
          connectionLost: () => done.setResult(),
        };
        yield* sendToServer(loop, proto, payload, done);
        return digest(Buffer.concat(parts));
      }
      expectReceived(await run(loop, main), [payload]);
    }));

  it('switching between two BufferedProtocols mid-stream loses no byte and fills the new one', () =>
    withLoop(kind, async (loop) => {
      const payload = randomBytes(300 * 1024 + 9);
      function* main(): Coroutine<[[string, number], number]> {
        const parts: Buffer[] = [];
        const done = loop.createFuture<void>();
        let transport!: Transport;
        let second = 0; // bytes the second protocol got through its own buffer
        const bufB = new Uint8Array(2048);
        const protoB: BufferedProtocol = {
          getBuffer: () => bufB,
          bufferUpdated: (n) => {
            parts.push(Buffer.from(bufB.subarray(0, n)));
            second += n;
          },
          connectionLost: () => done.setResult(),
        };
        let seen = 0;
        const bufA = new Uint8Array(4096);
        const protoA: BufferedProtocol = {
          connectionMade: (t) => (transport = t as Transport),
          getBuffer: () => bufA,
          bufferUpdated: (n) => {
            parts.push(Buffer.from(bufA.subarray(0, n)));
            seen += n;
            // From a later callback: a read may sit in bufA by then, undelivered.
            if (seen >= 60 * 1024 && transport.getProtocol() === protoA) loop.callSoon(() => transport.setProtocol(protoB));
          },
          connectionLost: () => done.setResult(),
        };
        yield* sendToServer(loop, protoA, payload, done);
        return [digest(Buffer.concat(parts)), second];
      }
      const [received, second] = await run(loop, main);
      expectReceived(received, [payload]);
      expect(second).toBeGreaterThan(0);
    }));

  it('a BufferedProtocol switched by another connection\'s data, reads in flight, loses no byte', () =>
    withLoop(kind, async (loop) => {
      // Server connection 1 alternates between two BufferedProtocols each
      // time connection 2 sends a byte. Both clients write in the same
      // iteration, so connection 2's data often comes first in a batch that
      // also holds a read already landed in connection 1's old buffer.
      const rounds = 150;
      const chunks = Array.from({ length: rounds }, () => randomBytes(3000));
      function* main(): Coroutine<[[string, number], number]> {
        const parts: Buffer[] = [];
        const done = loop.createFuture<void>();
        let first!: Transport;
        const buffered = (size: number): BufferedProtocol => {
          const buf = new Uint8Array(size);
          return {
            connectionMade: (t) => (first = t as Transport),
            getBuffer: () => buf,
            bufferUpdated: (n) => parts.push(Buffer.from(buf.subarray(0, n))),
            connectionLost: () => done.setResult(),
          };
        };
        const [a, b] = [buffered(4096), buffered(6000)];
        let switches = 0;
        const switcher: Protocol = {
          dataReceived: () => {
            first.setProtocol(first.getProtocol() === a ? b : a);
            switches++;
          },
        };
        let accepted = 0;
        const server = yield* fromPromise(
          loop.createServer(() => (accepted++ === 0 ? a : switcher), HOST, 0),
        );
        const [c1] = yield* fromPromise(loop.createConnection(() => ({}), HOST, portOf(server)));
        while (accepted < 1) yield* sleep(1);
        const [c2] = yield* fromPromise(loop.createConnection(() => ({}), HOST, portOf(server)));
        while (accepted < 2) yield* sleep(1);
        for (const [i, chunk] of chunks.entries()) {
          // Either order: connection 2's byte first puts its read ahead of
          // connection 1's in the server's batch.
          if (i % 2 === 0) c2.write('x');
          c1.write(chunk);
          if (i % 2 === 1) c2.write('x');
          yield* sleep(1); // a timer: the server's reads come in between
        }
        c1.close();
        yield* done;
        c2.close();
        server.close();
        yield* server.waitClosed();
        return [digest(Buffer.concat(parts)), switches];
      }
      const [received, switches] = await run(loop, main);
      expectReceived(received, chunks);
      expect(switches).toBeGreaterThan(0);
    }));

  // The native loop's inbound slab and the default loop's copy slab are both marked untransferable.
  it("a chunk's ArrayBuffer cannot be transferred away from the transport, and reading goes on intact", () =>
    withLoop(kind, async (loop) => {
      const { MessageChannel } = await import('node:worker_threads');
      const channel = new MessageChannel();
      const payload = randomBytes(1 << 20);
      let detached = false;
      let transferError: unknown = null;
      function* main(): Coroutine<[string, number]> {
        const parts: Buffer[] = [];
        const done = loop.createFuture<void>();
        const proto: Protocol = {
          dataReceived: (d) => {
            if (parts.length === 0) {
              const before = d.buffer.byteLength;
              try {
                // Node 20 leaves an untransferable buffer out of the transfer
                // (a copy goes); newer Node throws DataCloneError.
                channel.port1.postMessage(d, [d.buffer as ArrayBuffer]);
              } catch (e) {
                transferError = e;
              }
              detached = d.buffer.byteLength !== before;
            }
            parts.push(d); // kept, not copied
          },
          connectionLost: () => done.setResult(),
        };
        yield* sendToServer(loop, proto, payload, done);
        return digest(Buffer.concat(parts));
      }
      const received = await run(loop, main);
      channel.port1.close();
      expect(detached).toBe(false);
      if (transferError !== null) expect((transferError as Error).name).toBe('DataCloneError');
      expectReceived(received, [payload]);
    }));

  it('a throwing protocol callback goes to the exception handler and aborts only its transport', () =>
    withLoop(kind, async (loop) => {
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_l, ctx) => contexts.push(ctx));
      const boom = new Error('boom');
      const lostWith: unknown[] = [];
      function* main(): Coroutine<unknown> {
        const server = yield* fromPromise(
          loop.createServer(() => {
            const p: Protocol & { t?: Transport } = {
              connectionMade(t) {
                p.t = t;
              },
              dataReceived(d) {
                if (d.toString() === 'boom') throw boom;
                p.t!.write(d);
              },
              connectionLost(err) {
                lostWith.push(err);
              },
            };
            return p;
          }, HOST, 0),
        );
        const port = portOf(server);
        const [ta, a] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        const [tb, b] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        ta.write('boom');
        yield* a.lost; // the server aborted this connection
        tb.write('still here');
        while (b.received().length < 10) yield* sleep(1);
        expect(tb.isClosing()).toBe(false);
        tb.close();
        yield* b.lost;
        server.close();
        yield* server.waitClosed();
        return b.received().toString();
      }
      expect(await run(loop, main)).toBe('still here');
      // asyncio's _fatal_error: the aborted transport's connectionLost gets the error.
      expect(lostWith).toEqual([boom, null]);
      expect(contexts).toHaveLength(1);
      expect(contexts[0]!.message).toMatch(/dataReceived/);
      expect(contexts[0]!.exception).toBe(boom);
      expect(contexts[0]!.transport).toBeDefined();
      expect(contexts[0]!.protocol).toBeDefined();
    }));

  it('fails with ECONNREFUSED, EADDRINUSE and ENOTFOUND codes', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        const server = yield* fromPromise(loop.createServer(() => ({}), HOST, 0));
        const port = portOf(server);
        const codes: unknown[] = [];
        try {
          yield* fromPromise(loop.createServer(() => ({}), HOST, port));
        } catch (e) {
          codes.push((e as NodeJS.ErrnoException).code);
        }
        server.close();
        yield* server.waitClosed();
        try {
          yield* fromPromise(loop.createConnection(() => ({}), HOST, port));
        } catch (e) {
          codes.push((e as NodeJS.ErrnoException).code);
        }
        try {
          yield* fromPromise(loop.createConnection(() => ({}), 'no-such-host.invalid', 80));
        } catch (e) {
          codes.push((e as NodeJS.ErrnoException).code);
        }
        return codes;
      }
      expect(await run(loop, main)).toEqual(['EADDRINUSE', 'ECONNREFUSED', 'ENOTFOUND']);
    }));

  it('Server.waitClosed resolves after close AND the connections ended', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const serverSide = loop.createFuture<Transport>();
        const server = yield* fromPromise(loop.createServer(() => ({ connectionMade: (t: Transport) => serverSide.setResult(t) }), HOST, 0));
        expect(server.isServing()).toBe(true);
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server)));
        yield* serverSide;
        const early = server.waitClosed();
        server.close();
        expect(server.isServing()).toBe(false);
        const closed = server.waitClosed();
        yield* sleep(20);
        expect([early.done(), closed.done()]).toEqual([false, false]); // a connection is still up
        t.close();
        yield* client.lost;
        yield* closed;
        yield* early;
        yield* server.waitClosed(); // done at once now
        return 'ok';
      }
      expect(await run(loop, main)).toBe('ok');
    }));

  it('closeClients/abortClients end the connections; serveForever is cancelled by close()', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const server = yield* fromPromise(loop.createServer(() => ({}), HOST, 0));
        const port = portOf(server);
        const [, a] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        const [, b] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        while (server._transports.size < 2) yield* sleep(1);
        server.closeClients();
        yield* a.lost;
        yield* b.lost;
        const [, c] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        while (server._transports.size < 1) yield* sleep(1);
        server.abortClients();
        yield* c.lost;
        const forever = server.serveForever();
        expect(() => server.serveForever()).toThrow(/already/);
        loop.callLater(5, () => server.close());
        let cancelled = false;
        try {
          yield* forever;
        } catch (e) {
          cancelled = (e as Error).name === 'CancelledError';
        }
        yield* server.waitClosed();
        return [cancelled, server.isServing()];
      }
      expect(await run(loop, main)).toEqual([true, false]);
    }));

  it('a cancelled serveForever closes the server at once and ends once its connections have (asyncio 3.12+)', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const log: string[] = [];
        const server = yield* fromPromise(loop.createServer(() => ({}), HOST, 0));
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server)));
        while (server._transports.size < 1) yield* sleep(1);
        const serving = loop.createTask(function* () {
          try {
            yield* server.serveForever();
          } catch (e) {
            log.push(`serveForever: ${(e as Error).name}`);
            throw e;
          }
        });
        yield* sleep(1);
        serving.cancel();
        yield* sleep(0);
        log.push(`serving after cancel: ${server.isServing()}`);
        yield* sleep(20);
        log.push(`task done while a client is connected: ${serving.done()}`);
        t.close();
        yield* client.lost;
        try {
          yield* serving;
        } catch (e) {
          log.push(`task ${(e as Error).name}`);
        }
        // A second cancel stops the wait for connections.
        const server2 = yield* fromPromise(loop.createServer(() => ({}), HOST, 0));
        const [t2] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, portOf(server2)));
        while (server2._transports.size < 1) yield* sleep(1);
        const forever = server2.serveForever();
        forever.cancel();
        log.push(`second server closed at once: ${!server2.isServing()}, future done: ${forever.done()}`);
        forever.cancel();
        log.push(`after a second cancel: ${forever.cancelled()}`);
        t2.close();
        yield* server2.waitClosed();
        return log;
      }
      expect(await run(loop, main)).toEqual([
        'serving after cancel: false',
        'task done while a client is connected: false',
        'serveForever: CancelledError',
        'task CancelledError',
        'second server closed at once: true, future done: false',
        'after a second cancel: true',
      ]);
    }));

  it('reports peername/sockname/socket and lets the protocol be switched', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const server = yield* fromPromise(loop.createServer(() => new Recorder({ echo: true }), HOST, 0));
        const port = portOf(server);
        expect(server.addresses()).toEqual([{ address: HOST, port, family: 'IPv4' }]);
        const [t, first] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        expect(t.getExtraInfo('peername')).toEqual({ address: HOST, port, family: 'IPv4' });
        const sock = t.getExtraInfo('sockname') as SockAddr;
        expect(sock.address).toBe(HOST);
        expect(sock.port).toBeGreaterThan(0);
        // The default loop's transports wrap a net.Socket; the native loop's
        // give asyncio's TransportSocket minimum, fileno().
        const socket = t.getExtraInfo('socket') as net.Socket | { fileno(): number };
        if (kind.name === 'default') expect(socket).toBeInstanceOf(net.Socket);
        else expect((socket as { fileno(): number }).fileno()).toBeGreaterThan(2);
        expect(t.getExtraInfo('nothing', 'dflt')).toBe('dflt');
        expect(t.getProtocol()).toBe(first);
        const second = new Recorder();
        t.setProtocol(second);
        t.write('x');
        t.writeEof();
        yield* second.lost;
        server.close();
        yield* server.waitClosed();
        return [first.data.length, second.received().toString()];
      }
      expect(await run(loop, main)).toEqual([0, 'x']);
    }));

  it('close() flushes what is buffered first; abort() drops it and still reports connectionLost(null)', () =>
    withLoop(kind, async (loop) => {
      const payload = randomBytes(4 * 1024 * 1024);
      function* main(): Coroutine<unknown> {
        const protos: Recorder[] = [];
        const server = yield* fromPromise(
          loop.createServer(() => {
            const p = new Recorder();
            protos.push(p);
            return p;
          }, HOST, 0),
        );
        const port = portOf(server);
        const [t1, c1] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        t1.writelines([payload.subarray(0, 1000), payload.subarray(1000)]);
        t1.close();
        t1.write('dropped after close'); // asyncio drops these too
        expect(t1.isClosing()).toBe(true);
        expect(yield* c1.lost).toBeNull();
        while (protos.length < 1) yield* sleep(1);
        yield* protos[0]!.lost;
        const got = protos[0]!.received();
        const [t2, c2] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        t2.write(payload);
        t2.abort();
        t2.abort(); // idempotent
        expect(yield* c2.lost).toBeNull();
        expect(c2.events).toEqual(['connectionMade', 'connectionLost']);
        server.close();
        server.abortClients();
        yield* server.waitClosed();
        return [got.length, sha(got) === sha(payload)];
      }
      expect(await run(loop, main)).toEqual([payload.length, true]);
    }));

  it('pauseReading holds data back until resumeReading, in order', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const accepted = loop.createFuture<Transport>();
        const serverProto = new Recorder();
        const server = yield* fromPromise(
          loop.createServer(() => {
            const p: Protocol = {
              connectionMade: (t) => {
                serverProto.connectionMade(t);
                accepted.setResult(t);
              },
              dataReceived: (d) => serverProto.dataReceived(d),
              eofReceived: () => serverProto.eofReceived(),
              connectionLost: (e) => serverProto.connectionLost(e),
            };
            return p;
          }, HOST, 0),
        );
        const [t] = yield* fromPromise(loop.createConnection(() => ({}), HOST, portOf(server)));
        const peer = yield* accepted;
        t.write('first ');
        while (serverProto.received().length < 6) yield* sleep(1);
        peer.pauseReading();
        expect(peer.isReading()).toBe(false);
        t.write('second');
        t.writeEof();
        yield* sleep(30);
        const whilePaused = serverProto.received().toString();
        const eventsPaused = [...serverProto.events];
        peer.resumeReading();
        yield* serverProto.lost;
        server.close();
        yield* server.waitClosed();
        return [whilePaused, eventsPaused, serverProto.received().toString(), serverProto.events];
      }
      expect(await run(loop, main)).toEqual([
        'first ',
        ['connectionMade', 'dataReceived'],
        'first second',
        ['connectionMade', 'dataReceived', 'eofReceived', 'connectionLost'],
      ]);
    }));

  it('a failing protocol factory is reported and its connection closed; a failing connectionMade is reported and its connection goes on (asyncio)', () =>
    withLoop(kind, async (loop) => {
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_l, ctx) => contexts.push(ctx));
      let n = 0;
      function* main(): Coroutine<unknown> {
        const server = yield* fromPromise(
          loop.createServer(() => {
            n++;
            if (n === 1) throw new Error('factory failed');
            if (n === 2) return { connectionMade: () => { throw new Error('made failed'); } };
            return new Recorder({ echo: true });
          }, HOST, 0),
        );
        const port = portOf(server);
        const [, a] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        yield* a.lost;
        const [tb, b] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        yield* sleep(20);
        expect(b.events).toEqual(['connectionMade']); // still open
        tb.close();
        yield* b.lost;
        // A client whose connectionMade throws: reported, and createConnection still succeeds.
        const [tc2] = yield* fromPromise(loop.createConnection(() => ({ connectionMade: () => { throw new Error('client made failed'); } }), HOST, port));
        expect(tc2.isClosing()).toBe(false);
        tc2.close();
        const [t, c] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        t.write('ok');
        t.writeEof();
        yield* c.lost;
        server.close();
        yield* server.waitClosed();
        let clientError = '';
        try {
          yield* fromPromise(loop.createConnection(() => { throw new Error('client factory'); }, HOST, 1));
        } catch (e) {
          clientError = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        }
        return [c.received().toString(), clientError];
      }
      expect(await run(loop, main)).toEqual(['ok', 'ECONNREFUSED']);
      expect(contexts.map((c) => (c.exception as Error).message)).toEqual(['factory failed', 'made failed', 'client made failed']);
      expect(contexts[1]!.message).toMatch(/connectionMade/);
      expect(contexts[2]!.message).toMatch(/connectionMade/);
    }));

  // SO_REUSEPORT: the native loop sets it itself; the default loop needs Node >= 22.12.
  it.skipIf(kind.name === 'default' && !nodeSupportsReusePort())('reusePort lets two servers share one port', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const a = yield* fromPromise(loop.createServer(() => new Recorder({ echo: true }), HOST, 0, { reusePort: true }));
        const port = portOf(a);
        const b = yield* fromPromise(loop.createServer(() => new Recorder({ echo: true }), HOST, port, { reusePort: true }));
        expect(portOf(b)).toBe(port);
        // Without the option, the port is taken.
        let code: unknown;
        try {
          yield* fromPromise(loop.createServer(() => ({}), HOST, port));
        } catch (e) {
          code = (e as NodeJS.ErrnoException).code;
        }
        const [t, client] = yield* fromPromise(loop.createConnection(() => new Recorder(), HOST, port));
        t.write('shared');
        t.writeEof();
        yield* client.lost;
        a.close();
        b.close();
        yield* a.waitClosed();
        yield* b.waitClosed();
        return [code, client.received().toString()];
      }
      expect(await run(loop, main)).toEqual(['EADDRINUSE', 'shared']);
    }));

  it('binds a localAddr given by name, as asyncio resolves it', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const server = yield* fromPromise(loop.createServer(() => ({}), HOST, 0));
        const [t] = yield* fromPromise(loop.createConnection(() => ({}), HOST, portOf(server), { localAddr: ['localhost', 0] }));
        const sockname = t.getExtraInfo('sockname') as SockAddr;
        t.close();
        server.close();
        yield* server.waitClosed();
        return sockname.address;
      }
      expect(await run(loop, main)).toBe('127.0.0.1');
    }));

  it('rejects bad arguments synchronously', () =>
    withLoop(kind, async (loop) => {
      const f = () => ({});
      expect(() => loop.createConnection('nope' as never, HOST, 80)).toThrow(TypeError);
      expect(() => loop.createConnection(f, 5 as never, 80)).toThrow(TypeError);
      expect(() => loop.createConnection(f, HOST, 70000)).toThrow(RangeError);
      expect(() => loop.createConnection(f, HOST, 1.5)).toThrow(RangeError);
      expect(() => loop.createConnection(f, HOST, '80' as never)).toThrow(TypeError);
      expect(() => loop.createServer(null as never, HOST, 0)).toThrow(TypeError);
      expect(() => loop.createServer(f, HOST, -1)).toThrow(RangeError);
      expect(() => loop.createServer(f, {} as never, 0)).toThrow(TypeError);
      expect(() => loop.createServer(f, HOST, 0, { backlog: -1 })).toThrow(RangeError);
      expect(() => loop.createServer(f, HOST, 0, 'x' as never)).toThrow(TypeError);
      expect(() => loop.createUnixConnection(f, 7 as never)).toThrow(TypeError);
      expect(() => loop.createUnixServer(f, '')).toThrow(TypeError);
      expect(() => loop.createServer(f, HOST, 0, { reusePort: 'yes' as never })).toThrow(TypeError);
      if (kind.name === 'default' && !nodeSupportsReusePort()) {
        expect(() => loop.createServer(f, HOST, 0, { reusePort: true })).toThrow(/reusePort needs Node/);
      }
      function* main(): Coroutine<void> {
        // A backlog past what listen() takes is capped, as the kernel caps it at somaxconn.
        const big = yield* fromPromise(loop.createServer(f, HOST, 0, { backlog: 2 ** 40 }));
        big.close();
        const server = yield* fromPromise(loop.createServer(f, HOST, 0));
        const [t] = yield* fromPromise(loop.createConnection(f, HOST, portOf(server)));
        expect(() => t.setWriteBufferLimits({ high: 10, low: 20 })).toThrow(RangeError);
        expect(() => t.setWriteBufferLimits({ high: -1 })).toThrow(RangeError);
        expect(() => t.setWriteBufferLimits({ high: 'x' as never })).toThrow(TypeError);
        t.setWriteBufferLimits({ high: 1000 });
        expect(t.getWriteBufferLimits()).toEqual({ high: 1000, low: 250 });
        t.setWriteBufferLimits({ low: 100 });
        expect(t.getWriteBufferLimits()).toEqual({ high: 400, low: 100 });
        expect(() => t.write(123 as never)).toThrow(TypeError);
        t.abort();
        server.close();
        server.abortClients();
        yield* server.waitClosed();
      }
      await run(loop, main);
    }));
});

describe.each(LOOPS)('$name loop: Unix-socket transports', (kind) => {
  it('serves and connects over a Unix socket, replacing a stale socket file', () =>
    withLoop(kind, async (loop) => {
      const p = unixPath();
      function* main(): Coroutine<unknown> {
        // A stale socket file, as a crashed server leaves it (bound, never unlinked).
        execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', p]);
        expect(fs.statSync(p).isSocket()).toBe(true);
        const server = yield* fromPromise(loop.createUnixServer(() => new Recorder({ echo: true, keepOpenOnEof: true }), p));
        expect(server.addresses()).toEqual([p]);
        const [t, client] = yield* fromPromise(loop.createUnixConnection(() => new Recorder(), p));
        expect(t.getExtraInfo('peername')).toBe(p);
        expect(t.getExtraInfo('sockname')).toBe('');
        t.write('over unix');
        t.writeEof();
        yield* client.lost;
        server.close();
        yield* server.waitClosed();
        expect(fs.existsSync(p)).toBe(false); // libuv unlinks the socket file on close
        return [client.events, client.received().toString()];
      }
      expect(await run(loop, main)).toEqual([
        ['connectionMade', 'dataReceived', 'eofReceived', 'connectionLost'],
        'over unix',
      ]);
    }));

  it.runIf(process.platform === 'linux')("serves and connects on a name in Linux's abstract namespace (a leading NUL byte)", () =>
    withLoop(kind, async (loop) => {
      const name = `\0aioloop-abstract-${process.pid}-${kind.name}`;
      function* main(): Coroutine<unknown> {
        const server = yield* fromPromise(loop.createUnixServer(() => new Recorder({ echo: true, keepOpenOnEof: true }), name));
        expect(server.addresses()).toEqual([name]);
        const [t, client] = yield* fromPromise(loop.createUnixConnection(() => new Recorder(), name));
        expect(t.getExtraInfo('peername')).toBe(name);
        t.write('abstract');
        t.writeEof();
        yield* client.lost;
        server.close();
        yield* server.waitClosed();
        return client.received().toString();
      }
      expect(await run(loop, main)).toBe('abstract');
    }));

  it('refuses a path longer than a socket address holds, and NUL bytes past the first, instead of truncating it', () =>
    withLoop(kind, async (loop) => {
      const f = () => ({});
      const long = path.join(os.tmpdir(), 'x'.repeat(120));
      expect(() => loop.createUnixServer(f, long)).toThrow(RangeError);
      expect(() => loop.createUnixConnection(f, long)).toThrow(RangeError);
      expect(() => loop.createUnixServer(f, '/tmp/a\0b')).toThrow(TypeError);
      // 107 bytes is still a path (refused by the file system here, not by us).
      const longest = '/nonexistent/' + 'y'.repeat(107 - '/nonexistent/'.length);
      const e = await run(loop, function* () {
        return yield* fromPromise(loop.createUnixConnection(f, longest).then(() => null, (err: NodeJS.ErrnoException) => err.code));
      });
      expect(e).toBe('ENOENT');
    }));
});
