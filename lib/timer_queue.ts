/**
 * The default loop's timer store: timers bucketed by whole millisecond,
 * with a binary min-heap of bucket keys.
 *
 * Why not asyncio's heap of handles: a JS binary heap of 1e6 handles costs
 * about 780 ns per schedule+cancel pair here, more than Node's own
 * setTimeout+clearTimeout (about 500 ns). With buckets the heap only sees one
 * key per millisecond: scheduling is a Map lookup and a link, cancelling a
 * unlink. Each bucket is a TimerChain (./timer_chain.ts): storing a timer
 * allocates nothing and cancelling unlinks it at once (no clean-up passes).
 * A bucket is sorted by exact deadline only when it comes due (stable sort,
 * so FIFO among equal deadlines); a bucket whose timers are all cancelled
 * is dropped at once, freeing its memory.
 *
 * New timers wait in a PendingTimers list (./pending_timers.ts) until the
 * queue is next asked about deadlines.
 * @module
 */
import type { Runnable, TimerHandle, TimerSlot } from './events.js';
import { PendingTimers } from './pending_timers.js';
import { TimerChain } from './timer_chain.js';

/** Where due timers go: the loop's ready queue. */
export interface ReadySink {
  _enqueue(item: Runnable): void;
}

class Bucket extends TimerChain implements TimerSlot {
  /** Handles in the chain (all live: a cancelled one is unlinked at once). */
  live = 0;
  /** True while the chain is in deadline order. */
  sorted = true;
  constructor(
    readonly key: number,
    private readonly queue: TimerQueue,
  ) {
    super();
  }

  _cancelTimer(handle: TimerHandle): void {
    this.unlink(handle);
    this.queue._cancelled(this, handle);
  }

  override append(h: TimerHandle): void {
    if (this.tail !== null && this.tail._when > h._when) this.sorted = false;
    super.append(h);
    this.live++;
  }

  override unlink(h: TimerHandle): void {
    super.unlink(h);
    this.live--;
  }

  /** The handles in deadline order (FIFO among equal deadlines). */
  inOrder(): TimerHandle[] {
    const list: TimerHandle[] = [];
    for (let h = this.head; h !== null; h = h._next as TimerHandle | null) list.push(h);
    if (!this.sorted) list.sort(byDeadline); // Array.prototype.sort is stable
    return list;
  }

  /** Replace the chain with list[from..] (in order). */
  rechain(list: TimerHandle[], from: number): void {
    this.head = this.tail = null;
    this.live = 0;
    for (let i = from; i < list.length; i++) this.append(list[i]!);
    this.sorted = true;
  }
}

const byDeadline = (a: TimerHandle, b: TimerHandle) => a._when - b._when;

/**
 * Timers in deadline order, FIFO among equal deadlines.
 *
 * @example
 * ```ts
 * const q = new TimerQueue();
 * q.push(handle);
 * q.popDue(loop.time(), loop); // due timers go to the loop's ready queue
 * ```
 */
export class TimerQueue {
  /** Timers not in a bucket yet. */
  private readonly pending = new PendingTimers(() => this.live--);
  private readonly insertFn = (h: TimerHandle) => this.insert(h);
  private buckets = new Map<number, Bucket>();
  /** Min-heap of bucket keys; a key whose bucket is gone is skipped lazily. */
  private keys: number[] = [];
  /** Keys in the heap whose bucket was dropped. */
  private deadKeys = 0;
  private live = 0;

  /** Number of live timers. */
  get size(): number {
    return this.live;
  }

  /** Add a timer. */
  push(handle: TimerHandle): void {
    this.pending.add(handle);
    this.live++;
  }

  /** Move the pending timers that are still live into their buckets. */
  private settle(): void {
    this.pending.drain(this.insertFn);
  }

  private insert(handle: TimerHandle): void {
    const key = Math.floor(handle._when);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new Bucket(key, this);
      this.buckets.set(key, bucket);
      heapPush(this.keys, key);
    }
    bucket.append(handle);
    handle._slot = bucket;
  }

  /** @internal A stored timer was cancelled and unlinked from `bucket`. */
  _cancelled(bucket: Bucket, handle: TimerHandle): void {
    handle._slot = null;
    this.live--;
    if (bucket.live === 0) {
      // Drop the empty bucket now; its key leaves the heap lazily.
      this.buckets.delete(bucket.key);
      if (++this.deadKeys > 64 && this.deadKeys > this.buckets.size) this.rebuildKeys();
    }
  }

  /** The earliest deadline of a live timer, or Infinity when there is none. */
  nextDeadline(): number {
    this.settle();
    const bucket = this.topBucket();
    if (bucket === null) return Infinity;
    if (!bucket.sorted) bucket.rechain(bucket.inOrder(), 0);
    return bucket.head!._when;
  }

  /** Enqueue every timer due at `now` (deadline <= now) on `out`, in order. */
  popDue(now: number, out: ReadySink): void {
    this.settle();
    for (;;) {
      const bucket = this.topBucket();
      if (bucket === null || bucket.key > now) return;
      if (bucket.sorted && bucket.key + 1 <= now) {
        // Fast path: the whole bucket is due and in order.
        let h = bucket.head;
        while (h !== null) {
          const next = h._next as TimerHandle | null;
          h._slot = null;
          h._prev = null;
          out._enqueue(h);
          h = next;
        }
        this.live -= bucket.live;
        this.dropTop(bucket);
        continue;
      }
      const list = bucket.inOrder();
      let i = 0;
      for (; i < list.length && list[i]!._when <= now; i++) {
        const h = list[i]!;
        h._slot = null;
        h._prev = null;
        out._enqueue(h);
      }
      this.live -= i;
      if (i === list.length) {
        this.dropTop(bucket);
        continue;
      }
      bucket.rechain(list, i);
      return; // the rest of this bucket is not due yet
    }
  }

  /** Forget every timer (loop close). */
  clear(): void {
    this.pending.clear();
    for (const bucket of this.buckets.values()) {
      for (let h = bucket.head; h !== null; h = h._next as TimerHandle | null) h._slot = null;
    }
    this.buckets.clear();
    this.keys = [];
    this.deadKeys = this.live = 0;
  }

  /** The bucket at the top of the heap, skipping dropped ones. */
  private topBucket(): Bucket | null {
    const keys = this.keys;
    while (keys.length > 0) {
      const bucket = this.buckets.get(keys[0]!);
      if (bucket !== undefined) return bucket;
      heapPop(keys);
      this.deadKeys--;
    }
    return null;
  }

  private dropTop(bucket: Bucket): void {
    this.buckets.delete(bucket.key);
    heapPop(this.keys);
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
