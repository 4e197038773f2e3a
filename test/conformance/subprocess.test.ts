/** Subprocesses with real processes (asyncio's test_subprocess), on every loop. */
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  createSubprocessExec,
  createSubprocessShell,
  createTask,
  fromPromise,
  getRunningLoop,
  sleep,
  type Coroutine,
  type EventLoop,
  type Protocol,
  type WriteTransport,
  type SubprocessProtocol,
  type SubprocessTransport,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    expect((e as NodeJS.ErrnoException).code).toBe('ESRCH');
    return false;
  }
}

class Collector implements SubprocessProtocol {
  events: string[] = [];
  out: Buffer[] = [];
  err: Buffer[] = [];
  onLoop: boolean[] = [];
  done = getRunningLoop().createFuture<void>();
  connectionMade() {
    this.events.push('connectionMade');
  }
  pipeDataReceived(fd: number, data: Buffer) {
    this.onLoop.push(getRunningLoop() === this.done.getLoop());
    (fd === 1 ? this.out : this.err).push(data);
  }
  pipeConnectionLost(fd: number) {
    this.events.push(`pipeConnectionLost(${fd})`);
  }
  processExited() {
    this.events.push('processExited');
  }
  connectionLost() {
    this.events.push('connectionLost');
    this.done.setResult();
  }
}

describe.each(LOOPS)('$name loop: subprocess protocol', (kind) => {
  it('delivers pipe data, pipe loss, exit and connectionLost on the loop', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const [t, p] = yield* fromPromise(
          loop.subprocessShell(() => new Collector(), 'cat; echo err >&2; exit 3'),
        );
        expect(t.getPid()).toBeGreaterThan(0);
        expect(t.getReturncode()).toBeNull();
        const stdin = t.getPipeTransport(0) as { write(d: string): void; close(): void };
        stdin.write('hello');
        stdin.close();
        yield* p.done;
        expect(String(Buffer.concat(p.out))).toBe('hello');
        expect(String(Buffer.concat(p.err))).toBe('err\n');
        expect(t.getReturncode()).toBe(3);
        expect(p.events[0]).toBe('connectionMade');
        expect(p.events.at(-1)).toBe('connectionLost');
        expect(p.events.filter((e) => e.startsWith('pipe')).sort()).toEqual([
          'pipeConnectionLost(0)',
          'pipeConnectionLost(1)',
          'pipeConnectionLost(2)',
        ]);
        expect(p.events).toContain('processExited');
        expect(p.onLoop.every(Boolean)).toBe(true);
        t.close();
      }),
    ),
  );

  it('a throwing pipeDataReceived goes to the exception handler and kills the child', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const messages: string[] = [];
        loop.setExceptionHandler((_l, ctx) => messages.push(ctx.message));
        const done = loop.createFuture<void>();
        const [t] = yield* fromPromise(
          loop.subprocessShell(
            () => ({
              pipeDataReceived() {
                throw new Error('boom');
              },
              connectionLost: () => done.setResult(),
            }),
            'echo hi; sleep 30',
          ),
        );
        yield* done;
        expect(messages).toEqual(['Fatal error: protocol.pipeDataReceived() call failed.']);
        expect(t.getReturncode()).toBe(-9);
        expect(alive(t.getPid())).toBe(false);
      }),
    ),
  );

  it('a missing program rejects with code ENOENT; bad arguments throw', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const e = yield* fromPromise(
          loop.subprocessExec(() => ({}), 'aioloop-no-such-program', []).then(() => null, (err) => err),
        );
        expect(e).toBeInstanceOf(Error);
        expect((e as NodeJS.ErrnoException).code).toBe('ENOENT');
        expect(() => loop.subprocessExec(() => ({}), 42 as never, [])).toThrow(TypeError);
        expect(() => loop.subprocessExec(() => ({}), 'ls', [1 as never])).toThrow(TypeError);
        expect(() => loop.subprocessExec(() => ({}), 'ls', [], { stdout: 'file' as never })).toThrow(RangeError);
        expect(() => createSubprocessExec('ls', [], { cwd: 5 as never })).toThrow(TypeError);
        // NUL bytes end a C string: refused up front, the same on both loops.
        expect(() => loop.subprocessExec(() => ({}), 'l\0s', [])).toThrow(TypeError);
        expect(() => loop.subprocessExec(() => ({}), 'ls', ['a\0'])).toThrow(TypeError);
        expect(() => loop.subprocessShell(() => ({}), 'true\0')).toThrow(TypeError);
        expect(() => loop.subprocessExec(() => ({}), 'ls', [], { cwd: '/\0' })).toThrow(TypeError);
        const [t] = yield* fromPromise(loop.subprocessExec(() => ({}), 'true', [], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' }));
        expect(t.getPipeTransport(1)).toBeNull();
        expect(() => (t as SubprocessTransport).sendSignal('SIGNOPE' as never)).toThrow(RangeError);
        expect(() => (t as SubprocessTransport).sendSignal({} as never)).toThrow(TypeError);
        t.close();
      }),
    ),
  );

  it("stderr 'stdout' (asyncio's STDOUT) delivers both streams as fd 1, in the order written; there is no fd 2", () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        // 64 KiB to stderr between two stdout lines: more than a socket
        // buffer, so the order holds only if both fds are one stream.
        const [t, p] = yield* fromPromise(
          loop.subprocessShell(() => new Collector(), `echo first; head -c 65536 /dev/zero | tr '\\0' e >&2; echo; echo last`, {
            stdin: 'ignore',
            stdout: 'pipe',
            stderr: 'stdout',
          }),
        );
        expect(t.getPipeTransport(1)).not.toBeNull();
        expect(t.getPipeTransport(2)).toBeNull();
        yield* p.done;
        expect(p.err).toEqual([]);
        expect(String(Buffer.concat(p.out))).toBe(`first\n${'e'.repeat(65536)}\nlast\n`);
        expect(p.events.filter((e) => e.startsWith('pipe'))).toEqual(['pipeConnectionLost(1)']);
        expect(t.getReturncode()).toBe(0);
        t.close();
      }),
    ),
  );

  it("stderr 'stdout' is refused for stdin and stdout; other stderr values are still checked", () =>
    withLoop(kind, async (loop) => {
      expect(() => loop.subprocessExec(() => ({}), 'true', [], { stdin: 'stdout' as never })).toThrow(
        "subprocessExec() stdin must be 'pipe', 'inherit' or 'ignore', not \"stdout\"",
      );
      expect(() => loop.subprocessShell(() => ({}), 'true', { stdout: 'stdout' as never })).toThrow(RangeError);
      expect(() => createSubprocessExec('true', [], { stderr: 'stderr' as never })).toThrow(
        "createSubprocessExec() stderr must be 'pipe', 'inherit', 'ignore' or 'stdout', not \"stderr\"",
      );
      expect(() => createSubprocessExec('true', [], { stderr: 2 as never })).toThrow(TypeError);
    }),
  );
});

describe.each(LOOPS)('$name loop: Process (streams)', (kind) => {
  it('passes env and cwd, reports exit codes', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const dir = fs.realpathSync(os.tmpdir());
        const proc = yield* createSubprocessShell('echo "$AIO_X"; pwd; exit 7', {
          env: { ...process.env, AIO_X: 'value-x' },
          cwd: dir,
          stdin: 'ignore',
          stdout: 'pipe',
          stderr: 'pipe',
        });
        expect(proc.returncode).toBeNull();
        const [out, err] = yield* proc.communicate();
        expect(String(out)).toBe(`value-x\n${dir}\n`);
        expect(String(err)).toBe('');
        expect(proc.returncode).toBe(7);
        const ok = yield* createSubprocessExec('sh', ['-c', 'read x; echo "got $x"'], { stdin: 'pipe', stdout: 'pipe' });
        expect(ok.stderr).toBeNull();
        ok.stdin!.write('line\n');
        expect(String(yield* ok.stdout!.readline())).toBe('got line\n');
        expect(yield* ok.wait()).toBe(0);
        expect(ok.returncode).toBe(0);
        const missing = yield* fromPromise(
          Promise.resolve(createSubprocessExec('aioloop-no-such-program')).then(() => null, (e) => e),
        );
        expect((missing as NodeJS.ErrnoException).code).toBe('ENOENT');
      }),
    ),
  );

  it('inherits stdin, stdout and stderr unless asked to pipe them, as asyncio\'s create_subprocess_exec', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        // The child's stdout is this process's: a temporary file here, so
        // what the child wrote can be read back.
        const file = path.join(os.tmpdir(), `aioloop-inherit-${process.pid}-${kind.name}.txt`);
        const script = `const fs = require('fs'); fs.writeSync(1, 'to inherited stdout');`;
        const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
          import * as aio from ${JSON.stringify(path.resolve('dist/index.js'))};
          await aio.run(function* () {
            const p = yield* aio.createSubprocessExec(process.execPath, ['-e', ${JSON.stringify(script)}]);
            const piped = [p.stdin, p.stdout, p.stderr].map((s) => s !== null);
            const out = yield* p.communicate('ignored without a stdin pipe');
            process.stderr.write(JSON.stringify({ piped, out, code: p.returncode }));
          }, { loop: ${JSON.stringify(kind.name)} });
        `], { stdio: ['ignore', fs.openSync(file, 'w'), 'pipe'], encoding: 'utf8', timeout: 20_000 });
        try {
          expect(child.status).toBe(0);
          expect(JSON.parse(child.stderr)).toEqual({ piped: [false, false, false], out: [null, null], code: 0 });
          expect(fs.readFileSync(file, 'utf8')).toBe('to inherited stdout');
        } finally {
          fs.rmSync(file, { force: true });
        }
        // sendSignal(0) is kill(2)'s probe: it sends nothing.
        const p = yield* createSubprocessExec('sleep', ['30'], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
        p.sendSignal(0);
        yield* sleep(20);
        expect(p.returncode).toBeNull();
        p.kill();
        expect(yield* p.wait()).toBe(-9);
      }),
    ),
  );

  it("stderr 'stdout' merges into the stdout pipe: one socket for fds 1 and 2, nothing else leaks to the child", () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const merged = yield* createSubprocessShell('echo out; echo err >&2; echo out2 >&1; echo err2 >&2', {
          stdout: 'pipe',
          stderr: 'stdout',
        });
        expect(merged.stderr).toBeNull();
        const [out, err] = yield* merged.communicate();
        expect(String(out)).toBe('out\nerr\nout2\nerr2\n');
        expect(err).toBeNull();
        expect(merged.returncode).toBe(0);
        if (process.platform !== 'linux') return;
        // fd 1 and fd 2 are the same socket, and the child holds no other
        // descriptor than a child with ordinary pipes does (our end of the
        // pair is close-on-exec).
        const fds = function* (stderr: 'pipe' | 'stdout') {
          const p = yield* createSubprocessExec('sh', ['-c', 'readlink /proc/self/fd/1 /proc/self/fd/2; ls /proc/self/fd'], {
            stdin: 'ignore',
            stdout: 'pipe',
            stderr,
          });
          const [o] = yield* p.communicate();
          const [one, two, ...listed] = String(o).trim().split('\n');
          return { same: one === two, listed: listed.join(' ') };
        };
        const ours = yield* fds('stdout');
        const plain = yield* fds('pipe');
        expect(ours.same).toBe(true);
        expect(plain.same).toBe(false);
        expect(ours.listed).toBe(plain.listed);
      }),
    ),
  );

  it("stderr 'stdout' follows an inherited or ignored stdout", () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        // Ignored: the child's fd 2 is /dev/null, as its fd 1.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aioloop-merge-'));
        try {
          const file = path.join(dir, 'fd2');
          const quiet = yield* createSubprocessExec('sh', ['-c', `readlink /proc/self/fd/2 > ${file}`], {
            stdin: 'ignore',
            stdout: 'ignore',
            stderr: 'stdout',
          });
          expect(yield* quiet.wait()).toBe(0);
          if (process.platform === 'linux') expect(fs.readFileSync(file, 'utf8')).toBe('/dev/null\n');
          // Inherited: stderr lands in this process's stdout (a file here).
          const outFile = path.join(dir, 'stdout');
          const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
            import * as aio from ${JSON.stringify(path.resolve('dist/index.js'))};
            await aio.run(function* () {
              const p = yield* aio.createSubprocessShell('echo to-stdout; echo to-stderr >&2', { stderr: 'stdout' });
              process.stderr.write(JSON.stringify({ code: yield* p.wait(), piped: [p.stdout, p.stderr].map((s) => s !== null) }));
            }, { loop: ${JSON.stringify(kind.name)} });
          `], { stdio: ['ignore', fs.openSync(outFile, 'w'), 'pipe'], encoding: 'utf8', timeout: 20_000 });
          expect(child.status).toBe(0);
          expect(JSON.parse(child.stderr)).toEqual({ code: 0, piped: [false, false] });
          expect(fs.readFileSync(outFile, 'utf8')).toBe('to-stdout\nto-stderr\n');
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
    ),
  );

  it('reports -9 / -15 for a process killed by a signal', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const a = yield* createSubprocessExec('sleep', ['30'], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
        const b = yield* createSubprocessExec('sleep', ['30'], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
        a.kill();
        b.terminate();
        expect(yield* a.wait()).toBe(-9);
        expect(yield* b.wait()).toBe(-15);
        expect(a.returncode).toBe(-9);
        a.kill(); // after exit: nothing
      }),
    ),
  );

  it('communicate() moves 64 MiB through stdout (and stdin) without deadlock', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const size = 64 * 1024 * 1024;
        const big = yield* createSubprocessExec('head', ['-c', String(size), '/dev/zero'], { stdin: 'ignore', stdout: 'pipe' });
        const [out] = yield* big.communicate();
        expect(out!.length).toBe(size);
        expect(big.returncode).toBe(0);
        // stdin and stdout at once: cat echoes 8 MiB back while we still write.
        const input = Buffer.alloc(8 * 1024 * 1024, 'x');
        const cat = yield* createSubprocessExec('cat', [], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
        const [echoed, err] = yield* cat.communicate(input);
        expect(echoed!.equals(input)).toBe(true);
        expect(err!.length).toBe(0);
      }),
    ),
  );

  it('cancelling a task in communicate() kills and reaps the child (no zombie)', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const proc = yield* createSubprocessExec('sleep', ['30'], { stdout: 'pipe' });
        const task = createTask(proc.communicate());
        yield* sleep(50);
        expect(alive(proc.pid)).toBe(true);
        task.cancel();
        let cancelled = false;
        try {
          yield* task;
        } catch (e) {
          cancelled = e instanceof CancelledError;
        }
        expect(cancelled).toBe(true);
        expect(proc.returncode).toBe(-9);
        expect(alive(proc.pid)).toBe(false); // reaped: not even a zombie
      }),
    ),
  );

  it('cancelling a task in wait() leaves the child running; it is reaped when it exits', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const proc = yield* createSubprocessExec('sleep', ['30'], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
        const task = createTask(proc.wait());
        yield* sleep(10);
        task.cancel();
        yield* sleep(10);
        expect(task.cancelled()).toBe(true);
        expect(alive(proc.pid)).toBe(true);
        proc.kill();
        expect(yield* proc.wait()).toBe(-9);
        expect(alive(proc.pid)).toBe(false);
      }),
    ),
  );
});

class PipeReader implements Protocol {
  events: string[] = [];
  data: Buffer[] = [];
  lost = getRunningLoop().createFuture<Error | null>();
  connectionMade() {
    this.events.push('connectionMade');
  }
  dataReceived(d: Buffer) {
    this.data.push(d);
  }
  eofReceived() {
    this.events.push('eofReceived');
  }
  connectionLost(err: Error | null) {
    this.events.push('connectionLost');
    this.lost.setResult(err);
  }
}

describe.each(LOOPS)('$name loop: connectReadPipe / connectWritePipe', (kind) => {
  it("round-trips through a child's stdin and stdout pipes", () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
        const exited = new Promise((r) => child.once('exit', r));
        const [w] = yield* fromPromise(loop.connectWritePipe(() => ({}), child.stdin!));
        const [r, p] = yield* fromPromise(loop.connectReadPipe(() => new PipeReader(), child.stdout!));
        expect(r.isReading()).toBe(true);
        (w as WriteTransport).write('hello ');
        w.writelines(['pipe', 's']);
        w.close();
        expect(yield* p.lost).toBeNull();
        expect(String(Buffer.concat(p.data))).toBe('hello pipes');
        expect(p.events).toEqual(['connectionMade', 'eofReceived', 'connectionLost']);
        yield* fromPromise(exited);
      }),
    ),
  );

  it('round-trips through a FIFO given as two file descriptors', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const fifo = path.join(os.tmpdir(), `aioloop-fifo-${process.pid}-${Date.now()}`);
        execFileSync('mkfifo', [fifo]);
        try {
          // O_NONBLOCK: opening a FIFO end must not wait for the other end.
          const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
          const wfd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
          const [r, p] = yield* fromPromise(loop.connectReadPipe(() => new PipeReader(), rfd));
          const [w] = yield* fromPromise(loop.connectWritePipe(() => ({}), wfd));
          expect(r.isReading()).toBe(true);
          const big = Buffer.alloc(1 << 20, 'f'); // more than the pipe holds: flow control and queued writes
          w.write('hello fifo ');
          w.write(big);
          w.close();
          expect(yield* p.lost).toBeNull();
          const got = Buffer.concat(p.data);
          expect(got.length).toBe(11 + big.length);
          expect(String(got.subarray(0, 11))).toBe('hello fifo ');
          expect(p.events).toEqual(['connectionMade', 'eofReceived', 'connectionLost']);
        } finally {
          fs.rmSync(fifo, { force: true });
        }
      }),
    ),
  );

  it('reads a file descriptor; bad pipes throw', () =>
    withLoop(kind, (loop) =>
      run(loop, function* () {
        const file = path.join(os.tmpdir(), `aioloop-pipe-${process.pid}.txt`);
        fs.writeFileSync(file, 'from a file');
        try {
          const fd = fs.openSync(file, 'r');
          const [, p] = yield* fromPromise(loop.connectReadPipe(() => new PipeReader(), fd));
          yield* p.lost;
          expect(String(Buffer.concat(p.data))).toBe('from a file');
        } finally {
          fs.rmSync(file, { force: true });
        }
        expect(() => loop.connectReadPipe(() => ({}), -1)).toThrow(RangeError);
        expect(() => loop.connectReadPipe(() => ({}), 'x' as never)).toThrow(TypeError);
        expect(() => loop.connectWritePipe(() => ({}), {} as never)).toThrow(TypeError);
      }),
    ),
  );
});
