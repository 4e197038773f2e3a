/**
 * The default loop's timer store: timers bucketed by whole millisecond,
 * with a binary min-heap of bucket keys.
 *
 * Why not asyncio's heap of handles: a JS binary heap of 1e6 handles costs
 * about 780 ns per schedule+cancel pair here, more than Node's own
 * setTimeout+clearTimeout (about 500 ns). Bucketing makes scheduling a Map
 * lookup and an array push (the heap only sees one key per millisecond), and
 * cancelling a counter update. A bucket is sorted by exact deadline only when
 * it comes due (stable sort, so FIFO among equal deadlines), and a bucket whose
 * timers are all cancelled is dropped at once, freeing its memory.
 * @module
 */
import type { Runnable, TimerHandle } from './events.js';

/** Where due timers go: the loop's ready queue. */
export interface ReadySink {
  _enqueue(item: Runnable): void;
}

class Bucket {
  handles: TimerHandle[] = [];
  /** Entries before `pos` have been taken already. */
  pos = 0;
  /** Live (not cancelled, not taken) handles in this bucket. */
  live = 0;
  /** True while handles[pos..] are in deadline order. */
  sorted = true;
  constructor(readonly key: number) {}
}

const byDeadline = (a: TimerHandle, b: TimerHandle) => a._when - b._when;

/**
 * Timers in deadline order, FIFO among equal deadlines.
 *
 * @example
 * ```ts
 * const q = new TimerQueue();
 * q.push(handle);
 * q.popDue(loop.time(), readyQueue);
 * ```
 */
export class TimerQueue {
  private buckets = new Map<number, Bucket>();
  /** Min-heap of bucket keys; a key whose bucket is gone is skipped lazily. */
  private keys: number[] = [];
  /** Keys in the heap whose bucket was dropped. */
  private deadKeys = 0;
  /** Cancelled handles still stored in some bucket. */
  private cancelledStored = 0;
  private live = 0;

  /** Number of live timers. */
  get size(): number {
    return this.live;
  }

  /** Add a timer. */
  push(handle: TimerHandle): void {
    const key = Math.floor(handle._when);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new Bucket(key);
      this.buckets.set(key, bucket);
      heapPush(this.keys, key);
    } else if (bucket.sorted) {
      const last = bucket.handles[bucket.handles.length - 1];
      if (last !== undefined && last._when > handle._when) bucket.sorted = false;
    }
    bucket.handles.push(handle);
    bucket.live++;
    this.live++;
    handle._slot = bucket;
  }

  /** A stored timer was cancelled. */
  cancelled(handle: TimerHandle): void {
    const bucket = handle._slot as Bucket | null;
    if (bucket === null) return; // already taken, or never stored
    handle._slot = null;
    bucket.live--;
    this.live--;
    this.cancelledStored++;
    if (bucket.live === 0) {
      // Drop the whole bucket now: its memory goes back at once.
      this.cancelledStored -= bucket.handles.length - bucket.pos;
      this.buckets.delete(bucket.key);
      if (++this.deadKeys > 64 && this.deadKeys > this.buckets.size) this.rebuildKeys();
    } else if (this.cancelledStored > 100 && this.cancelledStored > this.live) {
      this.compact();
    }
  }

  /** The earliest deadline of a live timer, or Infinity when there is none. */
  nextDeadline(): number {
    const bucket = this.topBucket();
    if (bucket === null) return Infinity;
    this.sortBucket(bucket);
    const hs = bucket.handles;
    for (let i = bucket.pos; i < hs.length; i++) {
      if (!hs[i]!._cancelled) return hs[i]!._when;
    }
    return Infinity; // unreachable: a top bucket has a live handle
  }

  /** Enqueue every timer due at `now` (deadline <= now) on `out`, in order. */
  popDue(now: number, out: ReadySink): void {
    for (;;) {
      const bucket = this.topBucket();
      if (bucket === null || bucket.key > now) return;
      this.sortBucket(bucket);
      const hs = bucket.handles;
      let i = bucket.pos;
      for (; i < hs.length; i++) {
        const h = hs[i]!;
        if (h._cancelled) {
          this.cancelledStored--;
          continue;
        }
        if (h._when > now) break;
        h._slot = null;
        bucket.live--;
        this.live--;
        out._enqueue(h);
      }
      if (i < hs.length) {
        bucket.pos = i;
        return; // the rest of this bucket is not due yet
      }
      this.buckets.delete(bucket.key);
      heapPop(this.keys);
    }
  }

  /** Forget every timer (loop close). */
  clear(): void {
    for (const bucket of this.buckets.values()) {
      for (const h of bucket.handles) h._slot = null;
    }
    this.buckets.clear();
    this.keys = [];
    this.deadKeys = this.cancelledStored = this.live = 0;
  }

  /** The bucket at the top of the heap, skipping dropped ones. */
  private topBucket(): Bucket | null {
    const keys = this.keys;
    while (keys.length > 0) {
      const bucket = this.buckets.get(keys[0]!);
      if (bucket !== undefined && bucket.live > 0) return bucket;
      heapPop(keys);
      if (bucket !== undefined) {
        // Only cancelled entries left (possible after popDue consumed the rest).
        this.cancelledStored -= bucket.handles.length - bucket.pos;
        this.buckets.delete(bucket.key);
      } else if (this.deadKeys > 0) {
        this.deadKeys--;
      }
    }
    return null;
  }

  private sortBucket(bucket: Bucket): void {
    if (bucket.sorted) return;
    if (bucket.pos > 0) {
      bucket.handles = bucket.handles.slice(bucket.pos);
      bucket.pos = 0;
    }
    bucket.handles.sort(byDeadline); // stable: FIFO among equal deadlines
    bucket.sorted = true;
  }

  /** Drop cancelled entries from every bucket (asyncio's heap clean-up). */
  private compact(): void {
    for (const bucket of this.buckets.values()) {
      bucket.handles = bucket.handles.slice(bucket.pos).filter((h) => !h._cancelled);
      bucket.pos = 0;
    }
    this.cancelledStored = 0;
  }

  /** Rebuild the key heap from the live buckets. */
  private rebuildKeys(): void {
    this.keys = [...this.buckets.keys()].sort((a, b) => a - b); // a sorted array is a valid heap
    this.deadKeys = 0;
  }
}

function heapPush(heap: number[], key: number): void {
  let i = heap.length;
  heap.push(key);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent]!;
    if (p <= key) break;
    heap[i] = p;
    i = parent;
  }
  heap[i] = key;
}

function heapPop(heap: number[]): void {
  const last = heap.pop()!;
  const n = heap.length;
  if (n === 0) return;
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1]! < heap[child]!) child++;
    if (heap[child]! >= last) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
}
