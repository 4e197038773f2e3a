#include "loop.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>

namespace aioloop {

#ifdef AIOLOOP_DEBUG
// Process-wide (not per environment) on purpose: libuv handles can outlive
// both their Loop and, during worker teardown, the napi env, so these are
// the numbers that prove nothing leaked anywhere.
std::atomic<int64_t> g_live_handles{0};  // allocated, close callback not run
#endif

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// uv_timer_start takes a uint64 ms timeout; beyond 2^53 ms (285,000 years)
// "never" is exact enough, and the cast below stays defined.
constexpr double kMaxTimeoutMs = 9007199254740992.0;

#ifdef AIOLOOP_DEBUG
std::atomic<int64_t> g_live_loops{0};  // C++ Loop objects not released (closed or collected)
#endif

// Reads land in the inbound slab one after another, 64 KiB each at most
// (libuv's suggestion). A slab is renewed where no read is in progress
// (after each delivery, or before a read when nothing is waiting for
// delivery) once it has room for fewer than four batches like the last one
// or one read. A read never gets less than a full 64 KiB (a datagram must
// never be truncated), and never runs JS (a protocol could close the very
// stream libuv is reading): a read that finds no room starves its stream
// until the check handle has delivered the batch and renewed the slab.
//
// Every slab has the same size. Slabs are Buffers whose memory the garbage
// collector frees, and the allocator hands back memory already mapped when
// the next request has the size of the chunks freed: slabs sized after each
// batch (16 of them, 512 KiB to 16 MiB) made the echo at 100 KiB page-fault
// in read() into fresh slab memory, up to ~3 faults a request, at 31-35k
// req/s, against ~0.4 and 36-40k with one fixed size (0.5, 1 or 2 MiB,
// server minflt over 3 s of bench/echo's client). 2 MiB holds 32 reads a
// batch before a reader starves.
constexpr size_t kReadSize = 64 * 1024;
constexpr size_t kSlabSize = 2 * 1024 * 1024;
// The outbound batch (Loop::Outbound): bytes, and records of three int32
// (id, offset, length) each; JS writes bigger chunks directly (Loop::Write).
constexpr size_t kOutBytes = 256 * 1024;
constexpr size_t kOutOps = 4096;
// Event records handed to JS per call at first (grown as needed).
constexpr size_t kInitialEventsOut = 4 * 1024;

void ReleaseSlabMemory(SlabMemory* m) {
  if (m != nullptr && --m->refs == 0) {
    std::free(m->data);
    delete m;
  }
}

void ReleaseLoopRef(LoopRef* ref) {
  if (--ref->refs == 0) delete ref;
}

void FinalizeLoopRef(napi_env, void* data, void*) { ReleaseLoopRef(static_cast<LoopRef*>(data)); }

// The finalizer of a JS view of memory the addon also uses (not counted as
// external memory: the outbound batch is allocated once per loop).
void FinalizeShared(napi_env, void*, void* hint) { ReleaseSlabMemory(static_cast<SlabMemory*>(hint)); }

void FinalizeSlab(napi_env env, void*, void* hint) {
  auto* m = static_cast<SlabMemory*>(hint);
  // The garbage collector counted the slab (see RenewSlab): uncount it.
  int64_t ignored;
  napi_adjust_external_memory(env, -static_cast<int64_t>(m->size), &ignored);
  ReleaseSlabMemory(m);
}

// Per-environment data (napi instance data): the class constructor. A static
// FunctionReference would be shared by every worker thread's environment
// and outlive them; instance data is freed with its own environment.
struct AddonData {
  Napi::FunctionReference loop_constructor;
};

double NowMs() {
  // uv_hrtime: nanoseconds, monotonic, not cached per iteration (unlike
  // uv_now), so sub-millisecond and never behind the real clock.
  return static_cast<double>(uv_hrtime()) / 1e6;
}

void ExpectArgs(const Napi::CallbackInfo& info, size_t n, const char* method) {
  if (info.Length() != n) {
    throw Napi::TypeError::New(info.Env(), std::string(method) + "() takes " + std::to_string(n) +
                                               " argument" + (n == 1 ? "" : "s") + ", got " +
                                               std::to_string(info.Length()));
  }
}

double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(d)) throw Napi::RangeError::New(info.Env(), std::string(what) + " must not be NaN");
  return d;
}

bool ValidId(double d) { return d >= 0 && d <= TimerHeap::kMaxId && std::floor(d) == d; }

Napi::RangeError BadId(Napi::Env env) {
  return Napi::RangeError::New(env, "timer id must be an integer in [0, " + std::to_string(TimerHeap::kMaxId) + "]");
}

int32_t IdArg(const Napi::CallbackInfo& info, size_t i) {
  double d = NumberArg(info, i, "timer id");
  if (!ValidId(d)) throw BadId(info.Env());
  return static_cast<int32_t>(d);
}

bool BoolArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  Napi::Value v = info[i];
  if (!v.IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

}  // namespace

Napi::Function Loop::DefineClass(Napi::Env env) {
  return ObjectWrap<Loop>::DefineClass(
      env, "Loop",
      {
          InstanceMethod<&Loop::Guard<&Loop::Now>>("now"),
          InstanceMethod<&Loop::Guard<&Loop::SetRunning>>("setRunning"),
          InstanceMethod<&Loop::Guard<&Loop::AddTimer>>("addTimer"),
          InstanceMethod<&Loop::Guard<&Loop::CancelTimer>>("cancelTimer"),
          InstanceMethod<&Loop::Guard<&Loop::Close>>("close"),
          InstanceMethod<&Loop::Guard<&Loop::Stats>>("stats"),
          InstanceMethod<&Loop::Guard<&Loop::Outbound>>("outbound"),
          InstanceMethod<&Loop::Guard<&Loop::Shutdown>>("shutdown"),
          InstanceMethod<&Loop::Guard<&Loop::CloseStream>>("closeStream"),
          InstanceMethod<&Loop::Guard<&Loop::Fileno>>("fileno"),
          InstanceMethod<&Loop::Guard<&Loop::TcpListen>>("tcpListen"),
          InstanceMethod<&Loop::Guard<&Loop::TcpConnect>>("tcpConnect"),
          InstanceMethod<&Loop::Guard<&Loop::TcpAddress>>("tcpAddress"),
          InstanceMethod<&Loop::Guard<&Loop::UdpBind>>("udpBind"),
          InstanceMethod<&Loop::Guard<&Loop::UdpConnect>>("udpConnect"),
          InstanceMethod<&Loop::Guard<&Loop::UdpAddress>>("udpAddress"),
          InstanceMethod<&Loop::Guard<&Loop::SignalStart>>("signalStart"),
          InstanceMethod<&Loop::Guard<&Loop::Spawn>>("spawn"),
          InstanceMethod<&Loop::Guard<&Loop::Kill>>("kill"),
          InstanceMethod<&Loop::Guard<&Loop::Getaddrinfo>>("getaddrinfo"),
          InstanceMethod<&Loop::Guard<&Loop::Getnameinfo>>("getnameinfo"),
          InstanceMethod<&Loop::Guard<&Loop::PipeListen>>("pipeListen"),
          InstanceMethod<&Loop::Guard<&Loop::PipeConnect>>("pipeConnect"),
          InstanceMethod<&Loop::Guard<&Loop::PipeOpen>>("pipeOpen"),
      });
}

Loop::Loop(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Loop>(info), env_(info.Env()), armed_for_(kInf) {
  try {
    Init(info);
  } catch (const Napi::Error&) {
    // A failed construction is a closed loop (its destructor releases
    // nothing). Rethrown for ObjectWrap to throw to JS, unless JS cannot
    // take it (see ThrowToJs): then the pending exception stands.
    closed_ = true;
    if (CanThrowToJs(env_)) throw;
  }
}

void Loop::Init(const Napi::CallbackInfo& info) {
  // Validate before acquiring anything, so a throw here leaks nothing.
  ExpectArgs(info, 1, "Loop");
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env_, "Loop() onWake must be a function");

  uv_loop_t* uv_loop = nullptr;
  if (napi_get_uv_event_loop(env_, &uv_loop) != napi_ok || uv_loop == nullptr) {
    throw Napi::Error::New(env_, "aioloop: no libuv loop for this environment");
  }
  napi_value resource_name = Napi::String::New(env_, "aioloop.NativeLoop");
  if (napi_async_init(env_, nullptr, resource_name, &async_context_) != napi_ok) {
    throw Napi::Error::New(env_, "aioloop: napi_async_init failed");
  }
  // Weak while the loop is not running: the TS loop keeps onWake alive, and
  // onWake's closure keeps the TS loop (and this wrapper) alive, so a strong
  // reference here would make an unclosed, idle loop uncollectable.
  // SetRunning(true) makes it strong: a running loop must stay alive.
  on_wake_ = Napi::Weak(info[0].As<Napi::Function>());

  // The methods called once or more per loop iteration are own properties
  // bound to this loop (see LoopRef); the rest stay on the prototype.
  // Before any libuv handle exists: a failure here leaves nothing behind.
  loop_ref_ = new LoopRef{this, 1};
  try {
    Napi::Object self = info.This().As<Napi::Object>();
    BindMethod<&Loop::SetReady>(self, "setReady");
    BindMethod<&Loop::ApplyOps>(self, "applyOps");
    BindMethod<&Loop::PopDue>(self, "popDue");
    BindMethod<&Loop::NextDeadline>(self, "nextDeadline");
    BindMethod<&Loop::Flush>(self, "flush");
    BindMethod<&Loop::Write>(self, "write");
    // Per read with a BufferedProtocol, and on every pause/resume of reading.
    BindMethod<&Loop::SetReadBuffer>(self, "setReadBuffer");
    BindMethod<&Loop::RearmReadBuffer>(self, "rearmReadBuffer");
    BindMethod<&Loop::ReadStart>(self, "readStart");
    BindMethod<&Loop::ReadStop>(self, "readStop");
  } catch (...) {
    loop_ref_->loop = nullptr;
    ReleaseLoopRef(loop_ref_);
    loop_ref_ = nullptr;
    napi_async_destroy(env_, async_context_);
    throw;
  }

  // Where JS itself can detach an ArrayBuffer (ArrayBuffer.prototype.transfer,
  // Node 21+), slab memory is the addon's own, refcounted, so a detached
  // slab can never leave the loop writing into freed memory.
  {
    napi_value global, array_buffer, prototype;
    bool has_transfer = false;
    if (napi_get_global(env_, &global) == napi_ok &&
        napi_get_named_property(env_, global, "ArrayBuffer", &array_buffer) == napi_ok &&
        napi_get_named_property(env_, array_buffer, "prototype", &prototype) == napi_ok &&
        napi_has_named_property(env_, prototype, "transfer", &has_transfer) == napi_ok) {
      external_slabs_ = has_transfer;
    }
    // Tests force either kind (both must work wherever the addon runs).
    const char* force = std::getenv("AIOLOOP_SLAB_MEMORY");
    if (force != nullptr && std::strcmp(force, "addon") == 0) external_slabs_ = true;
    if (force != nullptr && std::strcmp(force, "js") == 0) external_slabs_ = false;
  }

  uv_loop_ = uv_loop;
  handles_ = new Handles();
  handles_->owner = this;
  handles_->open = 3;
  // uv_*_init only fail for invalid arguments; these are fresh handles on a
  // live loop, so the return values carry no information here.
  uv_timer_init(uv_loop, &handles_->timer);
  uv_idle_init(uv_loop, &handles_->idle);
  uv_check_init(uv_loop, &handles_->check);
  handles_->timer.data = handles_->idle.data = handles_->check.data = handles_;
  // None of them keeps the process alive by itself; SetRunning refs the check
  // handle (the loop holds Node's loop open exactly while it runs).
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->timer));
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->idle));
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->check));
#ifdef AIOLOOP_DEBUG
  g_live_handles += 3;
  g_live_loops++;
#endif
  // Worker exit / env teardown: close the handles before libuv's loop goes.
  napi_add_env_cleanup_hook(env_, OnEnvCleanup, this);
}

Loop::~Loop() {
  // Reached from the wrapper's finalizer: a loop dropped without close().
  // No JS may run here; Release only closes handles and deletes references.
  Release(false);
  // A bound method JS still holds now throws instead of reaching freed memory.
  if (loop_ref_ != nullptr) {
    loop_ref_->loop = nullptr;
    ReleaseLoopRef(loop_ref_);
  }
}

template <Napi::Value (Loop::*Method)(const Napi::CallbackInfo&)>
Napi::Value Loop::CallBound(const Napi::CallbackInfo& info) {
  Loop* loop = static_cast<LoopRef*>(info.Data())->loop;
  if (loop == nullptr) {
    ThrowToJs(info.Env(), Napi::Error::New(info.Env(), "this native loop was garbage-collected"));
    return Napi::Value();
  }
  return loop->Guard<Method>(info);
}

template <Napi::Value (Loop::*Method)(const Napi::CallbackInfo&)>
void Loop::BindMethod(Napi::Object self, const char* name) {
  Napi::Function fn = Napi::Function::New<CallBound<Method>>(env_, name, loop_ref_);
  loop_ref_->refs++;
  if (napi_add_finalizer(env_, fn, loop_ref_, FinalizeLoopRef, nullptr, nullptr) != napi_ok) {
    loop_ref_->refs--;
    throw Napi::Error::New(env_, "aioloop: napi_add_finalizer failed");
  }
  self.DefineProperty(Napi::PropertyDescriptor::Value(name, fn, napi_default));
}

void Loop::Release(bool from_env_cleanup) {
  if (closed_) return;
  closed_ = true;
#ifdef AIOLOOP_DEBUG
  // Counted while it holds libuv handles and references: a closed loop whose
  // JS object lives on (the hidden-class anchor, lib/hidden_classes.ts) holds none.
  g_live_loops--;
#endif
  running_ = ready_ = timer_due_ = false;
  if (!from_env_cleanup) napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
  Handles* h = handles_;
  handles_ = nullptr;
  h->owner = nullptr;  // a callback already queued in this iteration does nothing
  // uv_close also stops an active handle. Memory is freed in OnClosed.
  uv_close(reinterpret_cast<uv_handle_t*>(&h->timer), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&h->idle), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&h->check), OnClosed);
  heap_.Clear();
  // DNS requests still in the thread pool: cancel them and drop their JS
  // callbacks (their C++ callbacks only free memory now).
  ReleaseDnsRequests();
  // Streams close without telling JS (it is closing the loop, or gone).
  for (Stream* stream : streams_) {
    if (stream != nullptr) stream->Detach();
  }
  streams_.clear();
  closed_streams_.clear();  // Detach freed them
  free_ids_.clear();
  starved_.clear();
  live_streams_ = 0;
  events_.clear();
  // The slab and the events array are JS objects: dropping the references
  // frees them with the last slice JS still holds.
  if (slab_ref_ != nullptr) napi_delete_reference(env_, slab_ref_);
  if (events_ref_ != nullptr) napi_delete_reference(env_, events_ref_);
  slab_ref_ = events_ref_ = nullptr;
  ReleaseSlabMemory(slab_memory_);
  slab_memory_ = nullptr;
  ReleaseSlabMemory(out_bytes_);
  ReleaseSlabMemory(out_ops_);
  out_bytes_ = out_ops_ = nullptr;
  slab_ = nullptr;
  events_out_ = nullptr;
  slab_size_ = slab_used_ = batch_start_ = last_batch_ = events_cap_ = 0;
  on_wake_.Reset();
  if (async_context_ != nullptr) {
    napi_async_destroy(env_, async_context_);
    async_context_ = nullptr;
  }
}

void Loop::OnClosed(uv_handle_t* handle) {
  auto* h = static_cast<Handles*>(handle->data);
#ifdef AIOLOOP_DEBUG
  g_live_handles--;
#endif
  if (--h->open == 0) delete h;
}

void Loop::OnEnvCleanup(void* arg) { static_cast<Loop*>(arg)->Release(true); }

// -- libuv callbacks: never let a C++ exception escape into libuv ------------

void Loop::OnTimer(uv_timer_t* handle) {
  Loop* loop = static_cast<Handles*>(handle->data)->owner;
  if (loop == nullptr) return;
  loop->armed_for_ = kInf;  // one-shot: it is no longer armed
  // uv timers compare against the loop time cached (in whole ms) at the start
  // of the iteration, so they can fire before the deadline by hrtime. Check
  // the real clock; if early, re-arm for what remains.
  if (loop->heap_.TopWhen() <= NowMs()) {
    // Due: let the check handle run the drain after this iteration's poll
    // (one JS call per iteration), and keep the poll from blocking.
    loop->timer_due_ = true;
    loop->UpdateIdle();
  } else {
    loop->Arm();
  }
}

void Loop::OnIdle(uv_idle_t*) {
  // Nothing to do: an active idle handle only makes libuv poll with a zero
  // timeout, so the check handle runs right after pending I/O.
}

void Loop::OnCheck(uv_check_t* handle) {
  Loop* loop = static_cast<Handles*>(handle->data)->owner;
  if (loop == nullptr) return;
  if (!(loop->ready_ || loop->timer_due_ || loop->IoPending() || loop->heap_.TopWhen() <= NowMs())) return;
  // node-addon-api reports failed napi calls (HandleScope, Reference::Value)
  // as C++ exceptions; none may unwind through libuv. Such a failure means
  // the environment is going away (JS can no longer run), so there is
  // nobody left to report it to.
  try {
    loop->Wake();
  } catch (...) {
    loop->in_wake_ = false;
  }
}

void Loop::Wake() {
  if (in_wake_ || !running_) return;  // no nested drains
  // Native state first: JS may re-enter (setReady, addTimer, close...).
  // The due timer is being handled now: unless JS says work is ready
  // (setReady), the idle handle must go off, or poll would never block again.
  timer_due_ = false;
  // libuv callbacks run outside any V8 handle scope: open one before the
  // first handle (on_wake_.Value()) is created.
  Napi::HandleScope scope(env_);
  napi_value fn = on_wake_.Value();
  if (fn == nullptr) return;  // collected: cannot happen while running (strong ref)
  napi_value argv[3];
  size_t argc = 0;
  size_t delivered_closed = 0;
  if (!events_.empty()) {
    // The batch: the slab the reads landed in (JS slices it; nothing is
    // copied), and the event records in the reused Int32Array. Then the
    // native batch is empty again before any JS runs.
    size_t count = events_.size();
    if (slab_ref_ == nullptr || napi_get_reference_value(env_, slab_ref_, &argv[0]) != napi_ok || argv[0] == nullptr) {
      napi_get_undefined(env_, &argv[0]);
    }
    // Out of memory for the events array: the batch waits for the next
    // wake (the idle handle stays on while events wait).
    if (EventsOut(count, &argv[1]) &&
        napi_create_uint32(env_, static_cast<uint32_t>(count), &argv[2]) == napi_ok) {
      std::memcpy(events_out_, events_.data(), count * sizeof(int32_t));
      argc = 3;
      events_.clear();
      // Every closed stream's kEventClosed is in this batch: they go (and
      // their ids may be reused) once JS has handled it, below.
      delivered_closed = closed_streams_.size();
      last_batch_ = slab_used_ - batch_start_;
      batch_start_ = slab_used_;
    }
  }
  ResumeStarved();
  UpdateIdle();
  napi_value global;
  napi_get_global(env_, &global);
  in_wake_ = true;
  napi_value result;
  // napi_make_callback (not napi_call_function): Node's callback scope, so
  // process.nextTick callbacks and microtasks run after onWake returns, as
  // after Node's own callbacks, and async_hooks see an aioloop resource.
  napi_status status = napi_make_callback(env_, async_context_, global, fn, argc, argv, &result);
  in_wake_ = false;
  bool pending = false;
  if (status != napi_ok && napi_is_exception_pending(env_, &pending) == napi_ok && pending) {
    // The TS drain routes callback errors to the loop's exception handler, so
    // this is an internal failure: report it like an error in any Node
    // callback (process 'uncaughtException') instead of losing it, and never
    // leave it pending for the next, unrelated call into JS.
    napi_value error;
    if (napi_get_and_clear_last_exception(env_, &error) == napi_ok) napi_fatal_exception(env_, error);
  }
  // JS has handled the batch: its closed streams go, and their ids are
  // free. (A loop JS closed meanwhile freed them already, see Close.)
  // No close callback runs while JS does, so they are still the first
  // delivered_closed entries.
  if (!closed_ && delivered_closed > 0) {
    for (size_t i = 0; i < delivered_closed; i++) {
      Unregister(closed_streams_[i]);
      delete closed_streams_[i];
    }
    closed_streams_.erase(closed_streams_.begin(), closed_streams_.begin() + static_cast<std::ptrdiff_t>(delivered_closed));
  }
  // JS took its slices of this batch: the next reads may need a new slab
  // (the first one comes with the first read, see AllocRead).
  if (slab_ != nullptr) RenewSlab();
  // JS may have produced events (a failed write) while it ran: make sure the
  // next poll does not block on them. (No-op when closed.)
  UpdateIdle();
}

// -- the I/O batch (stream.h) --------------------------------------------------

void Loop::PushEvent(int32_t kind, int32_t id, int32_t a, int32_t b) {
  events_.push_back(kind);
  events_.push_back(id);
  events_.push_back(a);
  events_.push_back(b);
  // Events can come from close callbacks, which run after this iteration's
  // check handle: keep the next poll from blocking so they are delivered.
  if (events_.size() == 4) UpdateIdle();
}

uv_buf_t Loop::AllocRead() {
  // Bytes not delivered yet must stay where their events point: with none,
  // the slab may be renewed now; else the reader starves (see kReadSize).
  if (slab_size_ - slab_used_ < kReadSize && slab_used_ == batch_start_) RenewSlab();
  if (slab_ == nullptr || slab_size_ - slab_used_ < kReadSize) return uv_buf_init(nullptr, 0);
  return uv_buf_init(slab_ + slab_used_, static_cast<unsigned int>(kReadSize));
}

void Loop::CommitRead(Stream* s, const uv_buf_t* buf, ssize_t n) {
  // The read went where AllocRead pointed: the tail of the slab.
  size_t offset = static_cast<size_t>(buf->base - slab_);
  slab_used_ = offset + static_cast<size_t>(n);
  PushEvent(kEventData, s->id, static_cast<int32_t>(offset), static_cast<int32_t>(n));
}

void Loop::RenewSlab() {
  if (closed_) return;
  const size_t size = kSlabSize;
  size_t want = std::min(size / 4, std::max(kReadSize, 4 * last_batch_));
  if (slab_ != nullptr && slab_size_ - slab_used_ >= want) return;
  // Also called from libuv callbacks (a read before the first delivery),
  // where no handle scope is open. Raw N-API: nothing here may throw a C++
  // exception through libuv.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  SlabMemory* memory =
      external_slabs_ ? new (std::nothrow) SlabMemory{{2}, static_cast<char*>(std::malloc(size)), size} : nullptr;
  napi_value buffer = nullptr;
  napi_ref ref = nullptr;
  char* data = memory != nullptr ? memory->data : nullptr;
  bool external = data != nullptr &&
                  napi_create_external_buffer(env_, size, data, FinalizeSlab, memory, &buffer) == napi_ok;
  if (!external) {
    // A plain Buffer, whose memory JS owns: where ArrayBuffers cannot be
    // detached from JS but by a transfer to a worker, which the JS side
    // forbids (markAsUntransferable), or when external memory failed. On
    // Node 20 this is also faster: echo at 10 KiB costs 8.2–9.0 µs of CPU
    // a request this way against 10.6–12.3 µs with malloc'd slab memory.
    if (memory != nullptr) {
      std::free(memory->data);
      delete memory;
      memory = nullptr;
    }
    void* js_data = nullptr;
    if (napi_create_buffer(env_, size, &js_data, &buffer) != napi_ok) buffer = nullptr;
    data = static_cast<char*>(js_data);
  }
  if (external) {
    // Memory the garbage collector cannot see: tell it, or it would collect
    // old slabs rarely and the process would cycle through far more memory
    // (measured: echo at 10 KiB went from 8.2 to 10.5 µs of CPU a request).
    int64_t ignored;
    napi_adjust_external_memory(env_, static_cast<int64_t>(size), &ignored);
  }
  if (buffer != nullptr && data != nullptr && napi_create_reference(env_, buffer, 1, &ref) == napi_ok) {
    if (slab_ref_ != nullptr) napi_delete_reference(env_, slab_ref_);
    ReleaseSlabMemory(slab_memory_);
    slab_ref_ = ref;
    slab_memory_ = memory;
    slab_ = data;
    slab_size_ = size;
    slab_used_ = batch_start_ = 0;
  } else {
    // Keep the old slab (or none): starved readers retry on the next wake.
    if (memory != nullptr) memory->refs--;  // the Buffer's finalizer frees it
    bool pending = false;
    if (napi_is_exception_pending(env_, &pending) == napi_ok && pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env_, &ignored);
    }
  }
  napi_close_handle_scope(env_, scope);
}

bool Loop::EventsOut(size_t count, napi_value* out) {
  if (count > events_cap_) {
    size_t cap = std::max(kInitialEventsOut, events_cap_);
    while (cap < count) cap *= 2;
    void* data = nullptr;
    napi_value array_buffer;
    napi_value array;
    napi_ref ref;
    if (napi_create_arraybuffer(env_, cap * sizeof(int32_t), &data, &array_buffer) != napi_ok ||
        napi_create_typedarray(env_, napi_int32_array, cap, array_buffer, 0, &array) != napi_ok ||
        napi_create_reference(env_, array, 1, &ref) != napi_ok) {
      return false;
    }
    if (events_ref_ != nullptr) napi_delete_reference(env_, events_ref_);
    events_ref_ = ref;
    events_out_ = static_cast<int32_t*>(data);
    events_cap_ = cap;
    *out = array;
    return true;
  }
  return napi_get_reference_value(env_, events_ref_, out) == napi_ok;
}

// outbound() -> [bytes: ArrayBuffer, ops: ArrayBuffer]: views of the
// outbound batch (see out_bytes_ in loop.h) for JS to fill; Flush reads them
// in place. Each call gives new views of the same memory.
Napi::Value Loop::Outbound(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 0, "outbound");
  CheckOpen(info, "outbound");
  Napi::Env env = info.Env();
  if (out_bytes_ == nullptr) {
    auto* bytes = new (std::nothrow) SlabMemory{{1}, static_cast<char*>(std::malloc(kOutBytes)), kOutBytes};
    auto* ops = new (std::nothrow)
        SlabMemory{{1}, static_cast<char*>(std::malloc(kOutOps * kOutOpInts * sizeof(int32_t))),
                   kOutOps * kOutOpInts * sizeof(int32_t)};
    if (bytes == nullptr || bytes->data == nullptr || ops == nullptr || ops->data == nullptr) {
      ReleaseSlabMemory(bytes);
      ReleaseSlabMemory(ops);
      throw Napi::Error::New(env, "outbound(): out of memory");
    }
    out_bytes_ = bytes;
    out_ops_ = ops;
  }
  Napi::Array views = Napi::Array::New(env, 2);
  SlabMemory* parts[2] = {out_bytes_, out_ops_};
  for (uint32_t i = 0; i < 2; i++) {
    napi_value view;
    // The view's reference first: its finalizer releases it.
    parts[i]->refs++;
    if (napi_create_external_arraybuffer(env, parts[i]->data, parts[i]->size, FinalizeShared, parts[i], &view) != napi_ok) {
      parts[i]->refs--;
      throw Napi::Error::New(env, "outbound(): cannot create an external ArrayBuffer");
    }
    views.Set(i, Napi::Value(env, view));
  }
  return views;
}

void Loop::ResumeStarved() {
  if (starved_.empty()) return;
  std::vector<int32_t> starved;
  starved.swap(starved_);
  for (int32_t id : starved) {
    Stream* stream = static_cast<size_t>(id) < streams_.size() ? streams_[id] : nullptr;
    if (stream != nullptr && stream->starved) {
      stream->starved = false;
      stream->UpdateReading();
    }
  }
}

void Loop::Starve(Stream* s) {
  if (s->starved) return;
  s->starved = true;
  s->UpdateReading();
  starved_.push_back(s->id);
  UpdateIdle();  // the check handle must run soon to deliver and resume it
}

void Loop::Register(Stream* s) {
  int32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
    streams_[id] = s;
  } else {
    id = static_cast<int32_t>(streams_.size());
    streams_.push_back(s);
  }
  s->id = id;
  s->loop = this;
  live_streams_++;
}

void Loop::StreamClosed(Stream* s) {
  s->closed = true;
  s->read_started = false;  // uv_close stopped reading: no libuv call on it again
  closed_streams_.push_back(s);
  PushEvent(kEventClosed, s->id, 0, 0);
}

void Loop::Unregister(Stream* s) {
  if (s->id >= 0 && static_cast<size_t>(s->id) < streams_.size() && streams_[s->id] == s) {
    streams_[s->id] = nullptr;
    free_ids_.push_back(s->id);
    live_streams_--;
  }
  s->loop = nullptr;
}

int Loop::NewStream(Stream::Kind kind, int af, Stream** out) {
  auto* stream = new Stream();
  stream->kind = kind;
  int err;
  switch (kind) {
    case Stream::kTcp:
      err = uv_tcp_init_ex(uv_loop_, &stream->h.tcp, static_cast<unsigned int>(af));
      break;
    case Stream::kUdp:
      err = uv_udp_init_ex(uv_loop_, &stream->h.udp, static_cast<unsigned int>(af));
      break;
    case Stream::kSignal:
      err = uv_signal_init(uv_loop_, &stream->h.signal);
      break;
    case Stream::kProcess:
      // uv_spawn initialises the handle itself; nothing to do until then.
      err = 0;
      break;
    default:
      err = uv_pipe_init(uv_loop_, &stream->h.pipe, 0);
  }
  if (err != 0) {
    delete stream;  // init failed: libuv holds nothing
    return err;
  }
  stream->h.handle.data = stream;
  // The loop holds Node's loop open while it runs; an idle connection must
  // not keep the process alive by itself (nobody would handle its events).
  uv_unref(stream->Handle());
#ifdef AIOLOOP_DEBUG
  g_live_handles++;
#endif
  Register(stream);
  *out = stream;
  return 0;
}

void Loop::ThrowUv(const Napi::CallbackInfo& info, int err, const char* syscall, const std::string& detail) {
  Napi::Env env = info.Env();
  std::string message = std::string(syscall) + " " + uv_err_name(err) + ": " + uv_strerror(err);
  if (!detail.empty()) message += " " + detail;
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, uv_err_name(err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  throw error;
}

Stream* Loop::StreamArg(const Napi::CallbackInfo& info, size_t i, const char* method) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(method) + "() stream id must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  CheckOpen(info, method);
  if (!(d >= 0) || std::floor(d) != d || d >= static_cast<double>(streams_.size()) || streams_[static_cast<size_t>(d)] == nullptr) {
    throw Napi::RangeError::New(info.Env(), std::string(method) + "(): no open stream with id " + std::to_string(d));
  }
  return streams_[static_cast<size_t>(d)];
}

// -- state ---------------------------------------------------------------------

void Loop::Arm() {
  if (!running_ || closed_) return;
  double top = heap_.TopWhen();
  if (top == armed_for_) return;
  uv_timer_t* timer = &handles_->timer;
  if (top == kInf) {
    uv_timer_stop(timer);
    armed_for_ = kInf;
    return;
  }
  double delay = std::ceil(top - NowMs());
  uint64_t timeout = delay <= 0 ? 0 : static_cast<uint64_t>(delay < kMaxTimeoutMs ? delay : kMaxTimeoutMs);
  uv_timer_start(timer, OnTimer, timeout, 0);
  armed_for_ = top;
}

void Loop::UpdateIdle() {
  if (handles_ == nullptr) return;
  uv_idle_t* idle = &handles_->idle;
  // Starved readers wait for the check handle's delivery: poll must not block.
  bool want = running_ && (ready_ || timer_due_ || !events_.empty() || !starved_.empty());
  bool active = uv_is_active(reinterpret_cast<uv_handle_t*>(idle)) != 0;
  if (want && !active) {
    uv_idle_start(idle, OnIdle);
  } else if (!want && active) {
    uv_idle_stop(idle);
  }
}

void Loop::CheckOpen(const Napi::CallbackInfo& info, const char* method) const {
  if (closed_) throw Napi::Error::New(info.Env(), std::string("Loop.") + method + "(): the native loop is closed");
}

// -- JS methods ----------------------------------------------------------------

Napi::Value Loop::Now(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 0, "now");
  CheckOpen(info, "now");
  return Napi::Number::New(info.Env(), NowMs());
}

Napi::Value Loop::SetRunning(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 1, "setRunning");
  bool running = BoolArg(info, 0, "setRunning() argument");
  CheckOpen(info, "setRunning");
  if (running == running_) return info.Env().Undefined();
  uv_check_t* check = &handles_->check;
  if (running) {
    running_ = true;
    on_wake_.Ref();  // a running loop must stay alive (see the constructor)
    uv_check_start(check, OnCheck);
    uv_ref(reinterpret_cast<uv_handle_t*>(check));  // keeps the process alive
    armed_for_ = kInf;
    Arm();
  } else {
    running_ = false;
    timer_due_ = false;
    on_wake_.Unref();
    uv_check_stop(check);
    uv_unref(reinterpret_cast<uv_handle_t*>(check));
    uv_timer_stop(&handles_->timer);
    armed_for_ = kInf;
  }
  UpdateIdle();
  return info.Env().Undefined();
}

Napi::Value Loop::SetReady(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 1, "setReady");
  bool ready = BoolArg(info, 0, "setReady() argument");
  CheckOpen(info, "setReady");
  ready_ = ready;
  UpdateIdle();
  return info.Env().Undefined();
}

Napi::Value Loop::AddTimer(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "addTimer");
  double when = NumberArg(info, 0, "addTimer() deadline");
  int32_t id = IdArg(info, 1);
  CheckOpen(info, "addTimer");
  if (heap_.Contains(id)) throw Napi::RangeError::New(info.Env(), "addTimer(): timer id " + std::to_string(id) + " is already stored");
  heap_.Push(when, id);
  if (when < armed_for_) Arm();  // no-op unless running
  return info.Env().Undefined();
}

Napi::Value Loop::CancelTimer(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 1, "cancelTimer");
  int32_t id = IdArg(info, 0);
  CheckOpen(info, "cancelTimer");
  // The uv timer stays armed even if this was the earliest deadline: when it
  // fires it finds nothing due and re-arms. Cancelling stays O(1) (a heap
  // tombstone, see timer_heap.h) with no libuv call.
  return Napi::Boolean::New(info.Env(), heap_.Cancel(id));
}

// The batched form of addTimer/cancelTimer. Each JS->C++ call costs 80-150 ns
// here (node-addon-api instance method on Node 20), more than the heap work,
// so the TS loop logs timer ops into a Float64Array and hands them over once
// per burst (or per 1024 ops). The buffer is passed on every call and read
// only during it: no reference to keep, nothing dangling if JS detaches it.
Napi::Value Loop::ApplyOps(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "applyOps");
  Napi::Value ops_value = info[0];
  if (!ops_value.IsTypedArray() || ops_value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(info.Env(), "applyOps() ops must be a Float64Array");
  }
  Napi::Float64Array ops = ops_value.As<Napi::Float64Array>();
  double count = NumberArg(info, 1, "applyOps() count");
  if (!(count >= 0) || std::floor(count) != count || count * 2 > static_cast<double>(ops.ElementLength())) {
    throw Napi::RangeError::New(info.Env(), "applyOps() count must be an integer in [0, ops.length / 2]");
  }
  CheckOpen(info, "applyOps");
  const double* data = ops.Data();
  double earliest = kInf;
  for (size_t i = 0, n = static_cast<size_t>(count); i < n; i++) {
    double when = data[2 * i];
    double id_value = data[2 * i + 1];
    // Ops before a bad one stay applied; the heap is consistent either way.
    if (!ValidId(id_value)) throw BadId(info.Env());
    int32_t id = static_cast<int32_t>(id_value);
    if (std::isnan(when)) {
      heap_.Cancel(id);
    } else {
      if (heap_.Contains(id)) {
        throw Napi::RangeError::New(info.Env(), "applyOps(): timer id " + std::to_string(id) + " is already stored");
      }
      heap_.Push(when, id);
      if (when < earliest) earliest = when;
    }
  }
  if (earliest < armed_for_) Arm();  // no-op unless running
  return info.Env().Undefined();
}

Napi::Value Loop::PopDue(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 2, "popDue");
  double now = NumberArg(info, 0, "popDue() time");
  Napi::Value out_value = info[1];
  if (!out_value.IsTypedArray() || out_value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(info.Env(), "popDue() output must be an Int32Array");
  }
  Napi::Int32Array out = out_value.As<Napi::Int32Array>();
  size_t capacity = out.ElementLength();
  if (capacity == 0) throw Napi::RangeError::New(info.Env(), "popDue() output must not be empty");
  CheckOpen(info, "popDue");
  int32_t* data = out.Data();
  size_t count = 0;
  // Size() first: an empty heap's TopWhen() is +Infinity, which popDue(Infinity) would take for a due timer.
  while (count < capacity && heap_.Size() > 0 && heap_.TopWhen() <= now) data[count++] = heap_.PopTop();
  if (count > 0) Arm();
  return Napi::Number::New(info.Env(), static_cast<double>(count));
}

Napi::Value Loop::NextDeadline(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 0, "nextDeadline");
  CheckOpen(info, "nextDeadline");
  return Napi::Number::New(info.Env(), heap_.TopWhen());
}

Napi::Value Loop::Close(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 0, "close");
  Release(false);  // idempotent; legal from inside onWake (uv_close in a callback is)
  return info.Env().Undefined();
}

Napi::Value Loop::Stats(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 0, "stats");
  Napi::Env env = info.Env();
  Napi::Object stats = Napi::Object::New(env);
  // Per loop: what this loop still holds. All zero after close().
  stats.Set("handles", handles_ == nullptr ? 0 : 3);
  stats.Set("activeHandles",
            handles_ == nullptr ? 0
                                : uv_is_active(reinterpret_cast<uv_handle_t*>(&handles_->timer)) +
                                      uv_is_active(reinterpret_cast<uv_handle_t*>(&handles_->idle)) +
                                      uv_is_active(reinterpret_cast<uv_handle_t*>(&handles_->check)));
  stats.Set("timers", static_cast<double>(heap_.Size()));
  // Open streams; closed ones whose close JS has not been handed yet are
  // counted apart (their libuv handles are gone already).
  stats.Set("streams", static_cast<double>(live_streams_ - closed_streams_.size()));
  stats.Set("closedStreams", static_cast<double>(closed_streams_.size()));
  stats.Set("references", (on_wake_.IsEmpty() ? 0 : 1) + (async_context_ == nullptr ? 0 : 1) + read_buffers_ +
                              (slab_ref_ == nullptr ? 0 : 1) + (events_ref_ == nullptr ? 0 : 1));
  stats.Set("readBuffers", read_buffers_);
  stats.Set("strongReferences", running_ ? 1 : 0);
  stats.Set("closed", closed_);
  return stats;
}

// -- registration ----------------------------------------------------------------

namespace {

Napi::Value ExportedNow(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 0, "now");
  return Napi::Number::New(info.Env(), NowMs());
}

Napi::Value DebugCounters(const Napi::CallbackInfo& info) {
  ExpectArgs(info, 0, "debugCounters");
#ifdef AIOLOOP_DEBUG
  Napi::Object counters = Napi::Object::New(info.Env());
  counters.Set("liveHandles", static_cast<double>(g_live_handles.load()));
  counters.Set("liveLoops", static_cast<double>(g_live_loops.load()));
  return counters;
#else
  return info.Env().Undefined();
#endif
}

}  // namespace

void InitLoop(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Loop::DefineClass(env);
  env.SetInstanceData<AddonData>(new AddonData{Napi::Persistent(ctor)});
  exports.Set("Loop", ctor);
  // The clock without a Loop: the TS loop's time() must keep working after
  // close() (as the default loop's does), and it saves the receiver check.
  exports.Set("now", Napi::Function::New(env, Guarded<ExportedNow>, "now"));
  // Process-wide leak counters, debug builds only (undefined otherwise).
  exports.Set("debugCounters", Napi::Function::New(env, Guarded<DebugCounters>, "debugCounters"));
}

}  // namespace aioloop
