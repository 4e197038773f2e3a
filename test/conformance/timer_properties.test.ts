/**
 * Timers and ready callbacks under random schedules, on every loop: timers
 * made at the start and from other timers' callbacks (so they go through
 * the pending list, the store and, on the native loop, the C++ heap's op
 * log, with ids freed and reused), some at equal deadlines, cancelled from
 * outside and from callbacks, with callSoon chains in between. asyncio's
 * rules, whatever the schedule:
 * - a timer runs exactly once if it was not cancelled before its turn, and
 *   never otherwise;
 * - never before its deadline (`loop.time() >= handle.when()`);
 * - in deadline order, FIFO among equal deadlines: of two timers both made
 *   before the iteration that ran the earlier-run one (due timers are taken
 *   at the start of an iteration: one made by a callback of that iteration
 *   waits for the next, whatever its deadline), the later-run one has the
 *   later deadline, or the same deadline and was made later;
 * - a callSoon made by a callback runs after that callback, before the loop
 *   is done.
 *
 * fast-check prints the seed and the shrunk schedule of a failure; replay
 * one with `fc.assert(..., { seed, path })` in this file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventLoop, TimerHandle } from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

const timerSpec = fc.record({
  /** -1: made at the start; else made when timer `parent` (an earlier one) runs. */
  parent: fc.integer({ min: -1, max: 30 }),
  delay: fc.constantFrom(0, 0, 0.25, 1, 1, 2, 3),
  /** Same deadline as this earlier timer (callAt its when()) instead of a delay. */
  sameAs: fc.option(fc.nat(30), { freq: 4 }),
  /** Timers this one cancels when it runs. */
  cancels: fc.array(fc.nat(30), { maxLength: 2 }),
  /** callSoon chain length this one starts when it runs. */
  soon: fc.nat(3),
});
const schedule = fc.record({
  timers: fc.array(timerSpec, { minLength: 1, maxLength: 30 }),
  /** Timers cancelled right after the start timers are made. */
  cancelAtStart: fc.array(fc.nat(30), { maxLength: 3 }),
});
type Schedule = typeof schedule extends fc.Arbitrary<infer T> ? T : never;

interface Record_ {
  /** Order of creation (the FIFO key). */
  seq: number;
  handle: TimerHandle;
  ranAt: number | null;
  /** Position in the run order. */
  ranIndex: number;
  /** The loop iteration it was made in (0: before the loop ran), and the one it ran in. */
  madeIn: number;
  ranIn: number;
  cancelledBeforeRun: boolean;
}

function runSchedule(loop: EventLoop, s: Schedule): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const recs: (Record_ | undefined)[] = [];
    let runs = 0;
    let seq = 0;
    let soonPending = 0;
    // Iterations, counted by a callback that schedules itself again: it runs
    // first in each iteration (due timers join the ready queue behind it).
    let iteration = 0;
    let counting = true;
    const mark = () => {
      iteration++;
      if (counting) loop.callSoon(mark);
    };
    loop.callSoon(mark);
    const fail = (e: unknown) => {
      loop.stop();
      reject(e);
    };
    const make = (i: number) => {
      const spec = s.timers[i]!;
      const base = spec.sameAs !== null && spec.sameAs < i ? recs[spec.sameAs] : undefined;
      const cb = () => {
        try {
          const r = recs[i]!;
          r.ranAt = loop.time();
          r.ranIndex = runs++;
          r.ranIn = iteration;
          for (const c of spec.cancels) {
            const other = recs[c];
            if (other !== undefined && other.ranAt === null && !other.handle.cancelled()) {
              other.handle.cancel();
              other.cancelledBeforeRun = true;
            }
          }
          for (let k = i + 1; k < s.timers.length; k++) if (s.timers[k]!.parent === i) make(k);
          let left = spec.soon;
          const hop = () => {
            if (--left > 0) loop.callSoon(hop);
            else {
              soonPending--;
              finishIfDone();
            }
          };
          if (left > 0) {
            soonPending++;
            loop.callSoon(hop);
          }
          finishIfDone();
        } catch (e) {
          fail(e);
        }
      };
      const handle = base !== undefined ? loop.callAt(base.handle.when(), cb) : loop.callLater(spec.delay, cb);
      recs[i] = { seq: seq++, handle, ranAt: null, ranIndex: -1, madeIn: iteration, ranIn: -1, cancelledBeforeRun: false };
    };
    s.timers.forEach((t, i) => {
      if (t.parent < 0 || t.parent >= i) make(i);
    });
    for (const c of s.cancelAtStart) {
      const r = recs[c];
      if (r !== undefined && !r.handle.cancelled()) {
        r.handle.cancel();
        r.cancelledBeforeRun = true;
      }
    }
    // Done when every timer made has run or was cancelled (a cancelled one
    // never makes its children) and every callSoon chain ended; a live timer
    // still waiting after 2 s fails the case.
    let finished = false;
    const finishIfDone = () => {
      if (finished || soonPending > 0) return;
      if (recs.some((r) => r !== undefined && r.ranAt === null && !r.cancelledBeforeRun)) return;
      finished = true;
      check();
    };
    const guard = loop.callLater(2000, () => {
      if (finished) return;
      finished = true;
      check();
    });
    const check = () => {
      guard.cancel();
      try {
        const made = recs.filter((r): r is Record_ => r !== undefined);
        for (const r of made) {
          if (r.cancelledBeforeRun) expect(r.ranAt, 'a cancelled timer ran').toBeNull();
          else expect(r.ranAt, 'a live timer did not run').not.toBeNull();
          if (r.ranAt !== null) expect(r.ranAt).toBeGreaterThanOrEqual(r.handle.when());
        }
        const ran = made.filter((r) => r.ranAt !== null).sort((a, b) => a.ranIndex - b.ranIndex);
        for (let x = 0; x < ran.length; x++) {
          for (let y = x + 1; y < ran.length; y++) {
            const early = ran[x]!;
            const late = ran[y]!;
            // Only if `late` was made before the iteration that ran `early`.
            if (late.madeIn >= early.ranIn) continue;
            const order = late.handle.when() > early.handle.when() || (late.handle.when() === early.handle.when() && late.seq > early.seq);
            expect(order, `timer made #${late.seq} (when ${late.handle.when()}) ran after #${early.seq} (when ${early.handle.when()})`).toBe(true);
          }
        }
        expect(soonPending).toBe(0);
        counting = false;
        loop.stop();
        resolve();
      } catch (e) {
        counting = false;
        fail(e);
      }
    };
    loop.callSoon(finishIfDone); // nothing may be live at all
    void loop.runForever();
  });
}

describe.each(LOOPS)('$name loop: timer properties', (kind) => {
  it('runs each live timer once, never early, in deadline then creation order, under random schedules and cancellations', () =>
    withLoop(kind, async (loop) => {
      await fc.assert(
        fc.asyncProperty(schedule, async (s) => {
          await runSchedule(loop, s);
        }),
        { numRuns: 200 },
      );
    }), 60_000);
});
