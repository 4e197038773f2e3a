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
import type { Runnable, TimerHandle } from './events.js';
import { PendingTimers } from './pending_timers.js';
import { TimerChain } from './timer_chain.js';

/** Where due timers go: the loop's ready queue. */
export interface ReadySink {
  _enqueue(item: Runnable): void;
}

class Bucket extends TimerChain {
  /** True while the chain is in deadline order. */
  sorted = true;
  constructor(
    readonly key: number,
    private readonly queue: TimerQueue,
  ) {
    super();
  }

  /** Its last timer was cancelled. */
  override _emptied(): void {
    this.queue._bucketEmptied(this);
  }

  override append(h: TimerHandle): void {
    const tail = this.tail;
    if (tail !== null && tail._when > h._when) this.sorted = false;
    super.append(h);
  }

  /** The handles in deadline order (FIFO among equal deadlines). */
  inOrder(): TimerHandle[] {
    const list = this.toArray();
    if (!this.sorted) list.sort(byDeadline); // Array.prototype.sort is stable
    return list;
  }

  /** Replace the chain with list[from..] (in order). */
  rechain(list: TimerHandle[], from: number): void {
    const s = this.sentinel;
    s._prev = s._next = s;
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
  private readonly pending = new PendingTimers();
  private readonly insertFn = (h: TimerHandle) => this.insert(h);
  /** Buckets with at least one live timer (an emptied one is dropped at once). */
  private buckets = new Map<number, Bucket>();
  /** Min-heap of bucket keys; a key whose bucket is gone is skipped lazily. */
  private keys: number[] = [];
  /** Keys in the heap whose bucket was dropped. */
  private deadKeys = 0;

  /** True while a live timer is stored or pending. */
  get hasTimers(): boolean {
    return this.buckets.size > 0 || !this.pending.empty;
  }

  /** Number of live timers: walks every timer (for tests and diagnostics). */
  countLive(): number {
    let n = this.pending.toArray().length;
    for (const bucket of this.buckets.values()) n += bucket.toArray().length;
    return n;
  }

  /** Add a timer. */
  push(handle: TimerHandle): void {
    this.pending.add(handle);
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
  }

  /** @internal The last timer of `bucket` was cancelled: drop the bucket now; its key leaves the heap lazily. */
  _bucketEmptied(bucket: Bucket): void {
    this.buckets.delete(bucket.key);
    if (++this.deadKeys > 64 && this.deadKeys > this.buckets.size) this.rebuildKeys();
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
        const s = bucket.sentinel;
        let h = s._next as TimerHandle;
        s._prev = s._next = s;
        while (h !== s) {
          const next = h._next as TimerHandle;
          h._prev = null;
          out._enqueue(h); // sets h._next
          h = next;
        }
        this.dropTop(bucket);
        continue;
      }
      const list = bucket.inOrder();
      let i = 0;
      for (; i < list.length && list[i]!._when <= now; i++) {
        const h = list[i]!;
        h._prev = null;
        out._enqueue(h);
      }
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
    for (const bucket of this.buckets.values()) bucket.clear();
    this.buckets.clear();
    this.keys = [];
    this.deadKeys = 0;
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
