/**
 * The native loop's stream boundary (native/stream.cc, tcp.cc, pipe.cc):
 * argument validation, closed loops, and what happens to open sockets when
 * a loop is closed. Behaviour both loops share (echo, flow control,
 * half-close, errors) is in test/conformance/transports.test.ts.
 */
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { NativeLoop, fromPromise, sleep, type Coroutine, type Server, type Transport } from '../../lib/index.js';
import { Worker } from 'node:worker_threads';
import { addonPath, loadAddon, type NativeAddon } from '../../lib/loops/native/addon.js';
import { DIST, runChild } from '../child.js';
import { closeCallbacksRan } from '../loops.js';

const addon = loadAddon() as NativeAddon;
const built = addon !== null;
const debug = built && addon.debugBuild;
const HOST = '127.0.0.1';

function noop(): void {}

describe.runIf(built)('native addon: stream boundary', () => {
  it('rejects bad arguments with TypeError or RangeError and changes nothing', () => {
    const l = new addon.Loop(noop);
    const any = l as any;
    try {
      const id = l.tcpListen(HOST, 0, 16, false, false);
      const [bytes, ops] = l.outbound();
      const records = new Int32Array(ops);
      const cases: [() => unknown, ErrorConstructor][] = [
        [() => any.tcpListen(), TypeError],
        [() => any.tcpListen(1, 0, 16, false, false), TypeError],
        [() => any.tcpListen('localhost', 0, 16, false, false), TypeError], // names are resolved in JS
        [() => any.tcpListen(HOST, 70000, 16, false, false), RangeError],
        [() => any.tcpListen(HOST, 1.5, 16, false, false), RangeError],
        [() => any.tcpListen(HOST, 0, -1, false, false), RangeError],
        [() => any.tcpListen(HOST, 0, 16, 'yes', false), TypeError],
        [() => any.tcpConnect(HOST, '80', null, 0), TypeError],
        [() => any.tcpConnect('nope', 80, null, 0), TypeError],
        [() => any.tcpConnect(HOST, 80, 'x', 0), TypeError],
        [() => any.tcpAddress('0', true), TypeError],
        [() => any.tcpAddress(9999, true), RangeError],
        [() => any.tcpAddress(-1, true), RangeError],
        [() => any.tcpAddress(0.5, true), RangeError],
        [() => any.readStart(12345), RangeError],
        [() => any.readStop({}), TypeError],
        [() => any.closeStream(id, 'no'), TypeError],
        [() => any.write(id, 'text'), TypeError],
        [() => any.write(id, new Uint8Array(1)), TypeError], // a listener
        [() => any.shutdown(id), TypeError], // a listener
        [() => any.outbound(1), TypeError],
        [() => any.flush(), TypeError],
        [() => any.flush('1'), TypeError],
        [() => any.flush(-1), RangeError],
        [() => any.flush(0.5), RangeError],
        [() => any.flush(NaN), RangeError],
        [() => any.flush(records.length / 3 + 1), RangeError], // more records than the batch holds
        [() => (records.set([id, bytes.byteLength - 2, 8]), any.flush(1)), RangeError], // past the bytes
        [() => (records.set([id, -1, 1]), any.flush(1)), RangeError],
        [() => (records.set([id, 0, 1, id, 0, -1]), any.flush(2)), RangeError], // a bad second record
        [() => any.pipeListen('', 16), TypeError],
        [() => any.pipeListen('a\0b', 16), TypeError],
        [() => any.pipeConnect(5), TypeError],
        [() => any.pipeOpen(-1, true), RangeError],
        [() => any.pipeOpen(0, 1), TypeError],
        [() => any.fileno('x'), TypeError],
        [() => any.setReadBuffer(id, 'x'), TypeError],
        [() => any.setReadBuffer(id, new Uint8Array(4)), TypeError], // a listener
        [() => any.rearmReadBuffer(), TypeError],
        [() => any.rearmReadBuffer('0'), TypeError],
        [() => any.rearmReadBuffer(9999), RangeError],
        [() => any.rearmReadBuffer(id), Error], // no buffer was set
        [() => any.signalStart('SIGINT'), TypeError],
        [() => any.signalStart(0), RangeError],
        [() => any.signalStart(99), RangeError],
        [() => any.getaddrinfo(1, 0, 0, noop), TypeError],
        [() => any.getaddrinfo('localhost', 5, 0, noop), RangeError],
        [() => any.getaddrinfo('localhost', 0, -1, noop), RangeError],
        [() => any.getaddrinfo('localhost', 0, 0, 'cb'), TypeError],
        [() => any.getnameinfo('localhost', 80, 0, noop), TypeError],
        [() => any.getnameinfo('127.0.0.1', 70000, 0, noop), RangeError],
        [() => any.udpBind('any', 0, false), TypeError],
        [() => any.udpBind('127.0.0.1', 0, 1), TypeError],
        [() => any.udpConnect(id, '127.0.0.1', 9), TypeError], // not a UDP endpoint
        [() => any.spawn('', ['x'], null, null, [0, 0, 0]), TypeError],
        [() => any.spawn('true', [], null, null, [0, 0, 0]), TypeError],
        [() => any.spawn('true', ['true', 1], null, null, [0, 0, 0]), TypeError],
        [() => any.spawn('true', ['true'], 'PATH=/bin', null, [0, 0, 0]), TypeError],
        [() => any.spawn('true', ['true'], null, 5, [0, 0, 0]), TypeError],
        [() => any.spawn('true', ['true'], null, null, [0, 0]), TypeError],
        [() => any.spawn('true', ['true'], null, null, [0, 0, 4]), RangeError],
        [() => any.spawn('true', ['true'], null, null, [3, 0, 0]), RangeError], // only stderr may follow stdout
        [() => any.spawn('true', ['true'], null, null, [0, 3, 0]), RangeError],
        [() => any.spawn('tr\0ue', ['true'], null, null, [0, 0, 0]), TypeError],
        [() => any.kill(id, 9), TypeError], // not a process
        [() => any.kill(id, 'SIGKILL'), TypeError],
      ];
      for (const [call, type] of cases) expect(call).toThrow(type);
      // The listener is still there and named.
      expect(l.tcpAddress(id, false)).toEqual([HOST, expect.any(Number), 'IPv4']);
      expect(l.fileno(id)).toBeGreaterThan(2);
      expect(l.stats().streams).toBe(1);
    } finally {
      l.close();
    }
  });

  it('refuses stream calls on ids that name a signal watcher, a child process or a closing endpoint (the fuzzer\'s crashes)', async () => {
    // Each of these reached a libuv assertion or read past a vector before
    // (found by test/fixtures/native_fuzz.mjs, see fuzz.test.ts).
    const l = new addon.Loop(noop);
    const any = l as any;
    const tmp = path.join(os.tmpdir(), `aioloop-plain-${process.pid}`);
    const fs = await import('node:fs');
    const fileFd = fs.openSync(tmp, 'w');
    const nullFd = fs.openSync('/dev/null', 'r');
    try {
      const signal = l.signalStart(os.constants.signals.SIGUSR2);
      const [child] = l.spawn('/bin/cat', ['cat'], null, null, [2, 0, 0]);
      for (const id of [signal, child]) {
        expect(() => any.write(id, new Uint8Array(4))).toThrow(TypeError);
        expect(() => any.shutdown(id)).toThrow(TypeError);
        expect(() => any.readStart(id)).toThrow(TypeError);
        expect(() => any.readStop(id)).toThrow(TypeError);
        expect(() => any.setReadBuffer(id, new Uint8Array(4))).toThrow(TypeError);
        // A flush record naming it is dropped, like one for a stream gone since.
        const [, ops] = l.outbound();
        new Int32Array(ops).set([id, 0, 4]);
        expect(l.flush(1)).toBe(0);
      }
      // A UDP endpoint after closeStream (uv_close called): connect would bind a new socket.
      const udp = l.udpBind(HOST, 0, false);
      l.closeStream(udp, true);
      expect(() => l.udpConnect(udp, HOST, 9)).toThrow(expect.objectContaining({ code: 'EBADF' }));
      // popDue(Infinity) on an empty heap pops nothing; with timers, everything.
      const out = new Int32Array(4);
      expect(l.popDue(Infinity, out)).toBe(0);
      l.addTimer(5, 0);
      l.addTimer(1e9, 1);
      expect(l.popDue(Infinity, out)).toBe(2);
      expect([...out.subarray(0, 2)]).toEqual([0, 1]);
      expect(l.popDue(Infinity, out)).toBe(0);
      // An fd epoll cannot watch is refused, not handed to libuv (which aborts).
      expect(() => any.pipeOpen(fileFd, true)).toThrow(/not a pipe or a socket/);
      expect(() => any.pipeOpen(nullFd, false)).toThrow(/not a pipe or a socket/);
      expect(() => any.pipeOpen(2 ** 31 - 1, false)).toThrow(expect.objectContaining({ code: 'EBADF' }));
      // The signal watcher, the child, its stdin pipe, and the UDP endpoint until its close callback runs.
      expect(l.stats().streams).toBe(4);
      expect(l.kill(child, 15)).toBe(0);
    } finally {
      l.close();
      fs.closeSync(fileFd);
      fs.closeSync(nullFd);
      fs.rmSync(tmp, { force: true });
    }
    await closeCallbacksRan();
  });

  it('reports listen errors with Node-style codes and leaks nothing', async () => {
    await closeCallbacksRan(); // earlier tests' handles are gone
    const before = debug ? addon.debugCounters()!.liveHandles : 0;
    const l = new addon.Loop(noop);
    try {
      const id = l.tcpListen(HOST, 0, 16, false, false);
      const port = l.tcpAddress(id, false)![1];
      let err: NodeJS.ErrnoException | undefined;
      try {
        l.tcpListen(HOST, port, 16, false, false);
      } catch (e) {
        err = e as NodeJS.ErrnoException;
      }
      expect(err).toBeInstanceOf(Error);
      expect(err!.code).toBe('EADDRINUSE');
      expect(err!.syscall).toBe('listen');
      expect(err!.message).toContain(`${HOST}:${port}`);
      expect(l.stats().streams).toBe(1);
      l.closeStream(id, false);
    } finally {
      l.close();
    }
    await closeCallbacksRan();
    if (debug) expect(addon.debugCounters()!.liveHandles).toBe(before);
  });

  it('throws from every stream method of a closed Loop', () => {
    const l = new addon.Loop(noop);
    l.close();
    for (const call of [
      () => l.tcpListen(HOST, 0, 16, false, false),
      () => l.tcpConnect(HOST, 80, null, 0),
      () => l.pipeListen('/tmp/x.sock', 16),
      () => l.pipeConnect('/tmp/x.sock'),
      () => l.pipeOpen(0, false),
      () => l.readStart(0),
      () => l.flush(0),
      () => l.outbound(),
    ]) {
      expect(call).toThrow(/closed/);
    }
  });

  it('keeps the outbound batch alive for views that outlive their loop, and for a loop whose views are gone', async () => {
    const fresh = new addon.Loop(noop);
    // No outbound() yet: the batch has no records to flush.
    expect(fresh.flush(0)).toBe(0);
    expect(() => fresh.flush(1)).toThrow(RangeError);
    fresh.close();
    const l = new addon.Loop(noop);
    const [bytes, ops] = l.outbound();
    const again = l.outbound(); // new views of the same memory
    new Uint8Array(bytes).fill(7);
    expect(new Uint8Array(again[0])[12345]).toBe(7);
    expect(new Int32Array(ops).length).toBe(new Int32Array(again[1]).length);
    l.close();
    // The loop let go; the views still own the memory (ASan would see a use after free).
    new Uint8Array(bytes).fill(9);
    expect(new Uint8Array(again[0])[bytes.byteLength - 1]).toBe(9);
    // And the other way round: views collected first, the loop keeps flushing.
    const l2 = new addon.Loop(noop);
    l2.outbound();
    await new Promise((resolve) => setImmediate(resolve));
    v8.setFlagsFromString('--expose-gc');
    (vm.runInNewContext('gc') as () => void)(); // the views' finalizers run
    await new Promise((resolve) => setImmediate(resolve));
    expect(l2.flush(0)).toBe(0);
    l2.close();
  });
});

describe.runIf(built)('native addon: spawn', () => {
  it('a missing program throws ENOENT and leaves no handle behind', async () => {
    await closeCallbacksRan();
    const before = debug ? addon.debugCounters()!.liveHandles : 0;
    const l = new addon.Loop(noop);
    let err: NodeJS.ErrnoException | undefined;
    try {
      l.spawn('aioloop-no-such-program', ['aioloop-no-such-program'], null, null, [2, 2, 2]);
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err?.code).toBe('ENOENT');
    expect(l.stats().streams).toBe(0);
    l.close();
    await closeCallbacksRan();
    if (debug) expect(addon.debugCounters()!.liveHandles).toBe(before);
  });
});

describe.runIf(built)('native addon: DNS requests', () => {
  it('resolves through uv_getaddrinfo and uv_getnameinfo', async () => {
    const l = new addon.Loop(noop);
    try {
      const flat = await new Promise<(number | string)[]>((resolve, reject) =>
        l.getaddrinfo('localhost', 4, 0, (err, res) => (err ? reject(err) : resolve(res!))),
      );
      expect(flat).toContain('127.0.0.1');
      const err = await new Promise<NodeJS.ErrnoException>((resolve) =>
        l.getaddrinfo('no-such-host.invalid', 0, 0, (e) => resolve(e as NodeJS.ErrnoException)),
      );
      expect(err.code).toMatch(/ENOTFOUND|EAI_AGAIN/);
      const [host] = await new Promise<[string, string]>((resolve, reject) =>
        l.getnameinfo('127.0.0.1', 80, 0, (e, res) => (e ? reject(e) : resolve(res!))),
      );
      expect(typeof host).toBe('string');
    } finally {
      l.close();
    }
  });

  it('a loop closed while lookups are pending never calls them back', async () => {
    const l = new addon.Loop(noop);
    let called = 0;
    for (let i = 0; i < 20; i++) l.getaddrinfo(`host-${i}.invalid`, 0, 0, () => called++);
    l.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(called).toBe(0);
  });
});

describe.runIf(built)('native loop: BufferedProtocol', () => {
  it('reads straight into the protocol buffer (getBuffer(-1) before each read)', async () => {
    const loop = new NativeLoop();
    const payload = Buffer.alloc(64 * 1024, 'z');
    function* main(): Coroutine<[number, number, number]> {
      const hints: number[] = [];
      let got = 0;
      const done = loop.createFuture<void>();
      const buf = new Uint8Array(8192);
      const server = yield* fromPromise(
        loop.createServer(
          () => ({
            getBuffer: (hint: number) => {
              hints.push(hint);
              return buf;
            },
            bufferUpdated: (n: number) => {
              for (let i = 0; i < n; i++) if (buf[i] !== 0x7a) throw new Error(`byte ${i} is ${buf[i]}`);
              buf.fill(0, 0, n);
              got += n;
            },
            connectionLost: () => done.setResult(),
          }),
          HOST,
          0,
        ),
      );
      const port = (server.addresses()[0] as { port: number }).port;
      const [t] = yield* fromPromise(loop.createConnection(() => ({}), HOST, port));
      t.write(payload);
      t.close();
      yield* done;
      server.close();
      yield* server.waitClosed();
      return [got, hints.filter((h) => h === -1).length, loop._nativeStats().readBuffers];
    }
    const [got, zeroCopyReads, readBuffers] = await loop.runUntilComplete(loop.createTask(main()));
    loop.close();
    expect(got).toBe(payload.length);
    expect(zeroCopyReads).toBeGreaterThan(0);
    expect(readBuffers).toBe(0); // no read buffer left referenced
  });
});

/** `size` bytes whose every 4-byte word holds its own offset: a lost, doubled or reordered chunk shows. */
function countingPayload(size: number): Buffer {
  const payload = Buffer.alloc(size);
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i, i);
  return payload;
}

/** Run `loop` until `isLost()` says the connection is gone, then close `server` and the loop. */
async function runUntilLostThenClose(loop: NativeLoop, server: Server, isLost: () => boolean): Promise<void> {
  await loop.runUntilComplete(
    loop.createTask(function* () {
      while (!isLost()) yield* sleep(5);
    }),
  );
  server.close();
  await loop.runUntilComplete(server.waitClosed());
  loop.close();
}

/**
 * Serve `protocol` on a fresh native loop; a plain Node client connects,
 * and once the server accepted it sends 4 MiB while the loop is stopped for
 * 300 ms. Returns what arrived while stopped (chunks, and the process's CPU
 * time in ms) and after the loop ran to the connection's end.
 */
async function sendWhileStopped(protocol: (received: Buffer[], lost: () => void) => object) {
  const loop = new NativeLoop();
  const received: Buffer[] = [];
  let lost = false;
  const payload = countingPayload(4 << 20);
  const server = await loop.runUntilComplete(loop.createServer(() => protocol(received, () => (lost = true)), HOST, 0));
  const client = net.connect((server.addresses()[0] as { port: number }).port, HOST);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  // The loop runs one turn so the server accepts the connection.
  await loop.runUntilComplete(loop.createTask(function* () { yield* sleep(20); }));
  client.end(payload);
  const cpuBefore = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 300)); // the loop is stopped meanwhile
  const cpu = process.cpuUsage(cpuBefore);
  const whileStopped = received.length;
  await runUntilLostThenClose(loop, server, () => lost);
  client.destroy();
  return { payload, whileStopped, cpuMs: (cpu.user + cpu.system) / 1000, got: Buffer.concat(received) };
}

describe.runIf(built)('native loop: the inbound slab', () => {
  it('bytes that arrive while the loop is stopped wait (reading pauses when the slab is full) and all arrive in order once it runs', async () => {
    // More than a slab holds, so the native reader must starve and resume later.
    const r = await sendWhileStopped((received, lost) => ({
      dataReceived: (d: Buffer) => received.push(d), // kept, not copied
      connectionLost: lost,
    }));
    expect(r.whileStopped).toBe(0); // nothing ran while stopped
    expect(r.got.length).toBe(r.payload.length);
    expect(r.got.equals(r.payload)).toBe(true);
  });

  it('a BufferedProtocol stream waits without spinning while the loop is stopped, and gets every byte in order once it runs', async () => {
    // One read fills the armed buffer; then the stream must stop reading
    // (its fd stays readable: libuv must not poll it in a loop) until JS
    // arms the buffer again.
    const buf = new Uint8Array(64 * 1024);
    const r = await sendWhileStopped((received, lost) => ({
      getBuffer: () => buf,
      bufferUpdated: (n: number) => received.push(Buffer.from(buf.subarray(0, n))),
      connectionLost: lost,
    }));
    expect(r.whileStopped).toBe(0);
    expect(r.cpuMs).toBeLessThan(150); // in 300 ms; a spinning poll takes ~300
    expect(r.got.length).toBe(r.payload.length);
    expect(r.got.equals(r.payload)).toBe(true);
  });
});

describe.runIf(built)('native loop: both kinds of slab memory', () => {
  // Node 20 slabs are plain Buffers; where JS can detach ArrayBuffers (Node
  // 21+) the addon owns the memory. Both run here, whatever this Node is.
  it.each(['js', 'addon'])('slab memory %s: 6 MiB of kept chunks arrive intact, and close() leaves nothing', async (kind) => {
    const r = await runChild(
      `const net = await import('node:net');
       const loop = new aio.NativeLoop();
       const kept = [];
       let lost = false;
       const server = await loop.runUntilComplete(loop.createServer(() => ({
         dataReceived: (d) => kept.push(d),
         connectionLost: () => { lost = true; },
       }), '127.0.0.1', 0));
       const payload = Buffer.alloc(6 << 20);
       for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i, i);
       const client = net.connect(server.addresses()[0].port, '127.0.0.1', () => client.end(payload));
       await loop.runUntilComplete(loop.createTask(function* () { while (!lost) yield* aio.sleep(5); }));
       server.close();
       await loop.runUntilComplete(server.waitClosed());
       loop.close();
       const s = loop._nativeStats();
       console.log(Buffer.concat(kept).equals(payload), s.references, s.streams);`,
      { env: { AIOLOOP_NATIVE_BINARY: addonPath(), AIOLOOP_SLAB_MEMORY: kind } },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('true 0 0\n');
    expect(r.code).toBe(0);
  });
});

describe.runIf(built)('native loop: streams and close()', () => {
  it('closing a loop with a server and open connections releases every handle', async () => {
    await closeCallbacksRan();
    const before = debug ? addon.debugCounters()!.liveHandles : 0;
    const loop = new NativeLoop();
    const sockPath = path.join(os.tmpdir(), `aioloop-native-${process.pid}-${Date.now()}.sock`);
    function* main(): Coroutine<number> {
      const server = yield* fromPromise(loop.createServer(() => ({}), HOST, 0));
      const unix = yield* fromPromise(loop.createUnixServer(() => ({}), sockPath));
      const port = (server.addresses()[0] as { port: number }).port;
      const clients: Transport[] = [];
      for (let i = 0; i < 5; i++) {
        const [t] = yield* fromPromise(loop.createConnection(() => ({}), HOST, port));
        t.write('pending bytes that nobody reads');
        clients.push(t);
      }
      yield* fromPromise(loop.createUnixConnection(() => ({}), sockPath));
      yield* sleep(5);
      void unix;
      return loop._nativeStats().streams;
    }
    // 2 listeners, 6 client ends, 6 accepted ends.
    expect(await loop.runUntilComplete(loop.createTask(main()))).toBe(14);
    loop.close(); // without closing a single transport
    expect(loop._nativeStats().streams).toBe(0);
    await closeCallbacksRan();
    if (debug) expect(addon.debugCounters()!.liveHandles).toBe(before);
  });

  it('a peer sees the connections of a closed loop go away', async () => {
    const loop = new NativeLoop();
    const ended = new Promise<void>((resolve) => {
      const srv = net.createServer((s) => {
        s.on('close', () => {
          srv.close();
          resolve();
        });
        s.resume();
      });
      srv.listen(0, HOST, () => {
        const port = (srv.address() as net.AddressInfo).port;
        void loop.runUntilComplete(loop.createTask(function* () {
          yield* fromPromise(loop.createConnection(() => ({}), HOST, port));
        })).then(() => loop.close());
      });
    });
    await ended; // the socket was closed, not leaked open
  });
});

describe.runIf(built)('native loop: streams in worker threads', () => {
  it('a worker serves TCP on its own native loop; terminating it mid-connection leaves the main thread fine', async () => {
    const body = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(DIST)}).then(async (aio) => {
        const loop = new aio.NativeLoop();
        await loop.runUntilComplete(loop.createTask(function* () {
          const server = yield* aio.fromPromise(loop.createServer(() => ({
            connectionMade(t) { this.t = t; },
            dataReceived(d) { this.t.write(d); },
          }), '127.0.0.1', 0));
          parentPort.postMessage(server.addresses()[0].port);
          yield* server.serveForever();
        }));
      });`;
    const worker = new Worker(body, { eval: true, env: { ...process.env, AIOLOOP_NATIVE_BINARY: addonPath() } });
    const port = await new Promise<number>((resolve) => worker.once('message', resolve));
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, HOST, () => socket.write('through a worker'));
      socket.once('data', (d) => {
        resolve(String(d));
        // Leave it open: the worker is terminated with a live connection.
      });
      socket.once('error', reject);
      worker.once('exit', () => socket.destroy());
    });
    expect(echoed).toBe('through a worker');
    expect(await worker.terminate()).toBe(1); // env cleanup closes its handles; no crash
    // The main thread's own native loop still works after the worker's teardown.
    const loop = new NativeLoop();
    expect(await loop.runUntilComplete(loop.createTask(function* () { yield* sleep(1); return 'ok'; }))).toBe('ok');
    loop.close();
  });
});
