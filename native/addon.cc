// Module entry point for the `aioloop` native addon.
//
// Version/toolchain probes plus one native/<kind>.{h,cc} pair per libuv
// handle kind, each registered from Init below (loop.cc: the Loop class).
#include "addon.h"
#include "loop.h"

#include <uv.h>

#include <string>

namespace aioloop {
namespace {

// Matches package.json "version"; JS compares the two to detect a stale
// build/ directory left over from an older checkout.
constexpr char kVersion[] = "0.1.0";

#ifdef AIOLOOP_DEBUG
constexpr bool kDebugBuild = true;
#else
constexpr bool kDebugBuild = false;
#endif

// Rejecting stray arguments keeps the JS/native contract strict from day one
// and exercises the exception path: with NAPI_CPP_EXCEPTIONS the throw below
// surfaces as a JS TypeError instead of aborting the process.
void ExpectNoArgs(const Napi::CallbackInfo& info, const char* name) {
  if (info.Length() != 0) {
    throw Napi::TypeError::New(info.Env(),
                               std::string(name) + "() takes no arguments");
  }
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  ExpectNoArgs(info, "version");
  return Napi::String::New(info.Env(), kVersion);
}

// The libuv linked into *this* node process (symbols resolve against the
// node binary at load time), which is the one the native loop will drive.
Napi::Value LibuvVersion(const Napi::CallbackInfo& info) {
  ExpectNoArgs(info, "libuvVersion");
  return Napi::String::New(info.Env(), uv_version_string());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, Guarded<Version>, "version"));
  exports.Set("libuvVersion",
              Napi::Function::New(env, Guarded<LibuvVersion>, "libuvVersion"));
  // napi_get_version (wrapped by node-addon-api): the highest Node-API version
  // the running node supports, not the NAPI_VERSION we compiled against.
  exports.Set("napiVersion", Napi::Number::New(
                                 env, Napi::VersionManagement::GetNapiVersion(env)));
  exports.Set("debugBuild", Napi::Boolean::New(env, kDebugBuild));

  // Per-handle-kind registration: one Init<Kind> call each.
  InitLoop(env, exports);
  return exports;
}

}  // namespace
}  // namespace aioloop

// The macro pastes its second argument into an identifier, so it must be a
// plain name, not a qualified one.
using aioloop::Init;
NODE_API_MODULE(aioloop, Init)
