/**
 * A FIFO of waiters with O(1) add, delete (for a waiter that gives up) and
 * first. A JS Set is insertion-ordered, but deleting from its front leaves
 * holes that `values().next()` walks over every time until the table is
 * rehashed: a lock with 1e5 queued waiters spent O(n) per hand-off that way.
 * Membership is a flag on the waiter itself (the QUEUED bit of a Future's
 * `_flags`, no hashing): deleted entries are dropped from the front for good
 * as `first()` passes them (amortized O(1)). The slots between `_head` and
 * `_tail` are reused from index 0 whenever the line empties, so a line that
 * is mostly empty (a lock hand-off, a bounded queue) allocates nothing.
 * @module
 */
import { Flag, type Future } from './futures.js';

/** Lines longer than this are compacted when mostly consumed, or dropped once empty. */
const COMPACT_ABOVE = 1024;

/**
 * @internal A line of waiting Futures; each is in at most one line at a time.
 * @example
 * ```ts
 * const q = new WaiterQueue();
 * q.add(grant); q.delete(grant); q.first(); // undefined
 * ```
 */
export class WaiterQueue<T extends Future<any> = Future<any>> implements Iterable<T> {
  private _items: (T | undefined)[] = [];
  /** The oldest slot in use. */
  private _head = 0;
  /** One past the newest slot in use. */
  private _tail = 0;
  private _size = 0;

  get size(): number {
    return this._size;
  }

  add(item: T): void {
    if (item._flags & Flag.QUEUED) return;
    item._flags |= Flag.QUEUED;
    this._size++;
    this._items[this._tail++] = item;
  }

  has(item: T): boolean {
    return (item._flags & Flag.QUEUED) !== 0;
  }

  /** Forget `item`; its slot is skipped later. */
  delete(item: T): boolean {
    if (!(item._flags & Flag.QUEUED)) return false;
    item._flags &= ~Flag.QUEUED;
    this._size--;
    return true;
  }

  /** The oldest waiter still queued. */
  first(): T | undefined {
    if (this._size === 0) {
      // Nobody waits (the common case): forget the slots of waiters that left.
      if (this._tail !== 0) this._dropAll();
      return undefined;
    }
    const items = this._items;
    while (this._head < this._tail) {
      const item = items[this._head]!;
      if (item._flags & Flag.QUEUED) return item;
      items[this._head++] = undefined; // a waiter that left: drop the slot for good
    }
    this._reset();
    return undefined;
  }

  /** Remove and return the oldest waiter. */
  shift(): T | undefined {
    const item = this.first();
    if (item === undefined) return undefined;
    item._flags &= ~Flag.QUEUED;
    this._size--;
    const items = this._items;
    items[this._head++] = undefined;
    if (this._head === this._tail) this._reset();
    else if (this._head > COMPACT_ABOVE && this._head * 2 > this._tail) {
      this._items = items.slice(this._head, this._tail);
      this._tail -= this._head;
      this._head = 0;
    }
    return item;
  }

  clear(): void {
    const items = this._items;
    for (let i = this._head; i < this._tail; i++) {
      const item = items[i];
      if (item !== undefined) item._flags &= ~Flag.QUEUED;
    }
    this._items = [];
    this._head = this._tail = this._size = 0;
  }

  /** Every slot left belongs to a waiter that left: clear them (each slot once, so amortized O(1)). */
  private _dropAll(): void {
    const items = this._items;
    for (let i = this._head; i < this._tail; i++) items[i] = undefined;
    this._reset();
  }

  *[Symbol.iterator](): Iterator<T> {
    // A snapshot: callers may delete while iterating.
    const items = this._items.slice(this._head, this._tail);
    for (const item of items) if (item !== undefined && item._flags & Flag.QUEUED) yield item;
  }

  /** Empty (every slot already cleared): start again at slot 0. */
  private _reset(): void {
    if (this._items.length > COMPACT_ABOVE) this._items = [];
    this._head = this._tail = 0;
  }
}
