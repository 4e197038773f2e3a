/**
 * The loop's optimized code survives a full garbage collection that finds
 * no Future, Task or loop alive (lib/hidden_classes.ts): the next run does
 * not deoptimize it. Runs in a child process with V8's --trace-deopt.
 */
import { describe, expect, it } from 'vitest';
import { runChild } from '../child.js';
import { LOOPS } from '../loops.js';

/**
 * V8's trace lines for a function deoptimized because a hidden class it was
 * optimized for is gone: eagerly ("wrong map": the object has a new map), or
 * marked for lazy deopt ("weak objects": a map embedded in the code died).
 * Other reasons are left out: a path that runs for the first time in the
 * measured run (the native loop yielding to I/O once a burst passes its 2 ms
 * budget on a loaded machine) deoptimizes with "Insufficient type feedback",
 * and that depends on timing, not on hidden classes.
 */
const DEOPT =
  /reason: (?:wrong map|weak objects)\).*deoptimizing [^<]*<JSFunction ([^ >]+)|<SharedFunctionInfo ([^>]+)>\) \(opt id \d+\) for deoptimization, reason: (?:wrong map|weak objects)/;

describe.each(LOOPS)('$name loop: hidden classes', (kind) => {
  const loopClass = kind.name === 'native' ? 'NativeLoop' : 'DefaultLoop';

  it('keeps its optimized code across a full GC that finds no Future, Task or loop alive', async () => {
    // Two tasks ping-ponging through Futures (the loop drain, Task steps,
    // yield* on a Future, setResult, callSoon and callLater handles), on a
    // fresh loop each run, which is closed and dropped before the GC.
    const r = await runChild(
      `function pingPong(rounds) {
         const loop = new aio.${loopClass}();
         let toB = loop.createFuture(), toA = null, received = 0;
         const ponger = loop.createTask(function* () {
           for (let i = 0; i < rounds; i++) { const v = yield* toB; toB = loop.createFuture(); toA.setResult(v); }
         });
         const pinger = loop.createTask(function* () {
           for (let i = 0; i < rounds; i++) {
             toA = loop.createFuture();
             loop.callSoon((f, v) => f.setResult(v), toB, i);
             received += (yield* toA) === i ? 1 : 0;
             if (i % 1000 === 0) yield* aio.sleep(0.001);
           }
           yield* ponger;
         });
         return loop.runUntilComplete(pinger).then(() => { loop.close(); return received; });
       }
       let total = 0;
       for (let i = 0; i < 4; i++) { total += await pingPong(20000); globalThis.gc(); }
       console.log('--- measured run ---');
       total += await pingPong(20000);
       console.log('--- done', total);`,
      { nodeArgs: ['--expose-gc', '--trace-deopt'], timeoutMs: 60_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [, after] = r.stdout.split('--- measured run ---\n');
    expect(after).toContain(`--- done ${5 * 20000}`);
    const deopts = after!
      .split('\n')
      .map((line) => DEOPT.exec(line))
      .filter((m) => m !== null)
      .map((m) => m![1] ?? m![2]);
    expect(deopts).toEqual([]);
  }, 60_000);
});
