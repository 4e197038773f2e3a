// Argument checks and address conversions shared by the native/*.cc files
// that take arguments from JS: every check throws a JS TypeError or
// RangeError (NAPI_CPP_EXCEPTIONS) naming the method and the argument.
#ifndef AIOLOOP_NATIVE_ARGS_H_
#define AIOLOOP_NATIVE_ARGS_H_

#include <uv.h>

#include <cmath>
#include <cstring>
#include <string>

#include "addon.h"

namespace aioloop {

inline void ExpectArgCount(const Napi::CallbackInfo& info, size_t n, const char* method) {
  if (info.Length() != n) {
    throw Napi::TypeError::New(info.Env(), std::string(method) + "() takes " + std::to_string(n) + " argument" +
                                               (n == 1 ? "" : "s") + ", got " + std::to_string(info.Length()));
  }
}

inline std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline bool BooleanArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// An integer in [lo, hi].
inline double IntegerArg(const Napi::CallbackInfo& info, size_t i, const char* what, double lo, double hi) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || std::floor(d) != d) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be an integer in [" + std::to_string(static_cast<long long>(lo)) +
                                                ", " + std::to_string(static_cast<long long>(hi)) + "]");
  }
  return d;
}

inline int PortArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return static_cast<int>(IntegerArg(info, i, what, 0, 65535));
}

// A numeric IPv4 or IPv6 address (an optional %scope included) and a port.
inline bool ParseAddress(const std::string& host, int port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  return uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0;
}

// "host:port", "[v6]:port": for error messages.
inline std::string DescribeAddress(const std::string& host, int port) {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
}

// [address, port, 'IPv4' | 'IPv6'] of a socket address, as JS wants it.
inline Napi::Value AddressArray(Napi::Env env, const sockaddr_storage& addr) {
  char name[INET6_ADDRSTRLEN + 16] = {0};
  int port;
  const char* family;
  if (addr.ss_family == AF_INET6) {
    auto* a6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    uv_ip6_name(a6, name, sizeof(name));
    port = ntohs(a6->sin6_port);
    family = "IPv6";
  } else {
    auto* a4 = reinterpret_cast<const sockaddr_in*>(&addr);
    uv_ip4_name(a4, name, sizeof(name));
    port = ntohs(a4->sin_port);
    family = "IPv4";
  }
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, Napi::String::New(env, name));
  result.Set(1u, Napi::Number::New(env, port));
  result.Set(2u, Napi::String::New(env, family));
  return result;
}

}  // namespace aioloop

#endif  // AIOLOOP_NATIVE_ARGS_H_
