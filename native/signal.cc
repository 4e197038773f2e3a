// Signal watchers (uv_signal_t): one per (loop, signal) the TS side asks
// for. A delivery becomes a kEventSignal record in the loop's event batch,
// so the handler runs on the loop like any I/O callback. Stopping a watcher
// is closeStream(id, true).
#include <string>

#include "args.h"
#include "loop.h"
#include "stream.h"

namespace aioloop {
namespace {

void OnSignal(uv_signal_t* handle, int signum) {
  auto* s = static_cast<Stream*>(handle->data);
  if (s->loop == nullptr || s->closing) return;
  s->loop->PushEvent(kEventSignal, s->id, signum, 0);
}

}  // namespace

// signalStart(signum) -> id. Like every aioloop handle it does not keep the
// process alive by itself (asyncio: a signal handler alone does not keep
// run_forever() busy, the running loop does).
Napi::Value Loop::SignalStart(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 1, "signalStart");
  double d = IntegerArg(info, 0, "signalStart() signal", 1, 64);
  CheckOpen(info, "signalStart");
  Stream* s = nullptr;
  int err = NewStream(Stream::kSignal, 0, &s);
  if (err == 0) err = uv_signal_start(&s->h.signal, OnSignal, static_cast<int>(d));
  if (err != 0) {
    if (s != nullptr) {
      Unregister(s);
      s->Detach();
    }
    ThrowUv(info, err, "signal", std::to_string(static_cast<int>(d)));
  }
  return Napi::Number::New(info.Env(), s->id);
}

}  // namespace aioloop
