#include "timer_heap.h"

#include <limits>

namespace aioloop {

namespace {
// Compact when tombstones are more than half the heap (and it is not tiny):
// memory stays within 2x of the live timers, and each rebuild is paid for by
// at least as many cancels as it moves entries.
constexpr size_t kCompactMin = 1024;
}  // namespace

void TimerHeap::Push(double when, int32_t id) {
  if (static_cast<size_t>(id) >= gen_.size()) {
    // Grow geometrically: ids are dense slab indices, so this amortises.
    size_t want = static_cast<size_t>(id) + 1;
    size_t grown = gen_.size() * 2;
    size_t size = grown > want ? grown : want;
    gen_.resize(size, 0);
    live_.resize(size, 0);
  }
  live_[id] = 1;
  heap_.push_back(Entry{});
  SiftUp(heap_.size() - 1, Entry{when, next_seq_++, id, gen_[id]});
}

bool TimerHeap::Cancel(int32_t id) {
  if (!Contains(id)) return false;
  live_[id] = 0;
  gen_[id]++;  // its entry is now a tombstone
  dead_++;
  if (dead_ >= kCompactMin && dead_ * 2 > heap_.size()) Compact();
  return true;
}

double TimerHeap::TopWhen() {
  while (!heap_.empty() && !IsLive(heap_[0])) {
    PopRaw();
    dead_--;
  }
  return heap_.empty() ? std::numeric_limits<double>::infinity() : heap_[0].when;
}

int32_t TimerHeap::PopTop() {
  TopWhen();  // drop tombstones first
  int32_t id = heap_[0].id;
  live_[id] = 0;
  gen_[id]++;
  PopRaw();
  return id;
}

void TimerHeap::Clear() {
  // swap with empties (not clear()) so a loop that once held a million
  // timers gives the memory back when it closes.
  std::vector<Entry>().swap(heap_);
  std::vector<uint32_t>().swap(gen_);
  std::vector<uint8_t>().swap(live_);
  dead_ = 0;
}

void TimerHeap::PopRaw() {
  Entry last = heap_.back();
  heap_.pop_back();
  if (!heap_.empty()) SiftDown(0, last);
}

void TimerHeap::SiftUp(size_t index, Entry e) {
  while (index > 0) {
    size_t parent = (index - 1) / 2;
    if (!Before(e, heap_[parent])) break;
    heap_[index] = heap_[parent];
    index = parent;
  }
  heap_[index] = e;
}

void TimerHeap::SiftDown(size_t index, Entry e) {
  size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * index + 1;
    if (child >= n) break;
    if (child + 1 < n && Before(heap_[child + 1], heap_[child])) child++;
    if (!Before(heap_[child], e)) break;
    heap_[index] = heap_[child];
    index = child;
  }
  heap_[index] = e;
}

void TimerHeap::Compact() {
  size_t kept = 0;
  for (size_t i = 0; i < heap_.size(); i++) {
    if (IsLive(heap_[i])) heap_[kept++] = heap_[i];
  }
  heap_.resize(kept);
  dead_ = 0;
  // Floyd's heapify: sift down every internal node, bottom-up.
  for (size_t i = kept / 2; i-- > 0;) SiftDown(i, heap_[i]);
  if (heap_.capacity() > 2 * kept + kCompactMin) heap_.shrink_to_fit();
}

}  // namespace aioloop
