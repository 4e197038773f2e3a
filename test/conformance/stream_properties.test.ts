/**
 * Property tests of TCP transports over real sockets, on every loop: for
 * random write schedules (chunk sizes from 0 to 128 KiB, writelines, yields
 * between writes, waiting for resumeWriting), random write-buffer limits on
 * both sides, a server that reads through a Protocol or a BufferedProtocol
 * (7 bytes to 64 KiB, a different size each time, or the free tail of
 * one big buffer) and pauses its reading at
 * random points, switching (setProtocol) between such readers at random
 * byte counts, over TCP or a Unix socket, the bytes echoed back are exactly
 * the bytes sent, in order, and every protocol sees its events once, in
 * order.
 *
 * fast-check prints the seed and the shrunk schedule of a failure; replay
 * one with `fc.assert(..., { seed, path })` in this file.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fromPromise,
  getRunningLoop,
  sleep,
  type BufferedProtocol,
  type Coroutine,
  type EventLoop,
  type Protocol,
  type SockAddr,
  type Transport,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

const HOST = '127.0.0.1';
let unixCounter = 0;
const unixPath = () => join(tmpdir(), `aioloop-sp-${process.pid}-${++unixCounter}.sock`);
const RUNS = 60;

/** Deterministic bytes: chunk `i` of a run is distinguishable from every other chunk. */
function chunkBytes(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let k = 0; k < size; k++) b[k] = (i * 131 + k * 7 + (k >> 8)) & 0xff;
  return b;
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** One client write: bytes, or several through writelines; then maybe a yield, or a wait for resumeWriting. */
const writeStep = fc.record({
  sizes: fc.array(fc.oneof({ arbitrary: fc.integer({ min: 0, max: 2048 }), weight: 3 }, { arbitrary: fc.integer({ min: 2049, max: 128 * 1024 }), weight: 1 }), {
    minLength: 1,
    maxLength: 3,
  }),
  then: fc.constantFrom('nothing', 'nothing', 'yield', 'drain'),
});
const limits = fc.option(
  fc.tuple(fc.integer({ min: 0, max: 256 * 1024 }), fc.integer({ min: 0, max: 256 * 1024 })).map(([a, b]) => ({ high: Math.max(a, b), low: Math.min(a, b) })),
);
const scenario = fc.record({
  writes: fc.array(writeStep, { minLength: 1, maxLength: 10 }),
  clientLimits: limits,
  serverLimits: limits,
  // How the server reads: a Protocol, or a BufferedProtocol with this buffer
  // size (0: a new size each time, -1: the free tail of one big buffer);
  // after each of `switchAt` bytes it switches (setProtocol) to the next.
  readers: fc.array(fc.oneof(fc.constant<'protocol'>('protocol'), fc.constantFrom(7, 512, 4096, 65536, 0, -1)), { minLength: 1, maxLength: 3 }),
  switchAt: fc.array(fc.integer({ min: 0, max: 400 * 1024 }), { minLength: 2, maxLength: 2 }),
  unix: fc.boolean(),
  // The server pauses reading after each of these byte counts, for a moment.
  pauses: fc.array(fc.integer({ min: 0, max: 400 * 1024 }), { maxLength: 3 }),
  end: fc.constantFrom('writeEof', 'close'),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/**
 * The server side: echoes what it reads (when the client half-closes; a
 * client that close()s gets no echo, since unread bytes at close make its
 * kernel reset the connection), pausing its reading at the scenario's byte
 * counts; on EOF, half-closes after its echo.
 */
class EchoServer {
  transport!: Transport;
  events: string[] = [];
  received = 0;
  private readonly hash = createHash('sha256');
  private pauses: number[];
  private readonly loop = getRunningLoop();
  readonly lost = this.loop.createFuture<Error | null>();
  /** Which of the scenario's readers reads now, and the byte counts that switch to the next. */
  private reader = 0;
  private readonly switchAt: number[];

  constructor(private readonly s: Scenario) {
    this.pauses = [...s.pauses].sort((a, b) => a - b);
    this.switchAt = [...s.switchAt].sort((a, b) => a - b);
  }

  connectionMade(t: Transport): void {
    this.transport = t;
    this.events.push('made');
    if (this.s.serverLimits) t.setWriteBufferLimits(this.s.serverLimits);
  }

  got(data: Uint8Array): void {
    if (this.events.at(-1) !== 'data') this.events.push('data');
    this.received += data.length;
    this.hash.update(data);
    if (this.s.end === 'writeEof') this.transport.write(data); // copies: the caller's buffer may be reused at once
    while (this.reader + 1 < this.s.readers.length && this.received >= this.switchAt[this.reader]!) {
      this.reader++;
      this.transport.setProtocol(this.protocol(this.s.readers[this.reader]!));
    }
    while (this.pauses.length > 0 && this.received >= this.pauses[0]!) {
      this.pauses.shift();
      this.transport.pauseReading();
      this.loop.callLater(1, () => {
        if (!this.transport.isClosing()) this.transport.resumeReading();
      });
    }
  }

  eofReceived(): boolean {
    this.events.push('eof');
    this.transport.writeEof(); // after the echo of everything read
    return true;
  }

  connectionLost(err: Error | null): void {
    this.events.push('lost');
    this.lost.setResult(err);
  }

  /** sha256 of every byte read. */
  digest(): string {
    return this.hash.digest('hex');
  }

  pauseWriting(): void {}
  resumeWriting(): void {}

  /** A Protocol or a BufferedProtocol view of this server, reading as `reader` says (see the scenario). */
  protocol(reader: Scenario['readers'][number]): Protocol | BufferedProtocol {
    const self = this;
    const common = {
      connectionMade: (t: Transport) => self.connectionMade(t),
      eofReceived: () => self.eofReceived(),
      connectionLost: (err: Error | null) => self.connectionLost(err),
      pauseWriting: () => self.pauseWriting(),
      resumeWriting: () => self.resumeWriting(),
    };
    if (reader === 'protocol') return { ...common, dataReceived: (d: Uint8Array) => self.got(d) };
    if (reader === -1) {
      // The free tail of one big buffer, as a framing reader hands out.
      const big = new Uint8Array(256 * 1024);
      let used = 0;
      return {
        ...common,
        getBuffer: () => big.subarray(used),
        bufferUpdated(nbytes: number): void {
          expect(nbytes).toBeGreaterThan(0);
          expect(used + nbytes).toBeLessThanOrEqual(big.length);
          const data = big.subarray(used, used + nbytes);
          used += nbytes;
          if (used > 128 * 1024) used = 0; // got() below has taken what it needs
          self.got(data);
        },
      };
    }
    let turn = 0;
    let buffer = new Uint8Array(0);
    return {
      ...common,
      getBuffer(sizeHint: number): Uint8Array {
        const size = reader === 0 ? 1 + ((turn++ * 7919) % 70_000) : reader;
        if (buffer.length !== size) buffer = new Uint8Array(size);
        expect(sizeHint).toBeGreaterThanOrEqual(-1);
        return buffer;
      },
      bufferUpdated(nbytes: number): void {
        expect(nbytes).toBeGreaterThan(0);
        expect(nbytes).toBeLessThanOrEqual(buffer.length);
        self.got(buffer.subarray(0, nbytes));
      },
    };
  }
}

/** The client side: keeps what comes back, and resolves `resumed` on resumeWriting. */
class EchoClient implements Protocol {
  transport!: Transport;
  events: string[] = [];
  chunks: Buffer[] = [];
  private readonly loop = getRunningLoop();
  readonly lost = this.loop.createFuture<Error | null>();
  paused = false;
  resumed = this.loop.createFuture<void>();

  connectionMade(t: Transport): void {
    this.transport = t;
    this.events.push('made');
  }
  dataReceived(d: Buffer): void {
    if (this.events.at(-1) !== 'data') this.events.push('data');
    this.chunks.push(Buffer.from(d));
  }
  eofReceived(): boolean {
    this.events.push('eof');
    return false; // the transport closes itself
  }
  connectionLost(err: Error | null): void {
    this.events.push('lost');
    this.lost.setResult(err);
  }
  pauseWriting(): void {
    expect(this.paused).toBe(false);
    this.paused = true;
  }
  resumeWriting(): void {
    expect(this.paused).toBe(true);
    this.paused = false;
    this.resumed.setResult();
    this.resumed = this.loop.createFuture<void>();
  }
}

function* echoRun(loop: EventLoop, s: Scenario): Coroutine<void> {
  const server = new EchoServer(s);
  const first = () => server.protocol(s.readers[0]!);
  const path = s.unix ? unixPath() : '';
  const listener = s.unix ? yield* fromPromise(loop.createUnixServer(first, path)) : yield* fromPromise(loop.createServer(first, HOST, 0));
  try {
    const [t, client] = s.unix
      ? yield* fromPromise(loop.createUnixConnection(() => new EchoClient(), path))
      : yield* fromPromise(loop.createConnection(() => new EchoClient(), HOST, (listener.addresses()[0] as SockAddr).port));
    if (s.clientLimits) t.setWriteBufferLimits(s.clientLimits);
    const sent: Buffer[] = [];
    let n = 0;
    for (const w of s.writes) {
      const bufs = w.sizes.map((size) => chunkBytes(n++, size));
      sent.push(...bufs);
      if (bufs.length === 1) t.write(bufs[0]!);
      else t.writelines(bufs);
      if (w.then === 'yield') yield* sleep(0);
      else if (w.then === 'drain' && client.paused) yield* client.resumed;
    }
    if (s.end === 'writeEof') t.writeEof();
    else t.close(); // flushes what is buffered first
    const clientErr = yield* client.lost;
    const serverErr = yield* server.lost;
    const want = Buffer.concat(sent);
    expect(server.received).toBe(want.length);
    expect(server.digest()).toBe(sha(want));
    expect(serverErr).toBeNull();
    expect(server.events).toEqual(want.length > 0 ? ['made', 'data', 'eof', 'lost'] : ['made', 'eof', 'lost']);
    if (s.end === 'writeEof') {
      // Half-closed: the whole echo comes back, then the server's EOF.
      const got = Buffer.concat(client.chunks);
      expect(got.length).toBe(want.length);
      expect(sha(got)).toBe(sha(want));
      expect(clientErr).toBeNull();
      expect(client.events).toEqual(want.length > 0 ? ['made', 'data', 'eof', 'lost'] : ['made', 'eof', 'lost']);
    } else {
      expect(client.chunks).toEqual([]);
      expect(clientErr).toBeNull();
      expect(client.events).toEqual(['made', 'lost']);
    }
  } finally {
    listener.close();
    yield* listener.waitClosed();
    if (path !== '') rmSync(path, { force: true });
  }
}

describe.each(LOOPS)('$name loop: TCP transport properties', (kind) => {
  it(`echoes exactly the bytes sent, in order, under ${RUNS} random write schedules, limits and read pauses`, () =>
    withLoop(kind, async (loop) => {
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          await loop.runUntilComplete(echoRun(loop, s));
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
    }), 60_000);
});
