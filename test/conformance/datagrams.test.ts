/** Datagram endpoints and DNS over real sockets (asyncio's test_events UDP parts), on every loop. */
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  AF_INET,
  AF_INET6,
  AI_NUMERICHOST,
  AI_PASSIVE,
  NI_NAMEREQD,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  SOCK_STREAM,
  fromPromise,
  getRunningLoop,
  sleep,
  type Coroutine,
  type DatagramProtocol,
  type DatagramTransport,
  type EventLoop,
  type SockAddr,
} from '../../lib/index.js';
import { nodeSupportsReusePort } from '../../lib/servers.js';
import { LOOPS, withLoop } from '../loops.js';

const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());

/** True when ::1 can be bound (some containers have no IPv6 loopback). */
const HAS_IPV6 = await new Promise<boolean>((resolve) => {
  const s = dgram.createSocket('udp6');
  s.once('error', () => {
    s.close();
    resolve(false);
  });
  s.bind(0, '::1', () => {
    s.close();
    resolve(true);
  });
});
if (!HAS_IPV6) console.warn('datagrams.test: no IPv6 loopback, the ::1 cases are skipped');

class Echo implements DatagramProtocol {
  t!: DatagramTransport;
  connectionMade(t: unknown) {
    this.t = t as DatagramTransport;
  }
  datagramReceived(data: Buffer, addr: [string, number]) {
    this.t.sendto(Buffer.concat([Buffer.from('echo:'), data]), addr);
  }
}

class Client implements DatagramProtocol {
  got: [string, [string, number]][] = [];
  events: string[] = [];
  errors: Error[] = [];
  onLoop: boolean[] = [];
  lost = getRunningLoop().createFuture<void>();
  next = getRunningLoop().createFuture<void>();
  connectionMade() {
    this.events.push('connectionMade');
  }
  datagramReceived(data: Buffer, addr: [string, number]) {
    this.onLoop.push(getRunningLoop() === this.lost.getLoop());
    this.got.push([String(data), addr]);
    if (!this.next.done()) this.next.setResult();
  }
  errorReceived(err: Error) {
    this.errors.push(err);
  }
  connectionLost(err: Error | null) {
    this.events.push('connectionLost');
    this.lost.setResult(err as never);
  }
}

describe.each(LOOPS)('$name loop: datagram endpoints', (kind) => {
  for (const host of ['127.0.0.1', '::1']) {
    it.skipIf(host === '::1' && !HAS_IPV6)(`echoes datagrams on ${host}, with and without remoteAddr`, () =>
      withLoop(kind, (loop) =>
        run(loop, function* () {
          const [server] = yield* fromPromise(loop.createDatagramEndpoint(() => new Echo(), { localAddr: [host, 0] }));
          const sa = server.getExtraInfo('sockname') as SockAddr;
          expect(sa.address).toBe(host);
          expect(sa.family).toBe(host === '::1' ? 'IPv6' : 'IPv4');
          // Unconnected client: explicit addresses, both shapes.
          const [c1, p1] = yield* fromPromise(loop.createDatagramEndpoint(() => new Client(), { localAddr: [host, 0] }));
          c1.sendto('a', [host, sa.port]);
          yield* p1.next;
          p1.next = loop.createFuture();
          c1.sendto(Buffer.from('b'), { address: host, port: sa.port });
          yield* p1.next;
          expect(p1.got).toEqual([
            ['echo:a', [host, sa.port]],
            ['echo:b', [host, sa.port]],
          ]);
          expect(p1.onLoop).toEqual([true, true]);
          expect(c1.getExtraInfo('peername')).toBeUndefined();
          // Connected client: sendto without an address.
          const [c2, p2] = yield* fromPromise(loop.createDatagramEndpoint(() => new Client(), { remoteAddr: [host, sa.port] }));
          expect((c2.getExtraInfo('peername') as SockAddr).port).toBe(sa.port);
          c2.sendto('c');
          yield* p2.next;
          expect(p2.got[0]![0]).toBe('echo:c');
          expect(c2.getWriteBufferSize()).toBe(0);
          c1.close();
          c2.close();
          server.close();
          yield* p1.lost;
          yield* p2.lost;
          expect(p1.events).toEqual(['connectionMade', 'connectionLost']);
          expect(c1.isClosing()).toBe(true);
        }),
      ),
    );
  }

  it('sendto resolves a host name', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const [server] = yield* fromPromise(loop.createDatagramEndpoint(() => new Echo(), { localAddr: ['127.0.0.1', 0] }));
        const port = (server.getExtraInfo('sockname') as SockAddr).port;
        const [c, p] = yield* fromPromise(loop.createDatagramEndpoint(() => new Client(), { family: 4 }));
        c.sendto('by name', ['localhost', port]);
        yield* p.next;
        expect(p.got).toEqual([['echo:by name', ['127.0.0.1', port]]]);
        c.close();
        server.close();
        yield* p.lost;
      }),
    ),
  );

  // SO_REUSEPORT: the native loop sets it itself; the default loop needs Node >= 22.12.
  it.skipIf(kind.name === 'default' && !nodeSupportsReusePort())('reusePort lets two endpoints bind one port', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const [a] = yield* fromPromise(loop.createDatagramEndpoint(() => new Echo(), { localAddr: ['127.0.0.1', 0], reusePort: true }));
        const port = (a.getExtraInfo('sockname') as SockAddr).port;
        const [b] = yield* fromPromise(loop.createDatagramEndpoint(() => new Echo(), { localAddr: ['127.0.0.1', port], reusePort: true }));
        expect((b.getExtraInfo('sockname') as SockAddr).port).toBe(port);
        let code: unknown;
        try {
          yield* fromPromise(loop.createDatagramEndpoint(() => ({}), { localAddr: ['127.0.0.1', port] }));
        } catch (e) {
          code = (e as NodeJS.ErrnoException).code;
        }
        expect(code).toBe('EADDRINUSE');
        a.close();
        b.close();
      }),
    ),
  );

  it('close() sends what was given to sendto() first, empty datagrams included', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const [server, got] = yield* fromPromise(loop.createDatagramEndpoint(() => new Client(), { localAddr: ['127.0.0.1', 0] }));
        const port = (server.getExtraInfo('sockname') as SockAddr).port;
        const [t, me] = yield* fromPromise(loop.createDatagramEndpoint(() => new Client(), { localAddr: ['127.0.0.1', 0] }));
        t.sendto('first', ['127.0.0.1', port]);
        yield* got.next;
        // The only datagram in flight is empty: close() must still wait for it.
        t.sendto('', ['127.0.0.1', port]);
        t.close();
        yield* me.lost;
        for (let i = 0; i < 200 && got.got.length < 2; i++) yield* sleep(1);
        expect(got.got.map(([d]) => d)).toEqual(['first', '']);
        server.close();
      }),
    ),
  );

  it('abort() still sends what sendto() was given (asyncio sends at once), after close() too', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        // The native loop dropped what was still in its write batch, and
        // the default loop closed Node's socket under a send that was still
        // resolving its address.
        const [server, got] = yield* fromPromise(loop.createDatagramEndpoint(() => new Client(), { localAddr: ['127.0.0.1', 0] }));
        const port = (server.getExtraInfo('sockname') as SockAddr).port;
        const sequences: [string, (t: DatagramTransport) => void][] = [
          ['abort', (t) => t.abort()],
          ['close, abort', (t) => (t.close(), t.abort())],
        ];
        for (const [name, end] of sequences) {
          const [t, me] = yield* fromPromise(loop.createDatagramEndpoint(() => new Client(), { localAddr: ['127.0.0.1', 0] }));
          t.sendto(name, ['127.0.0.1', port]);
          end(t);
          yield* me.lost;
          const [c, cme] = yield* fromPromise(loop.createDatagramEndpoint(() => new Client(), { remoteAddr: ['127.0.0.1', port] }));
          c.sendto(`${name}, connected`);
          end(c);
          yield* cme.lost;
        }
        for (let i = 0; i < 200 && got.got.length < 4; i++) yield* sleep(1);
        expect(got.got.map(([d]) => d).sort()).toEqual(['abort', 'abort, connected', 'close, abort', 'close, abort, connected']);
        server.close();
      }),
    ),
  );

  it('sendto after close throws; abort calls connectionLost once', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const [t, p] = yield* fromPromise(loop.createDatagramEndpoint(() => new Client(), { localAddr: ['127.0.0.1', 0] }));
        t.close();
        expect(() => t.sendto('x', ['127.0.0.1', 9])).toThrow('transport is closed');
        t.abort();
        yield* p.lost;
        yield* sleep(5);
        expect(p.events).toEqual(['connectionMade', 'connectionLost']);
      }),
    ),
  );

  it('rejects bad arguments with TypeError/RangeError', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        expect(() => loop.createDatagramEndpoint(() => ({}), { localAddr: ['127.0.0.1', 70000] })).toThrow(RangeError);
        expect(() => loop.createDatagramEndpoint(() => ({}), { localAddr: [1 as never, 0] })).toThrow(TypeError);
        expect(() => loop.createDatagramEndpoint(() => ({}), {})).toThrow(TypeError);
        expect(() => loop.createDatagramEndpoint('x' as never, { family: 4 })).toThrow(TypeError);
        expect(() => loop.createDatagramEndpoint(() => ({}), { family: 5 })).toThrow(RangeError);
        const [t6] = yield* fromPromise(loop.createDatagramEndpoint(() => ({}), { family: AF_INET6 }));
        expect((t6.getExtraInfo('sockname') as SockAddr).family).toBe('IPv6');
        t6.close();
        const [t] = yield* fromPromise(loop.createDatagramEndpoint(() => ({}), { family: 4 }));
        expect(() => t.sendto('x')).toThrow(TypeError);
        expect(() => t.sendto('x', ['127.0.0.1', -1])).toThrow(RangeError);
        expect(() => t.sendto(42 as never, ['127.0.0.1', 9])).toThrow(TypeError);
        t.close();
      }),
    ),
  );

  it('a throwing datagramReceived goes to the exception handler and aborts only that transport', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const seen: string[] = [];
        loop.setExceptionHandler((_l, ctx) => seen.push(ctx.message));
        const lost = loop.createFuture<Error | null>();
        const boom = new Error('boom');
        const [bad] = yield* fromPromise(
          loop.createDatagramEndpoint(
            () => ({
              datagramReceived() {
                throw boom;
              },
              connectionLost: (err) => lost.setResult(err),
            }),
            { localAddr: ['127.0.0.1', 0] },
          ),
        );
        const [c] = yield* fromPromise(loop.createDatagramEndpoint(() => ({}), { family: 4 }));
        c.sendto('x', ['127.0.0.1', (bad.getExtraInfo('sockname') as SockAddr).port]);
        expect(yield* lost).toBe(boom); // connectionLost gets the error that aborted the transport
        expect(seen).toEqual(['Fatal error: protocol.datagramReceived() call failed.']);
        expect(c.isClosing()).toBe(false);
        c.close();
      }),
    ),
  );
});

describe.each(LOOPS)('$name loop: getaddrinfo / getnameinfo', (kind) => {
  it('applies asyncio\'s flags: AI_PASSIVE, AI_NUMERICHOST, NI_NUMERICHOST, NI_NUMERICSERV, NI_NAMEREQD', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const settle = <T>(p: Promise<T>) => fromPromise(p.then((v) => v, (e: NodeJS.ErrnoException) => e.code));
        expect(yield* settle(loop.getaddrinfo(null, 80, { type: SOCK_STREAM, family: AF_INET, flags: AI_PASSIVE }))).toEqual([[AF_INET, SOCK_STREAM, 6, '', ['0.0.0.0', 80]]]);
        expect(yield* settle(loop.getaddrinfo(null, 80, { type: SOCK_STREAM, family: AF_INET }))).toEqual([[AF_INET, SOCK_STREAM, 6, '', ['127.0.0.1', 80]]]);
        expect(yield* settle(loop.getaddrinfo('localhost', 80, { flags: AI_NUMERICHOST }))).toMatch(/ENOTFOUND|EAI_NONAME/);
        expect(yield* settle(loop.getaddrinfo('127.0.0.1', 80, { type: SOCK_STREAM, flags: AI_NUMERICHOST }))).toEqual([[AF_INET, SOCK_STREAM, 6, '', ['127.0.0.1', 80]]]);
        expect(() => loop.getaddrinfo('localhost', 80, { flags: 2 ** 40 })).toThrow(RangeError);
        // 192.0.2.0/24 (TEST-NET-1) has no name: the numeric host, unless a name is required.
        expect(yield* settle(loop.getnameinfo(['192.0.2.1', 80]))).toEqual(['192.0.2.1', 'http']);
        expect(yield* settle(loop.getnameinfo(['192.0.2.1', 80], NI_NAMEREQD))).toMatch(/ENOTFOUND|EAI_NONAME/);
        expect(yield* settle(loop.getnameinfo(['127.0.0.1', 80], NI_NUMERICHOST | NI_NUMERICSERV))).toEqual(['127.0.0.1', '80']);
        expect(yield* settle(loop.getnameinfo(['0:0::1', 22], NI_NUMERICHOST))).toEqual(['::1', 'ssh']);
        expect(() => loop.getnameinfo(['127.0.0.1', 80], -1)).toThrow(RangeError);
      }),
    ),
  );

  it('an IP literal of the other family: EAI_ADDRFAMILY, or a v4-mapped address under AI_V4MAPPED (as getaddrinfo(3))', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        // The default loop used to hand the literal back whatever family was asked for.
        const settle = <T>(p: Promise<T>) =>
          fromPromise(p.then((v) => v, (e: NodeJS.ErrnoException) => [e.code, e.syscall, e.message]));
        const refused = (host: string) => ['EAI_ADDRFAMILY', 'getaddrinfo', `getaddrinfo EAI_ADDRFAMILY ${host}`];
        expect(yield* settle(loop.getaddrinfo('127.0.0.1', 80, { family: AF_INET6, type: SOCK_STREAM }))).toEqual(refused('127.0.0.1'));
        expect(yield* settle(loop.getaddrinfo('::1', 80, { family: AF_INET, type: SOCK_STREAM }))).toEqual(refused('::1'));
        expect(yield* settle(loop.getaddrinfo('127.0.0.1', 80, { family: AF_INET6, type: SOCK_STREAM, flags: dns.V4MAPPED }))).toEqual([
          [AF_INET6, SOCK_STREAM, 6, '', ['::ffff:127.0.0.1', 80]],
        ]);
        expect(yield* settle(loop.getaddrinfo('127.0.0.1', 80, { family: AF_INET, type: SOCK_STREAM }))).toEqual([
          [AF_INET, SOCK_STREAM, 6, '', ['127.0.0.1', 80]],
        ]);
      }),
    ),
  );

  it("getaddrinfo('localhost') gives asyncio-shaped tuples", () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const infos = yield* fromPromise(loop.getaddrinfo('localhost', 80, { type: SOCK_STREAM }));
        expect(infos.length).toBeGreaterThan(0);
        for (const [family, type, proto, canon, [address, port]] of infos) {
          expect([AF_INET, AF_INET6]).toContain(family);
          expect(type).toBe(SOCK_STREAM);
          expect(proto).toBe(6);
          expect(canon).toBe('');
          expect(typeof address).toBe('string');
          expect(port).toBe(80);
        }
        const v4 = yield* fromPromise(loop.getaddrinfo('127.0.0.1', '8080'));
        expect(v4).toContainEqual([AF_INET, 2, 17, '', ['127.0.0.1', 8080]]);
        const [host, service] = yield* fromPromise(loop.getnameinfo(['127.0.0.1', 22]));
        expect(typeof host).toBe('string');
        expect(typeof service).toBe('string');
        expect(() => loop.getaddrinfo('localhost', 65536)).toThrow(RangeError);
        expect(() => loop.getaddrinfo(5 as never, 80)).toThrow(TypeError);
        expect(() => loop.getnameinfo(['localhost', 80])).toThrow(RangeError);
        const e = yield* fromPromise(loop.getaddrinfo('no-such-host.invalid', 80).then(() => null, (err) => err));
        expect((e as NodeJS.ErrnoException).code).toMatch(/ENOTFOUND|EAI_AGAIN|EAI_NONAME/);
      }),
    ),
  );
});
