/**
 * The outbound batch of the native loop's I/O (lib/loops/native/io.ts), its
 * bookkeeping against a stand-in for the C++ half: which writers a flush
 * tells, and that each writer's unflushed byte count is exact across
 * flushes, also when a writer's `_flushed()` writes again.
 */
import { describe, expect, it } from 'vitest';
import { NativeIo, type BatchWriter } from '../../lib/loops/native/io.js';
import type { NativeLoopBinding } from '../../lib/loops/native/addon.js';

/** The C++ side of the batch: the two views, and a flush that records what it was given. */
function fakeNative() {
  const bytes = new ArrayBuffer(64 * 1024);
  const ops = new ArrayBuffer(1024 * 3 * 4);
  const flushed: { id: number; data: string }[][] = [];
  const native = {
    outbound: () => [bytes, ops],
    flush(count: number) {
      const rec = new Int32Array(ops);
      const batch = [];
      for (let i = 0; i < count; i++) {
        const [id, offset, len] = [rec[3 * i]!, rec[3 * i + 1]!, rec[3 * i + 2]!];
        batch.push({ id, data: Buffer.from(bytes, offset, len).toString() });
      }
      flushed.push(batch);
      return 0; // the kernel took everything: nothing queued
    },
  } as unknown as NativeLoopBinding;
  return { native, flushed };
}

class Writer implements BatchWriter {
  _unflushed = 0;
  _queued = 0;
  _dirty = false;
  flushes = 0;
  onFlushed: (() => void) | null = null;
  constructor(readonly _id: number) {}
  _flushed(): void {
    this.flushes++;
    const f = this.onFlushed;
    this.onFlushed = null;
    f?.();
  }
}

function setup() {
  const { native, flushed } = fakeNative();
  const host = { _inIteration: true, isClosed: () => false, callExceptionHandler: (c: unknown) => { throw c; } };
  return { io: new NativeIo(native, host), flushed };
}

describe('NativeIo outbound batch', () => {
  it('hands every record to one flush and tells each writer once', () => {
    const { io, flushed } = setup();
    const a = new Writer(1);
    const b = new Writer(2);
    io.write(a, 'a1');
    io.write(b, 'b1');
    io.write(a, 'a2');
    expect([a._unflushed, b._unflushed]).toEqual([4, 2]);
    io.flush();
    expect(flushed).toEqual([[{ id: 1, data: 'a1' }, { id: 2, data: 'b1' }, { id: 1, data: 'a2' }]]);
    expect([a._unflushed, b._unflushed, a.flushes, b.flushes]).toEqual([0, 0, 1, 1]);
    expect(io.hasPendingWrites()).toBe(false);
  });

  it('lists a writer again when a flushed() callback writes to it, even one told later in the same flush', () => {
    const { io, flushed } = setup();
    const a = new Writer(1);
    const b = new Writer(2);
    io.write(a, 'a1');
    io.write(b, 'b1');
    // A proxy's resumeWriting on one side writes to the other: b is still
    // waiting for its own flushed() when a's callback writes to it.
    a.onFlushed = () => io.write(b, 'b2');
    io.flush();
    expect(b._unflushed).toBe(2); // b2 waits in the next batch
    expect(io.hasPendingWrites()).toBe(true);
    io.flush();
    expect(flushed[1]).toEqual([{ id: 2, data: 'b2' }]);
    expect(b._unflushed).toBe(0);
    expect(b.flushes).toBe(2);
  });

  it('keeps counting exactly over many flushes that reuse the writer list', () => {
    const { io, flushed } = setup();
    const writers = Array.from({ length: 5 }, (_, i) => new Writer(i + 1));
    const expectedFlushes = new Map(writers.map((w) => [w, 0]));
    for (let round = 0; round < 50; round++) {
      const active = writers.filter((_, i) => (round + i) % 3 !== 0);
      for (const w of active) {
        expectedFlushes.set(w, expectedFlushes.get(w)! + 1); // one write a round: listed once
        io.write(w, `r${round}w${w._id}`);
      }
      io.flush();
      expect(flushed.at(-1)!.map((r) => r.id)).toEqual(active.map((w) => w._id));
      for (const w of writers) expect(w._unflushed).toBe(0);
    }
    for (const w of writers) expect(w.flushes).toBe(expectedFlushes.get(w));
  });
});
