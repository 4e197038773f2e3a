// Name resolution off the loop thread: uv_getaddrinfo and uv_getnameinfo
// run in libuv's thread pool; their results reach JS through the request's
// own callback (napi_make_callback), not the event batch: a lookup is rare
// and its result is a list, not a record.
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "args.h"
#include "loop.h"
#include "stream.h"

namespace aioloop {
namespace {

struct DnsReq {
  union {
    uv_req_t req;
    uv_getaddrinfo_t addr;
    uv_getnameinfo_t name;
  } r;
  Loop* loop;  // null once the loop released it: the callback only frees
  napi_env env;
  napi_ref callback;
  napi_async_context context;
};

void Forget(DnsReq* req) {
  auto& reqs = req->loop->dns_reqs_;
  reqs.erase(std::remove(reqs.begin(), reqs.end(), static_cast<void*>(req)), reqs.end());
}

// Calls the request's callback with (error | null, result), then frees it.
void Finish(DnsReq* req, int status, napi_value (*make_result)(napi_env, DnsReq*)) {
  if (req->loop == nullptr) {
    delete req;
    return;
  }
  Forget(req);
  napi_env env = req->env;
  Napi::HandleScope scope(env);
  napi_value argv[2];
  if (status != 0) {
    // Node's dns spelling: EAI_NONAME / EAI_NODATA are 'ENOTFOUND'.
    const char* name = uv_err_name(status);
    std::string code = (status == UV_EAI_NONAME || status == UV_EAI_NODATA) ? "ENOTFOUND" : name;
    Napi::Error error = Napi::Error::New(env, code + ": " + uv_strerror(status));
    error.Set("code", Napi::String::New(env, code));
    error.Set("errno", Napi::Number::New(env, status));
    argv[0] = error.Value();
    napi_get_undefined(env, &argv[1]);
  } else {
    napi_get_null(env, &argv[0]);
    argv[1] = make_result(env, req);
  }
  napi_value fn, global, result;
  napi_get_reference_value(env, req->callback, &fn);
  napi_get_global(env, &global);
  napi_delete_reference(env, req->callback);
  napi_async_context context = req->context;
  delete req;
  if (fn != nullptr) {
    napi_status s = napi_make_callback(env, context, global, fn, 2, argv, &result);
    bool pending = false;
    if (s != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
  }
  napi_async_destroy(env, context);
}

napi_value AddrinfoResult(napi_env env, DnsReq* req) {
  // [family (4|6), address, ...] flat, in the resolver's order, duplicates kept.
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (addrinfo* ai = req->r.addr.addrinfo; ai != nullptr; ai = ai->ai_next) {
    char name[INET6_ADDRSTRLEN + 1] = {0};
    if (ai->ai_family == AF_INET) {
      uv_ip4_name(reinterpret_cast<sockaddr_in*>(ai->ai_addr), name, sizeof(name));
      out.Set(i++, Napi::Number::New(env, 4));
    } else if (ai->ai_family == AF_INET6) {
      uv_ip6_name(reinterpret_cast<sockaddr_in6*>(ai->ai_addr), name, sizeof(name));
      out.Set(i++, Napi::Number::New(env, 6));
    } else {
      continue;
    }
    out.Set(i++, Napi::String::New(env, name));
  }
  return out;
}

napi_value NameinfoResult(napi_env env, DnsReq* req) {
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::String::New(env, req->r.name.host));
  out.Set(1u, Napi::String::New(env, req->r.name.service));
  return out;
}

void OnAddrinfo(uv_getaddrinfo_t* r, int status, addrinfo* res) {
  auto* req = reinterpret_cast<DnsReq*>(r);
  Finish(req, status, AddrinfoResult);
  uv_freeaddrinfo(res);  // after Finish: AddrinfoResult reads it through req
}

void OnNameinfo(uv_getnameinfo_t* r, int status, const char*, const char*) {
  Finish(reinterpret_cast<DnsReq*>(r), status, NameinfoResult);
}

DnsReq* NewReq(const Napi::CallbackInfo& info, Loop* loop, size_t callback_index, const char* name) {
  Napi::Env env = info.Env();
  if (!info[callback_index].IsFunction()) {
    throw Napi::TypeError::New(env, std::string(name) + "() callback must be a function");
  }
  auto* req = new DnsReq();
  req->loop = loop;
  req->env = env;
  napi_create_reference(env, info[callback_index], 1, &req->callback);
  napi_async_init(env, nullptr, Napi::String::New(env, std::string("aioloop.") + name), &req->context);
  return req;
}

void DropReq(napi_env env, DnsReq* req) {
  napi_delete_reference(env, req->callback);
  napi_async_destroy(env, req->context);
  delete req;
}

}  // namespace

// getaddrinfo(host, family (0|4|6), hints flags, callback(err, [family, address, ...]))
Napi::Value Loop::Getaddrinfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExpectArgCount(info, 4, "getaddrinfo");
  std::string host = StringArg(info, 0, "getaddrinfo() host");
  double family = IntegerArg(info, 1, "getaddrinfo() family", 0, 6);
  if (family != 0 && family != 4 && family != 6) throw Napi::RangeError::New(env, "getaddrinfo() family must be 0, 4 or 6");
  double flags = IntegerArg(info, 2, "getaddrinfo() flags", 0, 0x7fffffff);
  CheckOpen(info, "getaddrinfo");
  DnsReq* req = NewReq(info, this, 3, "getaddrinfo");
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address (the TS side adds the types)
  hints.ai_flags = static_cast<int>(flags);
  int err = uv_getaddrinfo(uv_loop_, &req->r.addr, OnAddrinfo, host.c_str(), nullptr, &hints);
  if (err != 0) {
    DropReq(env, req);
    ThrowUv(info, err, "getaddrinfo", host);
  }
  dns_reqs_.push_back(req);
  return env.Undefined();
}

// getnameinfo(address, port, flags, callback(err, [host, service]))
Napi::Value Loop::Getnameinfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ExpectArgCount(info, 4, "getnameinfo");
  std::string address = StringArg(info, 0, "getnameinfo() address");
  int port = PortArg(info, 1, "getnameinfo() port");
  double flags = IntegerArg(info, 2, "getnameinfo() flags", 0, 0x7fffffff);
  CheckOpen(info, "getnameinfo");
  sockaddr_storage addr;
  if (!ParseAddress(address, port, &addr)) throw Napi::TypeError::New(env, "getnameinfo() address must be a numeric IP address");
  DnsReq* req = NewReq(info, this, 3, "getnameinfo");
  int err = uv_getnameinfo(uv_loop_, &req->r.name, OnNameinfo, reinterpret_cast<sockaddr*>(&addr), static_cast<int>(flags));
  if (err != 0) {
    DropReq(env, req);
    ThrowUv(info, err, "getnameinfo", address);
  }
  dns_reqs_.push_back(req);
  return env.Undefined();
}

void Loop::ReleaseDnsRequests() {
  for (void* p : dns_reqs_) {
    auto* req = static_cast<DnsReq*>(p);
    // The thread pool may be running it: then it completes later and its
    // callback, seeing no loop, only frees it. Otherwise it completes with
    // UV_ECANCELED on the loop thread, same path.
    uv_cancel(&req->r.req);
    napi_delete_reference(req->env, req->callback);
    napi_async_destroy(req->env, req->context);
    req->loop = nullptr;
  }
  dns_reqs_.clear();
}

}  // namespace aioloop
