/**
 * The example servers (examples/resp_server.mjs, http_server.mjs,
 * chat_server.mjs + chat_client.mjs) run as a user runs them: a child
 * process per test (`node examples/X.mjs --port 0 --loop NAME`, against
 * dist/), on every loop of test/loops.ts. Each is driven over real sockets
 * by small clients written here, and by the real tools when they are
 * installed (redis-cli, redis-benchmark and wrk: `node scripts/ensure-tools.mjs`);
 * without them those tests are skipped, saying why. Every test ends by
 * stopping the server with a signal and checking that it exits with code 0
 * and printed nothing on stderr.
 */
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './child.js';
import { LOOPS } from './loops.js';

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const MISSING = 'not installed: run `node scripts/ensure-tools.mjs` (Debian packages redis-tools, wrk)';
const NO_REDIS_CLI = !have('redis-cli');
const NO_REDIS_BENCHMARK = !have('redis-benchmark');
const NO_WRK = !have('wrk');

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** Every server started: a test that times out leaves no process behind. */
const liveServers = new Set<ChildProcess>();
afterAll(() => {
  for (const child of liveServers) child.kill('SIGKILL');
});

// -- Server processes -------------------------------------------------------------------

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

class ServerProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    exited: Promise<Exit>,
    first: { stdout: string; stderr: string },
  ) {
    this.exited = exited;
    this.stdout = first.stdout;
    this.stderr = first.stderr;
    child.stdout!.on('data', (d) => (this.stdout += d));
    child.stderr!.on('data', (d) => (this.stderr += d));
  }

  /** Start `examples/<script>` on a free port; resolves once it printed its listening line. */
  static start(script: string, name: string, loop: string, extra: string[] = []): Promise<ServerProcess> {
    const child = spawn(process.execPath, [`examples/${script}`, '--port', '0', '--loop', loop, ...extra], {
      cwd: ROOT,
      env: { ...process.env, AIOLOOP_LOOP: 'bogus' }, // the flag, not the environment, picks the loop
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveServers.add(child);
    let stdout = '';
    let stderr = '';
    const exited = new Promise<Exit>((resolve) => {
      child.on('close', (code, signal) => {
        liveServers.delete(child);
        resolve({ code, signal, stdout, stderr });
      });
    });
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        reject(new Error(`${script} --loop ${loop}: ${why}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      };
      const timer = setTimeout(() => fail(`no listening line after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
      const onData = (d: Buffer) => {
        stdout += d;
        if (!stdout.includes('\n') || settled) return;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onErr);
        const m = new RegExp(`^${name} server listening on 127\\.0\\.0\\.1:(\\d+) \\(loop: ${loop}\\)\\n$`).exec(stdout);
        if (m === null) return fail(`unexpected first line ${JSON.stringify(stdout)}`);
        settled = true;
        resolve(new ServerProcess(child, Number(m[1]), exited, { stdout, stderr }));
      };
      const onErr = (d: Buffer) => (stderr += d);
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onErr);
      child.on('error', (e) => fail(String(e)));
      exited.then((e) => fail(`exited (${e.code ?? e.signal}) before listening`));
    });
  }

  /** Send `signal`; resolves with how the process ended (SIGKILL after STOP_TIMEOUT_MS). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const e = await this.exited;
    clearTimeout(timer);
    return { ...e, stdout: this.stdout, stderr: this.stderr };
  }

  /** Stop and check the clean exit: code 0, nothing on stderr, no output after the listening line. */
  async stopCleanly(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const e = await this.stop(signal);
    const context = `after ${signal}: signal ${e.signal}\nstdout:\n${e.stdout}\nstderr:\n${e.stderr}`;
    expect(e.code, context).toBe(0);
    expect(e.stderr, context).toBe('');
    expect(e.stdout.split('\n').length, context).toBe(2); // exactly one line
  }
}

/** Run `body` with a server; stop it cleanly afterwards (and kill it if body failed). */
async function withServer(
  script: string,
  name: string,
  loop: string,
  body: (s: ServerProcess) => Promise<void>,
  extra: string[] = [],
): Promise<void> {
  const server = await ServerProcess.start(script, name, loop, extra);
  try {
    await body(server);
  } catch (e) {
    server.child.kill('SIGKILL');
    throw e;
  }
  await server.stopCleanly();
}

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

// -- Sockets ------------------------------------------------------------------------------

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Everything a socket receives until the peer closes it (rejects after `ms`). */
function readAll(socket: net.Socket, ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`no EOF within ${ms} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`)), ms);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** Resolves once the socket is closed by the peer (false if not within `ms`). */
function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.on('error', () => {});
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

// -- A small RESP client -------------------------------------------------------------

class RespError {
  constructor(readonly message: string) {}
}
type Reply = string | number | null | RespError | Reply[];

function encode(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parse one reply at `pos`: [reply, next offset], or null if incomplete. Bulk strings decode as latin1 (byte-exact). */
function parseReply(buf: Buffer, pos: number): [Reply, number] | null {
  const eol = buf.indexOf('\r\n', pos);
  if (eol === -1) return null;
  const type = String.fromCharCode(buf[pos]!);
  const line = buf.toString('latin1', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return [line, next];
    case '-':
      return [new RespError(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.toString('latin1', next, next + n), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: Reply[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (r === null) return null;
        items.push(r[0]);
        p = r[1];
      }
      return [items, p];
    }
    default:
      throw new Error(`bad reply type ${JSON.stringify(type)} in ${JSON.stringify(buf.toString('latin1'))}`);
  }
}

class RespClient {
  private buf = Buffer.alloc(0);
  private replies: Reply[] = [];
  private wake: (() => void) | null = null;
  closed = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      let pos = 0;
      for (let r; (r = parseReply(this.buf, pos)) !== null; ) {
        this.replies.push(r[0]);
        pos = r[1];
      }
      this.buf = this.buf.subarray(pos);
      this.wake?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async connect(port: number): Promise<RespClient> {
    return new RespClient(await connect(port));
  }

  /** The next `n` replies. */
  async read(n: number, ms = 5000): Promise<Reply[]> {
    const deadline = Date.now() + ms;
    while (this.replies.length < n) {
      if (this.closed) throw new Error(`connection closed after ${this.replies.length} of ${n} replies`);
      if (Date.now() > deadline) throw new Error(`only ${this.replies.length} of ${n} replies within ${ms} ms`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
      this.wake = null;
    }
    return this.replies.splice(0, n);
  }

  async call(...args: (string | Buffer)[]): Promise<Reply> {
    this.socket.write(encode(args));
    return (await this.read(1))[0]!;
  }

  close(): void {
    this.socket.destroy();
  }
}

function isError(r: Reply, pattern: RegExp): boolean {
  return r instanceof RespError && pattern.test(r.message);
}

// -- Line clients (chat) -------------------------------------------------------------------

class LineClient {
  private lines: string[] = [];
  private partial = '';
  private wake: (() => void) | null = null;
  closed = false;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.wake?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async connect(port: number): Promise<LineClient> {
    return new LineClient(await connect(port));
  }

  send(line: string): void {
    this.socket.write(`${line}\n`);
  }

  /** The next line (rejects on close or after `ms`). */
  async line(ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.lines.length === 0) {
      if (this.closed) throw new Error('connection closed while waiting for a line');
      if (Date.now() > deadline) throw new Error(`no line within ${ms} ms`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
      this.wake = null;
    }
    return this.lines.shift()!;
  }

  /** True once the server closed the connection, having sent nothing more. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await sleep(20);
    return this.closed;
  }

  /** Lines received and not read yet. */
  rest(): string[] {
    return this.lines.splice(0);
  }
}

// =======================================================================================

describe.concurrent('npm run example:NAME', () => {
  for (const name of ['resp', 'http', 'chat']) {
    it(`npm run example:${name} -- --port 0 --loop default: listens, and SIGTERM to npm stops it (exit 0)`, async () => {
      const child = spawn('npm', ['run', '-s', `example:${name}`, '--', '--port', '0', '--loop', 'default'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      liveServers.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (!stdout.includes('\n') && Date.now() < deadline && child.exitCode === null) await sleep(20);
      const m = new RegExp(`^${name} server listening on 127\\.0\\.0\\.1:(\\d+) \\(loop: default\\)\\n$`).exec(stdout);
      expect(m, `stdout ${JSON.stringify(stdout)}, stderr ${stderr}`).not.toBeNull();
      child.kill('SIGTERM'); // npm's child is the server itself (the script says `exec node ...`)
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const [code, signal] = await exited;
      clearTimeout(timer);
      liveServers.delete(child);
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      await expect(connect(Number(m![1]))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    });
  }
});


for (const { name: loop } of LOOPS) {
  describe.concurrent(`resp_server --loop ${loop}`, () => {
    it('answers every command', () =>
      withServer('resp_server.mjs', 'resp', loop, async ({ port }) => {
        const c = await RespClient.connect(port);
        expect(await c.call('PING')).toBe('PONG');
        expect(await c.call('ping', 'hello')).toBe('hello');
        expect(await c.call('ECHO', 'echo me')).toBe('echo me');
        expect(await c.call('GET', 'nothing')).toBe(null);
        expect(await c.call('SET', 'k', 'v')).toBe('OK');
        expect(await c.call('get', 'k')).toBe('v');
        expect(await c.call('SET', 'k', 'v2')).toBe('OK');
        expect(await c.call('GET', 'k')).toBe('v2');
        // NX / XX
        expect(await c.call('SET', 'k', 'x', 'NX')).toBe(null);
        expect(await c.call('SET', 'new', 'x', 'XX')).toBe(null);
        expect(await c.call('SET', 'new', 'n', 'NX')).toBe('OK');
        expect(await c.call('GET', 'new')).toBe('n');
        // EXISTS counts every argument; DEL counts what it removed
        expect(await c.call('EXISTS', 'k', 'new', 'k', 'missing')).toBe(3);
        expect(await c.call('DEL', 'k', 'missing', 'new')).toBe(2);
        expect(await c.call('EXISTS', 'k')).toBe(0);
        // INCR
        expect(await c.call('INCR', 'counter')).toBe(1);
        expect(await c.call('INCR', 'counter')).toBe(2);
        expect(await c.call('SET', 'counter', '-10')).toBe('OK');
        expect(await c.call('INCR', 'counter')).toBe(-9);
        expect(await c.call('SET', 'word', 'abc')).toBe('OK');
        expect(isError(await c.call('INCR', 'word'), /^ERR value is not an integer or out of range$/)).toBe(true);
        expect(await c.call('SET', 'float', '1.5')).toBe('OK');
        expect(isError(await c.call('INCR', 'float'), /not an integer/)).toBe(true);
        expect(await c.call('GET', 'word')).toBe('abc'); // a failed INCR changes nothing
        // MSET / MGET
        expect(await c.call('MSET', 'a', '1', 'b', '2', 'c', '3')).toBe('OK');
        expect(await c.call('MGET', 'a', 'nope', 'c', 'b')).toEqual(['1', null, '3', '2']);
        expect(isError(await c.call('MSET', 'a', '1', 'b'), /wrong number of arguments for 'mset'/)).toBe(true);
        // EXPIRE / TTL
        expect(await c.call('TTL', 'missing')).toBe(-2);
        expect(await c.call('TTL', 'a')).toBe(-1);
        expect(await c.call('EXPIRE', 'missing', '10')).toBe(0);
        expect(await c.call('EXPIRE', 'a', '100')).toBe(1);
        const ttl = await c.call('TTL', 'a');
        expect(ttl === 99 || ttl === 100, `TTL ${ttl}`).toBe(true);
        expect(await c.call('SET', 'ex', 'v', 'EX', '50')).toBe('OK');
        const ttl2 = await c.call('TTL', 'ex');
        expect(ttl2 === 49 || ttl2 === 50, `TTL ${ttl2}`).toBe(true);
        const pttl = (await c.call('PTTL', 'ex')) as number;
        expect(pttl).toBeGreaterThan(40_000);
        expect(pttl).toBeLessThanOrEqual(50_000);
        expect(await c.call('SET', 'ex', 'again')).toBe('OK'); // a plain SET removes the TTL
        expect(await c.call('TTL', 'ex')).toBe(-1);
        expect(await c.call('EXPIRE', 'b', '0')).toBe(1); // a TTL of 0 deletes at once
        expect(await c.call('GET', 'b')).toBe(null);
        // errors
        expect(isError(await c.call('NOSUCHCMD', 'x', 'y'), /^ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' 'y'$/)).toBe(true);
        expect(isError(await c.call('GET'), /^ERR wrong number of arguments for 'get' command$/)).toBe(true);
        expect(isError(await c.call('GET', 'a', 'b'), /wrong number of arguments/)).toBe(true);
        expect(isError(await c.call('SET', 'k', 'v', 'BOGUS'), /^ERR syntax error$/)).toBe(true);
        expect(isError(await c.call('SET', 'k', 'v', 'EX', '0'), /invalid expire time/)).toBe(true);
        expect(isError(await c.call('SET', 'k', 'v', 'PX', 'soon'), /invalid expire time/)).toBe(true);
        expect(isError(await c.call('EXPIRE', 'a', 'later'), /not an integer/)).toBe(true);
        // what redis-benchmark asks first
        expect(await c.call('CONFIG', 'GET', 'save')).toEqual(['save', '']);
        expect(await c.call('CONFIG', 'GET', 'appendonly')).toEqual(['appendonly', 'no']);
        expect(await c.call('CONFIG', 'GET', 'no-such-setting')).toEqual([]);
        // values are bytes: every byte value, CR and LF included, comes back unchanged
        const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        expect(await c.call('SET', Buffer.from([0xff, 0x00, 0x0d, 0x0a]), binary)).toBe('OK');
        const back = await c.call('GET', Buffer.from([0xff, 0x00, 0x0d, 0x0a]));
        expect(Buffer.from(back as string, 'latin1').equals(binary)).toBe(true);
        expect(await c.call('DBSIZE')).toBe(7); // counter word float a c ex and the binary key
        c.close();
      }));

    it('runs 100 pipelined commands from one write, replying in order', () =>
      withServer('resp_server.mjs', 'resp', loop, async ({ port }) => {
        const c = await RespClient.connect(port);
        const commands: string[][] = [];
        for (let i = 0; i < 100; i++) {
          if (i % 4 === 0) commands.push(['SET', `key:${i}`, `value:${i}`]);
          else if (i % 4 === 1) commands.push(['GET', `key:${i - 1}`]);
          else if (i % 4 === 2) commands.push(['INCR', 'pipelined']);
          else commands.push(['ECHO', `echo:${i}`]);
        }
        c.socket.write(Buffer.concat(commands.map(encode)));
        const replies = await c.read(100);
        replies.forEach((r, i) => {
          if (i % 4 === 0) expect(r).toBe('OK');
          else if (i % 4 === 1) expect(r).toBe(`value:${i - 1}`);
          else if (i % 4 === 2) expect(r).toBe((i + 2) / 4);
          else expect(r).toBe(`echo:${i}`);
        });

        // A command split at every byte, and a 1 MiB value in pieces.
        for (const byte of encode(['SET', 'split', 'across writes'])) {
          c.socket.write(Buffer.from([byte]));
          await sleep(1);
        }
        expect((await c.read(1))[0]).toBe('OK');
        expect(await c.call('GET', 'split')).toBe('across writes');
        const big = Buffer.alloc(1 << 20, 'abcdefgh');
        const request = encode(['SET', 'big', big]);
        for (let off = 0; off < request.length; off += 100_000) {
          c.socket.write(request.subarray(off, off + 100_000));
          await sleep(2);
        }
        expect((await c.read(1))[0]).toBe('OK');
        expect(await c.call('GET', 'big')).toBe(big.toString('latin1'));

        // Inline (telnet-style) commands, pipelined too.
        c.socket.write('PING\r\nSET inline  works\r\nGET inline\r\n\r\nEXISTS inline nope\n');
        expect(await c.read(4)).toEqual(['PONG', 'OK', 'works', 1]);
        c.close();
      }));

    it('expires keys with loop timers: EX, PX, EXPIRE; overwrite and DEL cancel them', () =>
      withServer('resp_server.mjs', 'resp', loop, async ({ port }) => {
        const c = await RespClient.connect(port);
        expect(await c.call('SET', 'px', 'soon', 'PX', '150')).toBe('OK');
        expect(await c.call('SET', 'ex', 'later', 'EX', '3')).toBe('OK');
        expect(await c.call('SET', 'untouched', 'gone', 'PX', '150')).toBe('OK');
        expect(await c.call('SET', 'overwritten', 'v', 'PX', '150')).toBe('OK');
        expect(await c.call('SET', 'overwritten', 'stays')).toBe('OK');
        expect(await c.call('SET', 'deleted', 'v', 'PX', '150')).toBe('OK');
        expect(await c.call('DEL', 'deleted')).toBe(1);
        expect(await c.call('SET', 'deleted', 'back')).toBe('OK');
        expect(await c.call('SET', 'expire', 'v')).toBe('OK');
        expect(await c.call('EXPIRE', 'expire', '3')).toBe(1);
        expect(await c.call('SET', 'persisted', 'v', 'PX', '150')).toBe('OK');
        expect(await c.call('PERSIST', 'persisted')).toBe(1);
        expect(await c.call('GET', 'px')).toBe('soon');
        expect(await c.call('DBSIZE')).toBe(7);

        await sleep(500);
        expect(await c.call('GET', 'px')).toBe(null);
        expect(await c.call('EXISTS', 'px')).toBe(0);
        expect(await c.call('TTL', 'px')).toBe(-2);
        // Nobody asked for 'untouched': only its timer can have removed it.
        expect(await c.call('DBSIZE')).toBe(5);
        expect(await c.call('GET', 'overwritten')).toBe('stays');
        expect(await c.call('GET', 'deleted')).toBe('back');
        expect(await c.call('GET', 'persisted')).toBe('v');
        expect(await c.call('GET', 'ex')).toBe('later');
        const ttl = await c.call('TTL', 'ex');
        expect(ttl === 2 || ttl === 3, `TTL ${ttl}`).toBe(true);

        await sleep(3000);
        expect(await c.call('GET', 'ex')).toBe(null);
        expect(await c.call('GET', 'expire')).toBe(null);
        expect(await c.call('DBSIZE')).toBe(3);
        c.close();
      }));

    it('keeps every reply when a pipelining client reads late (flow control)', () =>
      withServer('resp_server.mjs', 'resp', loop, async ({ port }) => {
        const c = await RespClient.connect(port);
        const value = Buffer.alloc(100_000, 'v').toString();
        expect(await c.call('SET', 'big', value)).toBe('OK');
        // 300 GETs at once: 30 MB of replies to a client that does not read
        // for a while. The server stops reading while its write buffer is full.
        c.socket.pause();
        const gets = Buffer.concat(Array.from({ length: 300 }, (_, i) => encode(i % 2 ? ['GET', 'big'] : ['ECHO', `n${i}`])));
        c.socket.write(gets);
        await sleep(300);
        c.socket.resume();
        const replies = await c.read(300, 20_000);
        replies.forEach((r, i) => expect(r === (i % 2 ? value : `n${i}`), `reply ${i}`).toBe(true));
        expect(await c.call('PING')).toBe('PONG');
        c.close();
      }));

    it('closes the connection after QUIT and after a protocol error', () =>
      withServer('resp_server.mjs', 'resp', loop, async ({ port }) => {
        const quit = await connect(port);
        const quitReply = readAll(quit);
        quit.write(encode(['QUIT']));
        expect((await quitReply).toString()).toBe('+OK\r\n');

        const bad = await connect(port);
        const badReply = readAll(bad);
        bad.write('*1\r\n$x\r\n');
        expect((await badReply).toString()).toMatch(/^-ERR Protocol error: invalid length\r\n$/);

        const bad2 = await connect(port);
        const bad2Reply = readAll(bad2);
        bad2.write(Buffer.concat([encode(['PING']), Buffer.from('*2\r\n:1\r\n')]));
        expect((await bad2Reply).toString()).toBe("+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n");

        // The server goes on serving others.
        const c = await RespClient.connect(port);
        expect(await c.call('PING')).toBe('PONG');
        c.close();
      }));

    it.skipIf(NO_REDIS_CLI)(`works with the real redis-cli${NO_REDIS_CLI ? ` (skipped: redis-cli ${MISSING})` : ''}`, () =>
      withServer('resp_server.mjs', 'resp', loop, async ({ port }) => {
        const cli = (...args: string[]) => run('redis-cli', ['-p', String(port), ...args]);
        expect((await cli('PING')).stdout).toBe('PONG\n');
        expect((await cli('SET', 'greeting', 'hello world')).stdout).toBe('OK\n');
        expect((await cli('GET', 'greeting')).stdout).toBe('hello world\n');
        expect((await cli('SET', 'session', 'x', 'EX', '60')).stdout).toBe('OK\n');
        expect(Number((await cli('TTL', 'session')).stdout)).toBeGreaterThanOrEqual(59);
        expect((await cli('INCR', 'hits')).stdout).toBe('1\n');
        expect((await cli('MSET', 'a', '1', 'b', '2')).stdout).toBe('OK\n');
        expect((await cli('MGET', 'a', 'b', 'zz')).stdout).toBe('1\n2\n\n');
        expect((await cli('INCR', 'greeting')).stdout).toMatch(/ERR value is not an integer or out of range/);
        expect((await cli('DEL', 'a', 'b')).stdout).toBe('2\n');
        // Several commands in one connection, piped.
        const piped = await new Promise<string>((resolve, reject) => {
          const child = spawn('redis-cli', ['-p', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('error', reject);
          child.on('close', () => resolve(out));
          child.stdin.end('SET piped yes\nGET piped\nEXISTS piped greeting\n');
        });
        expect(piped).toBe('OK\nyes\n2\n');
      }));

    it.skipIf(NO_REDIS_BENCHMARK)(`survives redis-benchmark -t set,get${NO_REDIS_BENCHMARK ? ` (skipped: redis-benchmark ${MISSING})` : ''}`, () =>
      withServer('resp_server.mjs', 'resp', loop, async ({ port }) => {
        for (const pipeline of ['1', '16']) {
          const r = await run('redis-benchmark', ['-p', String(port), '-t', 'set,get', '-n', '2000', '-c', '10', '-P', pipeline, '-q'], 60_000);
          const context = `-P ${pipeline}: exit ${r.code}\n${r.stdout}\n${r.stderr}`;
          expect(r.code, context).toBe(0);
          expect(r.stdout + r.stderr, context).not.toMatch(/ERROR|failed to fetch CONFIG/i);
          const rates = Object.fromEntries([...r.stdout.matchAll(/(SET|GET): ([\d.]+) requests per second/g)].map((m) => [m[1], Number(m[2])]));
          expect(rates.SET, context).toBeGreaterThan(0);
          expect(rates.GET, context).toBeGreaterThan(0);
        }
        // redis-benchmark's keys are there afterwards.
        const c = await RespClient.connect(port);
        expect(await c.call('DBSIZE')).toBeGreaterThanOrEqual(1);
        expect(((await c.call('GET', 'key:__rand_int__')) as string).length).toBe(3); // -d 3, the default
        c.close();
      }), 60_000);
  });

  describe.concurrent(`http_server --loop ${loop}`, () => {
    it('serves keep-alive requests on one connection (http.request and fetch)', () =>
      withServer('http_server.mjs', 'http', loop, async ({ port }) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const ports = new Set<number>();
        for (let i = 0; i < 5; i++) {
          const { status, body, headers, localPort } = await new Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders; localPort: number }>((resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port, path: `/path/${i}?q=${i}`, agent, method: i === 3 ? 'POST' : 'GET' }, (res) => {
              const localPort = res.socket.localPort!;
              const chunks: Buffer[] = [];
              res.on('data', (d: Buffer) => chunks.push(d));
              res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), headers: res.headers, localPort }));
            });
            req.on('error', reject);
            req.end(i === 3 ? 'a body that is read and ignored' : undefined);
          });
          expect(status).toBe(200);
          expect(body.length).toBe(1024);
          expect(body.toString()).toMatch(/^line  1 of the 1 KiB answer from aioloop\.+\n/);
          expect(headers['content-length']).toBe('1024');
          expect(headers.connection).toBeUndefined(); // HTTP/1.1: keep-alive by default
          expect(Number.isNaN(Date.parse(headers.date!))).toBe(false);
          ports.add(localPort);
        }
        expect(ports.size).toBe(1); // one connection for all five
        agent.destroy();
        const res = await fetch(`http://127.0.0.1:${port}/`);
        expect(res.status).toBe(200);
        expect((await res.text()).length).toBe(1024);
      }));

    it('answers pipelined requests in order, then Connection: close', () =>
      withServer('http_server.mjs', 'http', loop, async ({ port }) => {
        const s = await connect(port);
        const all = readAll(s);
        s.write(
          'GET /one HTTP/1.1\r\nHost: x\r\n\r\n' +
            'POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world' +
            'HEAD /three HTTP/1.1\r\nHost: x\r\n\r\n' +
            'GET /four HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' +
            'GET /never HTTP/1.1\r\nHost: x\r\n\r\n',
        );
        const text = (await all).toString('latin1');
        // Split the stream into responses by their Content-Length (none for HEAD).
        const responses: { head: string; body: string }[] = [];
        let pos = 0;
        const heads = ['GET', 'POST', 'HEAD', 'GET'];
        for (const method of heads) {
          const end = text.indexOf('\r\n\r\n', pos);
          expect(end, text).toBeGreaterThan(0);
          const head = text.slice(pos, end);
          const length = method === 'HEAD' ? 0 : Number(/content-length: (\d+)/i.exec(head)![1]);
          responses.push({ head, body: text.slice(end + 4, end + 4 + length) });
          pos = end + 4 + length;
        }
        expect(pos).toBe(text.length); // nothing after the Connection: close answer
        for (const r of responses) expect(r.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        expect(responses.map((r) => r.body.length)).toEqual([1024, 1024, 0, 1024]);
        expect(responses[3]!.head).toMatch(/\r\nConnection: close$/);
      }));

    it('answers requests that arrive in pieces', () =>
      withServer('http_server.mjs', 'http', loop, async ({ port }) => {
        const s = await connect(port);
        const all = readAll(s);
        const request = 'PUT /piecewise HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n' + 'b'.repeat(20_000) + 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n';
        for (let off = 0; off < request.length; off += 7000) {
          s.write(request.slice(off, off + 7000));
          await sleep(5);
        }
        const text = (await all).toString('latin1');
        expect(text.match(/HTTP\/1\.1 200 OK/g)?.length, text.slice(0, 300)).toBe(2);
      }));

    it('answers malformed requests with 400 and closes', () =>
      withServer('http_server.mjs', 'http', loop, async ({ port }) => {
        const bad = [
          'NONSENSE\r\n\r\n',
          'GET / HTTP/1.1\r\nthis line has no colon\r\n\r\n',
          'GET / HTTP/9.9\r\n\r\n',
          'GET  / HTTP/1.1\r\n\r\n',
          'GET / HTTP/1.1\r\nContent-Length: twelve\r\n\r\n',
          'GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
          'GET / HTTP/1.1\r\nBad Name: x\r\n\r\n',
        ];
        for (const request of bad) {
          const s = await connect(port);
          const all = readAll(s);
          s.write(`${request}GET / HTTP/1.1\r\n\r\n`); // never answered: the connection closes
          const text = (await all).toString('latin1');
          expect(text, request).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
          expect(text, request).toMatch(/\r\nConnection: close\r\n\r\nBad Request\n$/);
        }
        const chunked = await connect(port);
        const chunkedReply = readAll(chunked);
        chunked.write('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
        expect((await chunkedReply).toString()).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n/);
        // HTTP/1.0 without keep-alive: one answer, then the server closes.
        const old = await connect(port);
        const oldReply = readAll(old);
        old.write('GET / HTTP/1.0\r\n\r\n');
        const oldText = (await oldReply).toString('latin1');
        expect(oldText).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n\r\n/);
        expect(oldText.length - oldText.indexOf('\r\n\r\n') - 4).toBe(1024);
      }));

    it('closes idle connections after --idle-timeout', () =>
      withServer('http_server.mjs', 'http', loop, async ({ port }) => {
        const idle = await connect(port);
        const busy = await connect(port);
        busy.resume();
        const started = Date.now();
        // The busy connection sends a request every 100 ms, the idle one nothing.
        while (Date.now() - started < 2500) {
          busy.write('GET / HTTP/1.1\r\n\r\n');
          await sleep(100);
        }
        expect(await closedWithin(idle, 5000)).toBe(true);
        expect(busy.destroyed).toBe(false);
        busy.destroy();
      }, ['--idle-timeout', '1000']));

    it.skipIf(NO_WRK)(`survives wrk${NO_WRK ? ` (skipped: wrk ${MISSING})` : ''}`, () =>
      withServer('http_server.mjs', 'http', loop, async ({ port }) => {
        const r = await run('wrk', ['-t1', '-c10', '-d1s', `http://127.0.0.1:${port}/`], 30_000);
        const context = `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
        expect(r.code, context).toBe(0);
        const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
        expect(rate, context).toBeGreaterThan(0);
        expect(r.stdout, context).not.toMatch(/Socket errors|Non-2xx/);
      }));
  });

  describe.concurrent(`chat_server --loop ${loop}`, () => {
    it('relays messages between clients, with /nick, /who and /quit', () =>
      withServer('chat_server.mjs', 'chat', loop, async ({ port }) => {
        const a = await LineClient.connect(port);
        expect(await a.line()).toBe('* welcome guest1; /nick NAME to rename, /who, /quit to leave');
        const b = await LineClient.connect(port);
        expect(await b.line()).toMatch(/^\* welcome guest2;/);
        expect(await a.line()).toBe('* guest2 joined');
        const c = await LineClient.connect(port);
        expect(await c.line()).toMatch(/^\* welcome guest3;/);
        expect(await a.line()).toBe('* guest3 joined');
        expect(await b.line()).toBe('* guest3 joined');

        a.send('/nick alice');
        for (const x of [a, b, c]) expect(await x.line()).toBe('* guest1 is now alice');
        b.send('/nick alice');
        expect(await b.line()).toBe('* alice is taken');
        b.send('/nick not a nick!');
        expect(await b.line()).toMatch(/^\* usage: \/nick NAME/);
        b.send('/nick bob');
        for (const x of [a, b, c]) expect(await x.line()).toBe('* guest2 is now bob');

        b.send('hello, everybody');
        expect(await a.line()).toBe('bob: hello, everybody');
        expect(await c.line()).toBe('bob: hello, everybody');
        c.send('hi bob');
        expect(await a.line()).toBe('guest3: hi bob');
        expect(await b.line()).toBe('guest3: hi bob');
        a.send('/who');
        expect(await a.line()).toBe('* here: alice, bob, guest3');
        a.send('/dance');
        expect(await a.line()).toBe('* unknown command /dance; try /nick NAME, /who, /quit');

        b.send('/quit');
        expect(await b.line()).toBe('* bye');
        expect(await b.closedWithin(5000)).toBe(true);
        expect(await a.line()).toBe('* bob left');
        expect(await c.line()).toBe('* bob left');
        // Nobody heard their own messages.
        expect([...a.rest(), ...b.rest(), ...c.rest()]).toEqual([]);

        c.socket.end(); // EOF counts as leaving
        expect(await a.line()).toBe('* guest3 left');
        a.socket.destroy();
      }));

    it('disconnects a silent client after --idle-timeout, not a talking one', () =>
      withServer('chat_server.mjs', 'chat', loop, async ({ port }) => {
        const silent = await LineClient.connect(port);
        const talker = await LineClient.connect(port);
        expect(await silent.line()).toMatch(/^\* welcome guest1/);
        expect(await talker.line()).toMatch(/^\* welcome guest2/);
        expect(await silent.line()).toBe('* guest2 joined');
        const started = Date.now();
        while (Date.now() - started < 2500) {
          talker.send('/who'); // any line resets the idle timer
          await sleep(100);
        }
        expect(await silent.line()).toBe('* idle for 1 s, bye');
        expect(await silent.closedWithin(5000)).toBe(true);
        expect(talker.closed).toBe(false);
        const lines = talker.rest();
        expect(lines).toContain('* guest1 left');
        expect(lines.filter((l) => l.startsWith('* here:')).length).toBeGreaterThan(10);
        talker.socket.destroy();
      }, ['--idle-timeout', '1000']));

    it('disconnects a client that does not read once its queue is full', () =>
      withServer('chat_server.mjs', 'chat', loop, async ({ port }) => {
        const stuck = await connect(port);
        stuck.on('error', () => {});
        const talker = await LineClient.connect(port);
        expect(await talker.line()).toMatch(/^\* welcome guest2/);
        stuck.pause(); // never reads: the kernel buffers fill, then its writer waits, then its queue fills
        const line = 'x'.repeat(4000);
        let left = false;
        for (let i = 0; i < 5000 && !left; i++) {
          talker.send(line);
          if (i % 100 === 99) {
            await sleep(10);
            left = talker.rest().includes('* guest1 left');
          }
        }
        expect(left).toBe(true);
        talker.send('/who');
        expect(await talker.line()).toBe('* here: guest2');
        talker.socket.destroy();
        stuck.destroy();
      }), 30_000);

    it('works with examples/chat_client.mjs', () =>
      withServer('chat_server.mjs', 'chat', loop, async ({ port }) => {
        const client = (nick: string) => {
          const child = spawn(process.execPath, ['examples/chat_client.mjs', '--port', String(port), '--nick', nick, '--loop', loop], {
            cwd: ROOT,
            stdio: ['pipe', 'pipe', 'pipe'],
          });
          const out = { stdout: '', stderr: '' };
          child.stdout.on('data', (d) => (out.stdout += d));
          child.stderr.on('data', (d) => (out.stderr += d));
          const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
          return { child, out, exited };
        };
        const waitFor = async (out: { stdout: string }, text: string) => {
          const deadline = Date.now() + 5000;
          while (!out.stdout.includes(text)) {
            if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} in ${JSON.stringify(out.stdout)}`);
            await sleep(20);
          }
        };
        const alice = client('alice');
        await waitFor(alice.out, '* guest1 is now alice');
        const bob = client('bob');
        await waitFor(alice.out, '* guest2 is now bob');
        bob.child.stdin.end('hello alice\n/quit\n');
        expect(await bob.exited, bob.out.stderr).toBe(0);
        await waitFor(alice.out, '* bob left');
        alice.child.stdin.end(); // end of input: the client half-closes, the server says goodbye
        expect(await alice.exited, alice.out.stderr).toBe(0);
        expect(alice.out.stdout).toBe(
          '* welcome guest1; /nick NAME to rename, /who, /quit to leave\n* guest1 is now alice\n* guest2 joined\n* guest2 is now bob\nbob: hello alice\n* bob left\n',
        );
        expect(bob.out.stdout).toBe('* welcome guest2; /nick NAME to rename, /who, /quit to leave\n* guest2 is now bob\n* bye\n');
        expect(alice.out.stderr + bob.out.stderr).toBe('');
      }));
  });

  describe.concurrent(`signals --loop ${loop}`, () => {
    for (const [script, name] of [['resp_server.mjs', 'resp'], ['http_server.mjs', 'http'], ['chat_server.mjs', 'chat']] as const) {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        it(`${script}: ${signal} closes the server and its clients, exit code 0`, async () => {
          const server = await ServerProcess.start(script, name, loop);
          try {
            const client = await connect(server.port);
            const received = readAll(client, STOP_TIMEOUT_MS);
            if (name === 'chat') await sleep(100); // let it say welcome
            if (name === 'resp') client.write(encode(['PING']));
            await sleep(100);
            await server.stopCleanly(signal);
            const text = (await received).toString();  // the server closed the connection
            if (name === 'chat') expect(text).toMatch(/\* server shutting down\n$/);
            if (name === 'resp') expect(text).toBe('+PONG\r\n');
            // and stopped listening
            await expect(connect(server.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
          } finally {
            server.child.kill('SIGKILL');
          }
        });

        it(`${script}: ${signal} at once after the listening line, exit code 0`, async () => {
          // The line means "ready": the signal handlers must already be in place.
          const server = await ServerProcess.start(script, name, loop);
          await server.stopCleanly(signal);
        });
      }
    }
  });
}
