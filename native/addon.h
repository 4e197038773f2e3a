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

// Convention for the upcoming per-handle-kind files (loop.cc, timer_heap.cc,
// tcp.cc, ...): each defines one Init<Kind>(env, exports) that attaches its
// exports, declares it here, and gets one call in addon.cc's Init. Keeping
// registration explicit (no static-constructor magic) makes the init order
// deterministic and visible in one place.
//
// loop.h declares InitLoop(env, exports).

}  // namespace aioloop

#endif  // AIOLOOP_NATIVE_ADDON_H_
