/** Property tests of the default loop's bucketed timer store against a plain sort. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TimerQueue } from '../lib/timer_queue.js';
import { PendingTimers } from '../lib/pending_timers.js';
import { Handle, NO_ARGS, TimerHandle } from '../lib/events.js';

function makeHandles(whens: number[]) {
  const q = new TimerQueue();
  const handles = whens.map((w, i) => new TimerHandle(w, () => i, NO_ARGS));
  return { q, handles };
}

/** What must come out: live handles with when <= now, by (when, insertion order). */
function expected(handles: TimerHandle[], now: number) {
  return handles
    .map((h, i) => ({ h, i }))
    .filter(({ h }) => !h.cancelled() && h.when() <= now)
    .sort((a, b) => a.h.when() - b.h.when() || a.i - b.i)
    .map(({ h }) => h);
}

describe('TimerQueue', () => {
  it('pops due timers in deadline order, FIFO among equal deadlines, skipping cancelled ones', () => {
    fc.assert(
      fc.property(
        // Deadlines on a coarse grid so equal deadlines and shared buckets are common.
        fc.array(fc.integer({ min: 0, max: 400 }).map((x) => x / 8), { maxLength: 300 }),
        fc.array(fc.boolean(), { maxLength: 300 }),
        fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 5 }),
        (whens, cancelMask, nows) => {
          const { q, handles } = makeHandles(whens);
          for (const h of handles) q.push(h);
          handles.forEach((h, i) => cancelMask[i] && h.cancel());
          const out: Handle[] = []; const sink = { _enqueue: (h: unknown) => out.push(h as Handle) };
          const taken = new Set<Handle>();
          for (const now of [...nows].sort((a, b) => a - b)) {
            const before = out.length;
            q.popDue(now, sink);
            const want = expected(handles, now).filter((h) => !taken.has(h));
            expect(out.slice(before)).toEqual(want);
            for (const h of want) taken.add(h);
          }
          const live = handles.filter((h) => !h.cancelled() && !taken.has(h));
          expect(q.countLive()).toBe(live.length);
          expect(q.hasTimers).toBe(live.length > 0);
          const next = live.length ? Math.min(...live.map((h) => h.when())) : Infinity;
          expect(q.nextDeadline()).toBe(next);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('stays correct when timers are added to a bucket that is partly taken', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 80 }).map((x) => x / 16), fc.boolean()), { maxLength: 200 }),
        (ops) => {
          const { q } = makeHandles([]);
          const all: TimerHandle[] = [];
          const out: Handle[] = []; const sink = { _enqueue: (h: unknown) => out.push(h as Handle) };
          let now = 0;
          for (const [when, advance] of ops) {
            const h = new TimerHandle(when, () => {}, NO_ARGS);
            all.push(h);
            q.push(h);
            if (advance) {
              now += 0.3;
              q.popDue(now, sink);
            }
          }
          q.popDue(Infinity, sink);
          // Everything came out exactly once, and never before its deadline was reached.
          expect(new Set(out).size).toBe(all.length);
          expect(q.countLive()).toBe(0);
          expect(q.hasTimers).toBe(false);
          expect(q.nextDeadline()).toBe(Infinity);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('drops memory of fully cancelled buckets and compacts partly cancelled ones', () => {
    const whens = Array.from({ length: 50_000 }, (_, i) => (i % 1000) + 0.5);
    const { q, handles } = makeHandles(whens);
    for (const h of handles) q.push(h);
    handles.forEach((h, i) => i % 10 !== 0 && h.cancel());
    expect(q.countLive()).toBe(5_000);
    const out: Handle[] = []; const sink = { _enqueue: (h: unknown) => out.push(h as Handle) };
    q.popDue(2000, sink);
    expect(out).toEqual(expected(handles, 2000));
    expect(out).toHaveLength(5_000);
    handles.forEach((h) => h.cancel());
    expect(q.countLive()).toBe(0);
    expect(q.hasTimers).toBe(false);
    expect(q.nextDeadline()).toBe(Infinity);
  });
});

describe('PendingTimers (new timers before they reach a loop\'s store)', () => {
  it('hands over the live ones in scheduling order, unlinks cancelled ones at once, and keeps no links after drain', () => {
    const pending = new PendingTimers();
    const hs = [3, 1, 2].map((w) => new TimerHandle(w, () => w, NO_ARGS));
    for (const h of hs) pending.add(h);
    hs[1]!.cancel();
    expect(hs[1]!._prev).toBe(null);
    expect(pending.toArray().map((h) => h.when())).toEqual([3, 2]);
    const out: number[] = [];
    pending.drain((h) => out.push(h.when()));
    expect(out).toEqual([3, 2]);
    expect(pending.empty).toBe(true);
    expect(hs.every((h) => h._prev === null && h._next === null)).toBe(true); // nothing retained through links

    const more = [5, 6, 7].map((w) => new TimerHandle(w, () => w, NO_ARGS));
    for (const h of more) pending.add(h);
    more[2]!.cancel(); // the tail
    more[0]!.cancel(); // the head
    expect(pending.toArray().map((h) => h.when())).toEqual([6]);
    more[1]!.cancel(); // the last one
    expect(pending.empty).toBe(true); // nothing kept alive for the next drain
    expect(pending.head).toBe(null);
    expect(pending.tail).toBe(null);
    more[0]!.cancel(); // again: a no-op
    expect(pending.empty).toBe(true);
    const late = new TimerHandle(8, () => 8, NO_ARGS);
    pending.add(late); // the emptied chain takes new timers
    expect(pending.toArray().map((h) => h.when())).toEqual([8]);
  });

  it('a timer cancelled after it left the chain (ready, or run) touches no chain', () => {
    const pending = new PendingTimers();
    const [a, b] = [1, 2].map((w) => new TimerHandle(w, () => w, NO_ARGS));
    pending.add(a!);
    const taken: TimerHandle[] = [];
    pending.drain((h) => taken.push(h));
    pending.add(b!);
    a!.cancel();
    expect(a!.cancelled()).toBe(true);
    expect(pending.toArray().map((h) => h.when())).toEqual([2]);
  });
});
