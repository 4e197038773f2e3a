// TCP (uv_tcp_t): listening, connecting and naming. Reading, writing and
// closing are shared with pipes (stream.cc). Host names are resolved in JS
// first (the loop's getaddrinfo): here a host is always a numeric address.
#include <sys/socket.h>

#include <cmath>
#include <string>

#include "args.h"
#include "loop.h"
#include "stream.h"

namespace aioloop {

// tcpListen(host, port, backlog, reusePort, ipv6Only) -> listener id.
// Errors (EADDRINUSE, EACCES...) throw with Node's code; nothing stays open.
Napi::Value Loop::TcpListen(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 5, "tcpListen");
  std::string host = StringArg(info, 0, "tcpListen() host");
  int port = PortArg(info, 1, "tcpListen() port");
  double backlog = IntegerArg(info, 2, "tcpListen() backlog", 0, 65535);
  bool reuse_port = BooleanArg(info, 3, "tcpListen() reusePort");
  bool ipv6_only = BooleanArg(info, 4, "tcpListen() ipv6Only");
  CheckOpen(info, "tcpListen");
  sockaddr_storage addr;
  if (!ParseAddress(host, port, &addr)) {
    throw Napi::TypeError::New(info.Env(), "tcpListen() host must be a numeric IPv4 or IPv6 address, not '" + host + "'");
  }
  Stream* s = nullptr;
  // The socket is created now (not at bind) so SO_REUSEPORT can be set
  // before bind: libuv 1.46 (Node 20) has no UV_TCP_REUSEPORT flag.
  int err = NewStream(Stream::kTcp, addr.ss_family, &s);
  if (err != 0) ThrowUv(info, err, "listen", DescribeAddress(host, port));
  s->listener = true;
  if (reuse_port) err = s->SetReusePort();
  // libuv sets SO_REUSEADDR itself, as Node and asyncio do.
  if (err == 0) err = uv_tcp_bind(&s->h.tcp, reinterpret_cast<sockaddr*>(&addr), ipv6_only ? UV_TCP_IPV6ONLY : 0);
  if (err == 0) err = uv_listen(s->AsStream(), static_cast<int>(backlog), Stream::OnConnection);
  if (err != 0) {
    Unregister(s);  // no event: JS never saw this id
    s->Detach();
    ThrowUv(info, err, "listen", DescribeAddress(host, port));
  }
  return Napi::Number::New(info.Env(), s->id);
}

// tcpConnect(host, port, localHost | null, localPort) -> id. The result
// arrives as a kEventConnect; reading starts right after a success.
Napi::Value Loop::TcpConnect(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 4, "tcpConnect");
  std::string host = StringArg(info, 0, "tcpConnect() host");
  int port = PortArg(info, 1, "tcpConnect() port");
  bool bind_local = !info[2].IsNull();
  std::string local_host = bind_local ? StringArg(info, 2, "tcpConnect() local host") : "";
  int local_port = PortArg(info, 3, "tcpConnect() local port");
  CheckOpen(info, "tcpConnect");
  sockaddr_storage addr, local;
  if (!ParseAddress(host, port, &addr)) {
    throw Napi::TypeError::New(info.Env(), "tcpConnect() host must be a numeric IPv4 or IPv6 address, not '" + host + "'");
  }
  if (bind_local && !ParseAddress(local_host, local_port, &local)) {
    throw Napi::TypeError::New(info.Env(), "tcpConnect() local host must be a numeric address, not '" + local_host + "'");
  }
  Stream* s = nullptr;
  int err = NewStream(Stream::kTcp, addr.ss_family, &s);
  if (err != 0) ThrowUv(info, err, "connect", DescribeAddress(host, port));
  uv_tcp_nodelay(&s->h.tcp, 1);
  // A local address of the other family cannot be bound to this socket
  // (libuv would try IPV6_V6ONLY on an IPv4 socket: ENOPROTOOPT); EINVAL,
  // as bind(2) and Node give.
  if (bind_local) {
    err = local.ss_family != addr.ss_family ? UV_EINVAL : uv_tcp_bind(&s->h.tcp, reinterpret_cast<sockaddr*>(&local), 0);
  }
  if (err == 0) {
    auto* req = new uv_connect_t();
    err = uv_tcp_connect(req, &s->h.tcp, reinterpret_cast<sockaddr*>(&addr), Stream::OnConnect);
    if (err != 0) delete req;
  }
  if (err != 0) {
    Unregister(s);
    s->Detach();
    ThrowUv(info, err, bind_local ? "bind" : "connect", DescribeAddress(bind_local ? local_host : host, bind_local ? local_port : port));
  }
  return Napi::Number::New(info.Env(), s->id);
}

// tcpAddress(id, peer) -> [address, port, family] or null (not connected).
Napi::Value Loop::TcpAddress(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 2, "tcpAddress");
  Stream* s = StreamArg(info, 0, "tcpAddress");
  bool peer = BooleanArg(info, 1, "tcpAddress() peer");
  Napi::Env env = info.Env();
  if (s->kind != Stream::kTcp) throw Napi::TypeError::New(env, "tcpAddress(): not a TCP stream");
  sockaddr_storage addr;
  int len = sizeof(addr);
  int err = peer ? uv_tcp_getpeername(&s->h.tcp, reinterpret_cast<sockaddr*>(&addr), &len)
                 : uv_tcp_getsockname(&s->h.tcp, reinterpret_cast<sockaddr*>(&addr), &len);
  if (err != 0) return env.Null();
  return AddressArray(env, addr);
}

}  // namespace aioloop
