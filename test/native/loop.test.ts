/**
 * Native-loop-only behaviour: the addon's boundary (validation, closed
 * loops, re-entrancy), resource accounting, GC of unclosed loops, worker
 * threads and process exit. Everything both loops share is in
 * test/conformance. Skipped when the addon is not built.
 *
 * Debug counters (`debugCounters()`) exist only in a debug build
 * (AIOLOOP_DEBUG): `node scripts/test-asan.mjs` runs this file against one,
 * as does AIOLOOP_NATIVE_BINARY=build/Debug/aioloop.node.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { NativeLoop, sleep, type TimerHandle } from '../../lib/index.js';
import { addonPath, loadAddon, type NativeAddon, type NativeLoopBinding } from '../../lib/loops/native/addon.js';
import { DIST, runChild } from '../child.js';
import { closeCallbacksRan, turn } from '../loops.js';

const addon = loadAddon() as NativeAddon;
const built = addon !== null;
const debug = built && addon.debugBuild;
/** The binary this process loaded, for child processes and workers. */
const binaryEnv = { AIOLOOP_NATIVE_BINARY: built ? addonPath() : undefined };

function noop(): void {}

describe.runIf(built)('native addon: Loop boundary', () => {
  it('rejects bad constructor calls with TypeError', () => {
    const Loop = addon.Loop as unknown as (...a: unknown[]) => unknown;
    expect(() => Loop(noop)).toThrow(TypeError); // without new
    for (const bad of [[], [1], ['f'], [null], [{}], [noop, noop]]) {
      expect(() => new (addon.Loop as any)(...bad)).toThrow(TypeError);
    }
  });

  it('rejects wrong types, NaN and out-of-range ids at every method', () => {
    const l = new addon.Loop(noop) as NativeLoopBinding & Record<string, (...a: unknown[]) => unknown>;
    try {
      const cases: [string, unknown[], ErrorConstructor][] = [
        ['now', [1], TypeError],
        ['setRunning', [], TypeError],
        ['setRunning', [1], TypeError],
        ['setRunning', ['true'], TypeError],
        ['setReady', [null], TypeError],
        ['setReady', [true, true], TypeError],
        ['addTimer', [1], TypeError],
        ['addTimer', ['1', 0], TypeError],
        ['addTimer', [NaN, 0], RangeError],
        ['addTimer', [1, NaN], RangeError],
        ['addTimer', [1, -1], RangeError],
        ['addTimer', [1, 1.5], RangeError],
        ['addTimer', [1, 2 ** 31], RangeError],
        ['addTimer', [1, Infinity], RangeError],
        ['addTimer', [1, 1n], TypeError],
        ['cancelTimer', [], TypeError],
        ['cancelTimer', ['0'], TypeError],
        ['cancelTimer', [NaN], RangeError],
        ['cancelTimer', [-5], RangeError],
        ['applyOps', [new Float64Array(2)], TypeError],
        ['applyOps', [[1, 0], 1], TypeError],
        ['applyOps', [new Float32Array(2), 1], TypeError],
        ['applyOps', [new Float64Array(2), NaN], RangeError],
        ['applyOps', [new Float64Array(2), 2], RangeError],
        ['applyOps', [new Float64Array(2), -1], RangeError],
        ['applyOps', [new Float64Array(2), 0.5], RangeError],
        ['applyOps', [new Float64Array([1, -1]), 1], RangeError],
        ['applyOps', [new Float64Array([1, 0.5]), 1], RangeError],
        ['applyOps', [new Float64Array([1, NaN]), 1], RangeError],
        ['popDue', [1], TypeError],
        ['popDue', [NaN, new Int32Array(4)], RangeError],
        ['popDue', ['1', new Int32Array(4)], TypeError],
        ['popDue', [1, [0, 0]], TypeError],
        ['popDue', [1, new Uint32Array(4)], TypeError],
        ['popDue', [1, new Float64Array(4)], TypeError],
        ['popDue', [1, new Int32Array(0)], RangeError],
        ['nextDeadline', [0], TypeError],
        ['close', [1], TypeError],
        ['stats', [1], TypeError],
      ];
      for (const [method, args, type] of cases) {
        expect(() => l[method]!(...args), `${method}(${args.map(String).join(', ')})`).toThrow(type);
      }
      // A duplicate id is refused, not silently corrupting the heap.
      l.addTimer(5, 3);
      expect(() => l.addTimer(6, 3)).toThrow(RangeError);
      expect(l.cancelTimer(3)).toBe(true);
      expect(l.cancelTimer(3)).toBe(false);
      expect(l.cancelTimer(1000)).toBe(false);
      // A method called on something that is not a Loop does not crash.
      expect(() => (addon.Loop.prototype as any).now.call({})).not.toThrow(RangeError);
      expect(() => (addon.now as (x: unknown) => number)(1)).toThrow(TypeError);
      expect(() => (addon.debugCounters as (x: unknown) => unknown)(1)).toThrow(TypeError);
    } finally {
      l.close();
    }
  });

  it('throws from every method of a closed Loop; close() and stats() stay callable', () => {
    const l = new addon.Loop(noop);
    l.addTimer(1, 0);
    l.close();
    l.close(); // idempotent
    for (const call of [
      () => l.now(),
      () => l.setRunning(true),
      () => l.setReady(true),
      () => l.addTimer(1, 1),
      () => l.cancelTimer(0),
      () => l.popDue(1, new Int32Array(2)),
      () => l.applyOps(new Float64Array(2), 0),
      () => l.nextDeadline(),
    ]) {
      expect(call).toThrow(/closed/);
    }
    expect(l.stats()).toEqual({ handles: 0, activeHandles: 0, timers: 0, streams: 0, closedStreams: 0, references: 0, readBuffers: 0, strongReferences: 0, closed: true });
  });

  it('pops due ids in (deadline, insertion) order, in caller-sized batches', () => {
    const l = new addon.Loop(noop);
    try {
      const whens = [5, 1, 3, 3, 1, 9, 3, -Infinity, Infinity];
      whens.forEach((w, id) => l.addTimer(w, id));
      expect(l.nextDeadline()).toBe(-Infinity);
      const out = new Int32Array(2);
      const seen: number[] = [];
      for (;;) {
        const n = l.popDue(5, out);
        seen.push(...out.subarray(0, n));
        if (n < out.length) break;
      }
      expect(seen).toEqual([7, 1, 4, 2, 3, 6, 0]);
      expect(l.nextDeadline()).toBe(9);
      expect(l.stats().timers).toBe(2);
    } finally {
      l.close();
    }
  });

  it('keeps the heap consistent under random add/cancel/pop (model check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('add' as const), when: fc.integer({ min: 0, max: 50 }) }),
            fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }),
            fc.record({ op: fc.constant('pop' as const), now: fc.integer({ min: 0, max: 50 }) }),
          ),
          { maxLength: 200 },
        ),
        (ops) => {
          const l = new addon.Loop(noop);
          try {
            let nextId = 0;
            let seq = 0;
            let model: { when: number; seq: number; id: number }[] = [];
            const out = new Int32Array(3);
            // Half the ops go through the batched path (applyOps), logged
            // and flushed before anything reads the heap.
            const log: number[] = [];
            const flush = () => {
              l.applyOps(new Float64Array(log), log.length / 2);
              log.length = 0;
            };
            let k = 0;
            for (const o of ops) {
              const batched = k++ % 2 === 0;
              if (o.op !== 'pop' && !batched) flush();
              if (o.op === 'add' && batched) {
                log.push(o.when, nextId);
                model.push({ when: o.when, seq: seq++, id: nextId++ });
              } else if (o.op === 'add') {
                l.addTimer(o.when, nextId);
                model.push({ when: o.when, seq: seq++, id: nextId++ });
              } else if (o.op === 'cancel') {
                if (model.length === 0) continue;
                const victim = model[o.pick % model.length]!;
                if (batched) log.push(NaN, victim.id);
                else expect(l.cancelTimer(victim.id)).toBe(true);
                model = model.filter((m) => m !== victim);
              } else {
                flush();
                model.sort((a, b) => a.when - b.when || a.seq - b.seq);
                const due = model.filter((m) => m.when <= o.now).map((m) => m.id);
                const got: number[] = [];
                let n;
                do {
                  n = l.popDue(o.now, out);
                  got.push(...out.subarray(0, n));
                } while (n === out.length);
                expect(got).toEqual(due);
                model = model.filter((m) => m.when > o.now);
              }
              flush();
              expect(l.stats().timers).toBe(model.length);
              expect(l.nextDeadline()).toBe(model.length ? Math.min(...model.map((m) => m.when)) : Infinity);
            }
          } finally {
            l.close();
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('survives close() from inside onWake, and never wakes again', async () => {
    let wakes = 0;
    const l: NativeLoopBinding = new addon.Loop(() => {
      wakes++;
      l.close(); // uv_close of the handle whose callback is running
      expect(() => l.setReady(false)).toThrow(/closed/);
    });
    l.setRunning(true);
    l.setReady(true);
    for (let i = 0; i < 5; i++) await turn();
    expect(wakes).toBe(1);
    expect(l.stats().handles).toBe(0);
  });

  it('turns the idle handle off once a due timer has woken JS (no busy poll)', async () => {
    const active: number[] = [];
    const l: NativeLoopBinding = new addon.Loop(() => {
      l.popDue(l.now(), new Int32Array(4));
      active.push(l.stats().activeHandles); // the check handle only: no idle, no timer
      l.setRunning(false);
    });
    try {
      l.addTimer(l.now() - 1, 0); // already due: uv timer with timeout 0, then the check wakes JS
      l.setRunning(true);
      for (let i = 0; i < 5 && active.length === 0; i++) await turn();
      expect(active).toEqual([1]);
    } finally {
      l.close();
    }
  });

  it('routes an error thrown by onWake to uncaughtException, not a crash', async () => {
    const r = await runChild(
      `const { createRequire } = await import('node:module');
       const m = createRequire(import.meta.url)(process.env.AIOLOOP_NATIVE_BINARY);
       process.on('uncaughtException', (e) => { console.log('caught', e.message); l.close(); });
       const l = new m.Loop(() => { throw new Error('boom'); });
       l.setRunning(true); l.setReady(true);`,
      { env: binaryEnv },
    );
    expect(r.stdout).toBe('caught boom\n');
    expect(r.code).toBe(0);
  });
});

describe.runIf(built)('native loop', () => {
  it('releases every handle, timer and reference on close()', async () => {
    const loop = new NativeLoop();
    // Handles closed earlier (the first NativeLoop also closes its
    // hidden-class anchor loop, lib/hidden_classes.ts) are gone after this.
    await closeCallbacksRan();
    const before = addon.debugCounters();
    for (let i = 0; i < 100; i++) loop.callLater(i % 7, noop);
    const far = loop.callLater(1e9, noop);
    await loop.runUntilComplete(loop.createTask(function* () { yield* sleep(10); }));
    expect(loop._nativeStats()).toMatchObject({ handles: 3, timers: 1, references: 2, strongReferences: 0 });
    loop.close();
    expect(far.cancelled()).toBe(false);
    far.cancel(); // after close: a no-op, not a crash
    expect(loop._nativeStats()).toEqual({ handles: 0, activeHandles: 0, timers: 0, streams: 0, closedStreams: 0, references: 0, readBuffers: 0, strongReferences: 0, closed: true });
    await closeCallbacksRan();
    if (debug) {
      const after = addon.debugCounters()!;
      expect(after.liveHandles).toBe(before!.liveHandles - 3);
    }
  });

  it.runIf(debug)('leaves no native handles behind (debug build counters)', async () => {
    await closeCallbacksRan();
    const base = addon.debugCounters()!;
    for (let i = 0; i < 20; i++) {
      const loop = new NativeLoop();
      loop.callLater(1, noop);
      await loop.runUntilComplete(loop.createTask(function* () { yield* sleep(1); }));
      loop.close();
    }
    await closeCallbacksRan();
    expect(addon.debugCounters()!.liveHandles).toBe(base.liveHandles);
  });

  it('holds no ref on Node while not running, and releases the wake callback for GC', () => {
    const loop = new NativeLoop();
    try {
      expect(loop._nativeStats()).toMatchObject({ activeHandles: 0, strongReferences: 0 });
      loop.callLater(1e6, noop);
      expect(loop._nativeStats()).toMatchObject({ activeHandles: 0, timers: 1 });
    } finally {
      loop.close();
    }
  });

  it('supports stop() then close() from inside a callback, as the default loop does', async () => {
    const loop = new NativeLoop();
    let error: unknown;
    loop.callLater(1, () => {
      loop.stop();
      try {
        loop.close();
      } catch (e) {
        error = e;
      }
    });
    await loop.runForever();
    expect(String(error)).toContain('Cannot close a running event loop');
    loop.close(); // inside the check callback's MakeCallback scope (a microtask after runForever resolves)
    expect(loop.isClosed()).toBe(true);
    expect(loop._nativeStats().handles).toBe(0);
  });

  it('closes from the continuation of runUntilComplete (inside the native wake)', async () => {
    const loop = new NativeLoop();
    const closed = loop.runUntilComplete(loop.createTask(function* () { yield* sleep(2); })).then(() => {
      loop.close();
      return loop._nativeStats().handles;
    });
    expect(await closed).toBe(0);
  });

  it('never runs a timer early against loop.time(), at sub-millisecond delays', async () => {
    const loop = new NativeLoop();
    try {
      const early: number[] = [];
      const handles: TimerHandle[] = [];
      for (let i = 0; i < 200; i++) {
        const delay = (i % 40) / 10; // 0 .. 3.9 ms
        const h: TimerHandle = loop.callLater(delay, () => {
          const late = loop.time() - h.when();
          if (late < 0) early.push(late);
        });
        handles.push(h);
      }
      await loop.runUntilComplete(loop.createTask(function* () { yield* sleep(10); }));
      expect(early).toEqual([]);
    } finally {
      loop.close();
    }
  });

  it('cancels a million timers without touching libuv, and frees the heap on close', () => {
    const loop = new NativeLoop();
    try {
      const hs: TimerHandle[] = [];
      for (let i = 0; i < 100_000; i++) hs.push(loop.callLater(Math.random() * 1e6, noop));
      expect(loop._nativeStats().timers).toBe(100_000);
      for (const h of hs) h.cancel();
      expect(loop._nativeStats().timers).toBe(0);
    } finally {
      loop.close();
    }
  });

  it('does not crash when a loop is dropped without close() and collected', async () => {
    const r = await runChild(
      `async function make(run) {
         const loop = new aio.NativeLoop();
         for (let i = 0; i < 50; i++) loop.callLater(i, () => {});
         loop.callLater(1e9, () => {});
         if (run) await loop.runUntilComplete(loop.createTask(function* () { yield* aio.sleep(2); }));
       }
       for (let i = 0; i < 20; i++) await make(i % 2 === 0);
       for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
       console.log('survived');`,
      { nodeArgs: ['--expose-gc'], env: binaryEnv },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('survived\n');
    expect(r.code).toBe(0);
  });

  it('a hot method kept after its loop object was collected throws instead of reaching freed memory', async () => {
    const r = await runChild(
      `const { createRequire } = await import('node:module');
       const native = createRequire(import.meta.url)(process.env.AIOLOOP_NATIVE_BINARY);
       let flush, write, collected = false;
       const registry = new FinalizationRegistry(() => { collected = true; });
       (() => { const l = new native.Loop(() => {}); flush = l.flush; write = l.write; registry.register(l, 0); })();
       for (let i = 0; i < 10 && !collected; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
       for (const call of [() => flush(0), () => write(0, new Uint8Array(1))]) {
         try { call(); console.log('no error'); } catch (e) { console.log(collected, e.message); }
       }`,
      { nodeArgs: ['--expose-gc'], env: binaryEnv },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('true this native loop was garbage-collected\n'.repeat(2));
    expect(r.code).toBe(0);
  });

  it.runIf(debug)('frees the handles of a collected, unclosed loop (debug build)', async () => {
    const r = await runChild(
      `const { createRequire } = await import('node:module');
       const native = createRequire(import.meta.url)(process.env.AIOLOOP_NATIVE_BINARY);
       // In a function: the suspended top-level async module body would keep its last local alive.
       (() => { for (let i = 0; i < 10; i++) { const loop = new aio.NativeLoop(); loop.callLater(1e9, () => {}); } })();
       for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
       for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r)); // finalizers, then close callbacks
       console.log(JSON.stringify(native.debugCounters()));`,
      { nodeArgs: ['--expose-gc'], env: binaryEnv },
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ liveHandles: 0, liveLoops: 0 });
  });

  it('lets the process exit while the loop is idle and not running', async () => {
    const r = await runChild(
      `const loop = new aio.NativeLoop();
       loop.callLater(60_000, () => console.log('never'));
       console.log(await loop.runUntilComplete(loop.createTask(function* () { yield* aio.sleep(1); return 'ran'; })));
       // not closed, a timer pending, not running: nothing may keep Node alive`,
      { env: binaryEnv, timeoutMs: 10_000 },
    );
    expect(r.stdout).toBe('ran\n');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5_000);
  });

  it('does not spin the CPU while running and waiting for timers', async () => {
    // The idle handle must be off whenever nothing is ready: left on, libuv
    // polls with a zero timeout and a waiting loop burns a core.
    const r = await runChild(
      `const loop = new aio.NativeLoop();
       let fired = 0;
       for (const d of [1, 5, 10, 20]) loop.callLater(d, () => fired++);
       loop.callLater(30, () => loop.callSoon(() => {})); // a burst that ends in a wait
       loop.callLater(300, () => loop.stop());
       await new Promise((r) => setTimeout(r, 0));
       const cpu0 = process.cpuUsage();
       await loop.runForever();
       const cpu = process.cpuUsage(cpu0);
       console.log(fired, (cpu.user + cpu.system) / 1000 < 100);`,
      { env: binaryEnv },
    );
    expect(r.stdout).toBe('4 true\n');
  });

  it('keeps the process alive while running', async () => {
    const r = await runChild(
      `const loop = new aio.NativeLoop();
       const t0 = performance.now(); // before scheduling: the first performance.now() can be slow
       loop.callLater(200, () => loop.stop()); // nothing but the loop keeps Node alive
       await loop.runForever();
       console.log(performance.now() - t0 >= 199);`,
      { env: binaryEnv },
    );
    expect(r.stdout).toBe('true\n');
    expect(r.code).toBe(0);
  });

  it('works inside worker threads, including a worker terminated while its loop runs', async () => {
    const body = (mode: string) => `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(DIST)}).then(async (aio) => {
        const loop = new aio.NativeLoop();
        if (${JSON.stringify(mode)} === 'finish') {
          const v = await loop.runUntilComplete(loop.createTask(function* () { yield* aio.sleep(2); return 42; }));
          loop.close();
          const idle = new aio.NativeLoop(); // left open and idle: must not keep the worker alive
          idle.callLater(1e9, () => {});
          parentPort.postMessage(v);
        } else {
          loop.callSoon(() => parentPort.postMessage('running'));
          loop.callLater(1e9, () => {});
          await loop.runForever();
        }
      });`;
    const start = (mode: string) => new Worker(body(mode), { eval: true, env: { ...process.env, ...binaryEnv } });

    const finisher = start('finish');
    const message = new Promise((r) => finisher.once('message', r));
    const exited = new Promise((r) => finisher.once('exit', r));
    expect(await message).toBe(42);
    expect(await exited).toBe(0);

    const runner = start('run');
    expect(await new Promise((r) => runner.once('message', r))).toBe('running');
    expect(await runner.terminate()).toBe(1);
  });

  it('survives workers terminated while they call into the addon and it throws (every kind of entry point)', async () => {
    // An addon error in a worker being terminated: node-addon-api's napi_throw
    // fails (a termination is pending) and it threw again into std::terminate,
    // aborting the whole process (each of these four crashed within 20 tries).
    const r = await runChild(
      `const { Worker } = await import('node:worker_threads');
       const calls = { proto: 'l.addTimer("x", 0)', bound: 'l.flush("x")', ctor: 'new native.Loop(1)', free: 'native.now(1)' };
       for (const [kind, call] of Object.entries(calls)) {
         for (let i = 0; i < 12; i++) {
           const w = new Worker(\`
             const native = require(process.env.AIOLOOP_NATIVE_BINARY);
             const l = new native.Loop(() => {});
             require('node:worker_threads').parentPort.postMessage('calling');
             for (;;) { try { \${call}; } catch {} }\`, { eval: true, env: process.env, execArgv: [] }); // a script, not this -e module
           w.on('error', (e) => console.error(e));
           await new Promise((r) => w.once('message', r));
           await new Promise((r) => setTimeout(r, 2 + (i % 5) * 3));
           await w.terminate();
         }
       }
       console.log('survived');`,
      { env: binaryEnv, timeoutMs: 60_000 },
    );
    expect({ stderr: r.stderr, code: r.code, signal: r.signal }).toEqual({ stderr: '', code: 0, signal: null });
    expect(r.stdout).toBe('survived\n');
    expect(r.code).toBe(0);
  }, 70_000);
});
