// Shared header for every native/*.cc translation unit.
//
// All build configuration lives here as a guard rather than only in the build
// files: binding.gyp and CMakeLists.txt both define these macros, and the
// #errors below catch a build file that drifts (e.g. a new toolchain flag that
// silently turns C++ exceptions off).
#ifndef AIOLOOP_NATIVE_ADDON_H_
#define AIOLOOP_NATIVE_ADDON_H_

// Node-API 8 is the floor of Node >= 12.22 / 14.17 / 16, far below our
// engines (>= 20.17). Pinning it (instead of "whatever the running node
// offers") keeps the ABI we compile against identical across build tools.
#ifndef NAPI_VERSION
#error "NAPI_VERSION must be defined by the build (binding.gyp / CMakeLists.txt)"
#elif NAPI_VERSION != 8
#error "aioloop targets NAPI_VERSION 8; update package.json binary.napi_versions too"
#endif

// node-addon-api only checks that *some* exception mode was chosen; it does not
// notice -fno-exceptions combined with NAPI_CPP_EXCEPTIONS, which would turn
// every Napi::Error throw into a compile error or, worse, std::terminate.
#if defined(NAPI_CPP_EXCEPTIONS) && !defined(__cpp_exceptions) && \
    !defined(__EXCEPTIONS) && !defined(_CPPUNWIND)
#error "NAPI_CPP_EXCEPTIONS is set but the compiler has exceptions disabled"
#endif

#include <napi.h>

namespace aioloop {

// Whether a JS exception can be thrown now: not while one is pending (a
// worker being terminated has one).
inline bool CanThrowToJs(napi_env env) noexcept {
  bool pending = false;
  return napi_is_exception_pending(env, &pending) == napi_ok && !pending;
}

// Throw `error` to JS, or drop it when that cannot be done. node-addon-api
// turns a Napi::Error leaving a callback into napi_throw, and when an
// exception is already pending it throws again from its own catch block,
// which ends in std::terminate (a worker terminated while it called into the
// addon aborted the whole process). Every entry point catches its errors and
// hands them here instead (Guarded, Loop::Guard).
inline void ThrowToJs(napi_env env, const Napi::Error& error) noexcept {
  if (!CanThrowToJs(env)) return;
  try {
    napi_throw(env, error.Value());
  } catch (...) {
    // The error's value is gone with the environment: nothing to throw.
  }
}

// A free function as a JS callback, its errors thrown through ThrowToJs.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (const Napi::Error& error) {
    ThrowToJs(info.Env(), error);
    return Napi::Value();
  }
}

// Convention for the upcoming per-handle-kind files (loop.cc, timer_heap.cc,
// tcp.cc, ...): each defines one Init<Kind>(env, exports) that attaches its
// exports, declares it here, and gets one call in addon.cc's Init. Keeping
// registration explicit (no static-constructor magic) makes the init order
// deterministic and visible in one place.
//
// loop.h declares InitLoop(env, exports).

}  // namespace aioloop

#endif  // AIOLOOP_NATIVE_ADDON_H_
