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
//   stats()                  -> { handles, timers, references, closed }
#ifndef AIOLOOP_NATIVE_LOOP_H_
#define AIOLOOP_NATIVE_LOOP_H_

#include <uv.h>

#include "addon.h"
#include "timer_heap.h"

namespace aioloop {

class Loop : public Napi::ObjectWrap<Loop> {
 public:
  static Napi::Function DefineClass(Napi::Env env);

  explicit Loop(const Napi::CallbackInfo& info);
  ~Loop() override;

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

  napi_env env_;
  Handles* handles_ = nullptr;
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
