// The native loop's C++ half: a timer heap behind one uv_timer_t, and an
// idle + check handle pair that wakes the TypeScript drain on Node's own
// libuv loop. The ready queue stays in TypeScript (see DESIGN.md, "Where the
// ready queue lives"): C++ calls JS once per libuv iteration at most, never
// once per callback.
//
// JS API (every argument validated; bad input throws TypeError/RangeError):
//   new Loop(onWake)         onWake() runs the TS drain (via MakeCallback);
//                            held weakly while not running (the caller keeps
//                            it alive), strongly while running
//   now()                    uv_hrtime in ms (double, sub-ms)
//   setRunning(bool)         ref Node's loop + start check/timer, or undo
//   setReady(bool)           idle handle on (poll must not block) or off
//   addTimer(when, id)       store a timer
//   cancelTimer(id)          -> bool (false when not stored)
//   applyOps(Float64Array, n) apply n logged timer ops: pairs (when, id) add,
//                            (NaN, id) cancel; in order (the batched path)
//   popDue(now, Int32Array)  -> count of due ids written, in order
//   nextDeadline()           -> earliest deadline, Infinity when none
//   close()                  release every handle and reference (idempotent)
//   stats()                  -> { handles, timers, references, streams, closed }
//
// Streams (stream.cc, tcp.cc, pipe.cc) add: flush, write, readStart,
// readStop, setReadBuffer, rearmReadBuffer, shutdown, closeStream, fileno,
// tcpListen, tcpConnect, tcpAddress, pipeListen, pipeConnect, pipeOpen.
// Their events reach JS as
// onWake(slab, events, n): the inbound slab (a Buffer the reads landed in,
// see AllocRead) and an Int32Array whose first n entries are (kind, id, a,
// b) records (stream.h), once per libuv iteration at most; onWake() without
// arguments when there is no I/O.
#ifndef AIOLOOP_NATIVE_LOOP_H_
#define AIOLOOP_NATIVE_LOOP_H_

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "addon.h"
#include "stream.h"
#include "timer_heap.h"

namespace aioloop {

#ifdef AIOLOOP_DEBUG
// libuv handles allocated whose close callback has not run, process-wide.
extern std::atomic<int64_t> g_live_handles;
#endif

// Memory the addon uses and JS sees through an external buffer (a slab, the
// outbound batch): freed when both the loop and every JS view (its
// finalizer) have let go. JS could detach a view (transfer it to a worker):
// the loop would still use memory that is alive. Atomic: Node may finalize
// an external buffer from another thread's free.
struct SlabMemory {
  std::atomic<int> refs;
  char* data;
  size_t size;
};

// What a method bound to one loop (Loop::BindMethod) knows of it: the loop,
// until the loop's wrapper is collected. Bound methods skip ObjectWrap's
// Unwrap, whose private-symbol lookup (napi_unwrap) cost ~800 instructions a
// call, more than a flush of one write (callgrind, echo, 1 connection).
// Freed with the last of the loop and its bound functions (JS thread only).
struct LoopRef {
  class Loop* loop;
  int refs;
};

// Ints per record of the outbound batch: (stream id, offset, length).
constexpr size_t kOutOpInts = 3;

class Loop : public Napi::ObjectWrap<Loop> {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  explicit Loop(const Napi::CallbackInfo& info);
  ~Loop() override;

  // -- for the stream files (C++ only) ---------------------------------------
  uv_loop_t* UvLoop() const { return uv_loop_; }
  napi_env Env() const { return env_; }
  // Read buffers (BufferedProtocol) referenced now, for stats().
  int read_buffers_ = 0;
  // Appends an event record; JS gets it with the next batch.
  void PushEvent(int32_t kind, int32_t id, int32_t a, int32_t b);
  // Room for one read in the inbound slab (len 0: none, the reader starves).
  uv_buf_t AllocRead();
  // `n` bytes were read into the buffer AllocRead gave `s`: record them.
  void CommitRead(Stream* s, const uv_buf_t* buf, ssize_t n);
  // A datagram of `n` bytes was received at `buf` (after the room for its
  // address record, see udp.h) from `addr`: record it.
  void CommitDatagram(Stream* s, const uv_buf_t* buf, ssize_t n, const struct sockaddr* addr);
  // A read found no room: reading resumes on `s` after the next delivery.
  void Starve(Stream* s);
  // Gives `s` an id and stores it; Unregister frees the id.
  void Register(Stream* s);
  void Unregister(Stream* s);
  // The close callback of a stream JS knows: kEventClosed is queued, and the
  // Stream stays registered (closed) until JS has been handed that event
  // (Wake). JS may call with the id until then: a stream C++ closed while JS
  // ran (a write that failed at once) is news to JS only at the next
  // delivery, and an id freed at once could meanwhile be a new connection's,
  // which would then get writes meant for the lost one.
  void StreamClosed(Stream* s);
  // A new registered Stream with an initialised, unreferenced handle. For
  // TCP, `af` (AF_INET/AF_INET6) creates the socket at once (uv_tcp_init_ex),
  // AF_UNSPEC lazily. Returns a libuv error (nothing allocated), or 0.
  int NewStream(Stream::Kind kind, int af, Stream** out);
  // Throws a JS Error like Node's: message "<syscall> <CODE>: <text> <detail>",
  // with .code, .errno and .syscall.
  [[noreturn]] void ThrowUv(const Napi::CallbackInfo& info, int err, const char* syscall, const std::string& detail);
  // The stream with this id, or a TypeError/RangeError for JS.
  Stream* StreamArg(const Napi::CallbackInfo& info, size_t i, const char* method);

 private:
  // The libuv handles live in their own allocation, not inside Loop: uv_close
  // completes on a later loop iteration, possibly after the JS object (and so
  // this Loop) was finalized. The last close callback frees it.
  struct Handles {
    uv_timer_t timer;
    uv_idle_t idle;
    uv_check_t check;
    Loop* owner;      // null once the loop is closed: callbacks then do nothing
    int open;         // handles whose close callback has not run yet
  };

  static void OnTimer(uv_timer_t* handle);
  static void OnIdle(uv_idle_t* handle);
  static void OnCheck(uv_check_t* handle);
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvCleanup(void* arg);
  // A method called through an own property of the wrapper (see LoopRef).
  template <Napi::Value (Loop::*Method)(const Napi::CallbackInfo&)>
  static Napi::Value CallBound(const Napi::CallbackInfo& info);
  // A method (prototype or bound), its errors thrown through ThrowToJs (addon.h).
  template <Napi::Value (Loop::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Guard(const Napi::CallbackInfo& info) {
    try {
      return (this->*Method)(info);
    } catch (const Napi::Error& error) {
      ThrowToJs(info.Env(), error);
      return Napi::Value();
    }
  }
  // The constructor's work (the constructor catches what it throws).
  void Init(const Napi::CallbackInfo& info);
  template <Napi::Value (Loop::*Method)(const Napi::CallbackInfo&)>
  void BindMethod(Napi::Object self, const char* name);

  Napi::Value Now(const Napi::CallbackInfo& info);
  Napi::Value SetRunning(const Napi::CallbackInfo& info);
  Napi::Value SetReady(const Napi::CallbackInfo& info);
  Napi::Value AddTimer(const Napi::CallbackInfo& info);
  Napi::Value CancelTimer(const Napi::CallbackInfo& info);
  Napi::Value ApplyOps(const Napi::CallbackInfo& info);
  Napi::Value PopDue(const Napi::CallbackInfo& info);
  Napi::Value NextDeadline(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Outbound(const Napi::CallbackInfo& info);
  // stream.cc
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value ReadStart(const Napi::CallbackInfo& info);
  Napi::Value ReadStop(const Napi::CallbackInfo& info);
  Napi::Value Shutdown(const Napi::CallbackInfo& info);
  Napi::Value CloseStream(const Napi::CallbackInfo& info);
  Napi::Value Fileno(const Napi::CallbackInfo& info);
  Napi::Value SetReadBuffer(const Napi::CallbackInfo& info);
  Napi::Value RearmReadBuffer(const Napi::CallbackInfo& info);
  // tcp.cc
  Napi::Value TcpListen(const Napi::CallbackInfo& info);
  Napi::Value TcpConnect(const Napi::CallbackInfo& info);
  Napi::Value TcpAddress(const Napi::CallbackInfo& info);
  // udp.cc
  Napi::Value UdpBind(const Napi::CallbackInfo& info);
  Napi::Value UdpConnect(const Napi::CallbackInfo& info);
  Napi::Value UdpAddress(const Napi::CallbackInfo& info);
  // process.cc
  Napi::Value Spawn(const Napi::CallbackInfo& info);
  Napi::Value Kill(const Napi::CallbackInfo& info);
  // signal.cc
  Napi::Value SignalStart(const Napi::CallbackInfo& info);
  // dns.cc
  Napi::Value Getaddrinfo(const Napi::CallbackInfo& info);
  Napi::Value Getnameinfo(const Napi::CallbackInfo& info);
  // pipe.cc
  Napi::Value PipeListen(const Napi::CallbackInfo& info);
  Napi::Value PipeConnect(const Napi::CallbackInfo& info);
  Napi::Value PipeOpen(const Napi::CallbackInfo& info);

  void CheckOpen(const Napi::CallbackInfo& info, const char* method) const;

  // Arms the uv_timer_t for the earliest deadline (or stops it).
  void Arm();
  // Idle handle on exactly while running and (ready work or a due timer).
  void UpdateIdle();
  // Calls onWake through napi_make_callback; swallows nothing silently: a JS
  // error that escapes the TS drain goes to process 'uncaughtException'.
  void Wake();
  // Releases handles and references. from_env_cleanup: the environment is
  // being torn down (worker exit): the cleanup hook is already being removed
  // by Node, and no JS may run.
  void Release(bool from_env_cleanup);

  // True while events or bytes wait for the next onWake.
  bool IoPending() const { return !events_.empty(); }
  // Gives the loop a fresh inbound slab when the current one runs low (or
  // there is none). Creates a JS object: call only where JS could run.
  void RenewSlab();
  // Streams that starved (no room for a read) read again.
  void ResumeStarved();
  // The Int32Array that carries event records to JS, grown to `count`.
  bool EventsOut(size_t count, napi_value* out);
  // dns.cc: cancel pending requests and drop their callbacks (Release).
  void ReleaseDnsRequests();

  napi_env env_;
  LoopRef* loop_ref_ = nullptr;
  uv_loop_t* uv_loop_ = nullptr;
  Handles* handles_ = nullptr;
  // The inbound slab: a JS Buffer that reads land in, one after another,
  // and that JS slices without copying. Bytes once delivered are never
  // overwritten, so a plain protocol may keep its slices: a slab that runs
  // low is replaced by a new one (RenewSlab), and the old one lives on as
  // long as JS holds slices of it.
  napi_ref slab_ref_ = nullptr;
  SlabMemory* slab_memory_ = nullptr;  // null if JS owns the slab's memory
  bool external_slabs_ = true;   // slab memory is the addon's (see the constructor)
  char* slab_ = nullptr;
  size_t slab_size_ = 0;
  size_t slab_used_ = 0;
  // Where this batch's bytes start in the slab, and the size of the last
  // batch (the slab is renewed while it still has room for a few more).
  size_t batch_start_ = 0;
  size_t last_batch_ = 0;
  // The outbound batch that JS fills and Flush reads in place: the bytes,
  // and (id, offset, length) records. The addon's own memory, shown to JS
  // as external ArrayBuffers (Outbound), so a flush passes only a count:
  // checking two typed arrays per flush cost ~1,600 instructions, as much as
  // the rest of a one-request batch's C++ (callgrind, echo, 1 connection).
  // Refcounted like a slab: a view JS detached or kept after close() never
  // leaves either side with freed memory.
  SlabMemory* out_bytes_ = nullptr;
  SlabMemory* out_ops_ = nullptr;
  // Event records of this iteration, and the reused JS array they are
  // copied into for onWake.
  std::vector<int32_t> events_;
  napi_ref events_ref_ = nullptr;
  int32_t* events_out_ = nullptr;
  size_t events_cap_ = 0;
  // Stream registry: id -> Stream (null in free slots), and the free ids.
  std::vector<Stream*> streams_;
  std::vector<int32_t> free_ids_;
  size_t live_streams_ = 0;
  // Closed streams not freed yet: JS has not handled their kEventClosed
  // (StreamClosed, Wake).
  std::vector<Stream*> closed_streams_;
  std::vector<int32_t> starved_;
 public:
  // dns.cc: requests in the thread pool (opaque: dns.cc owns the type).
  std::vector<void*> dns_reqs_;

 private:
  Napi::FunctionReference on_wake_;
  napi_async_context async_context_ = nullptr;
  TimerHeap heap_;
  double armed_for_;   // deadline the uv timer is armed for (+Inf: disarmed)
  bool running_ = false;
  bool ready_ = false;
  bool timer_due_ = false;  // the uv timer fired for a due deadline
  bool closed_ = false;
  bool in_wake_ = false;
};

// Registers the Loop class on exports.
void InitLoop(Napi::Env env, Napi::Object exports);

}  // namespace aioloop

#endif  // AIOLOOP_NATIVE_LOOP_H_
