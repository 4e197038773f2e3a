// UDP endpoints (uv_udp_t). They share the stream registry, the read batch
// and the outbound flush with TCP and pipes (stream.cc), with one addition:
// each datagram carries its peer's address as a 20-byte record, in front of
// the payload in both directions:
//
//   byte 0      family: 4, 6, or 0 (outbound only: the connected peer)
//   bytes 2-3   port, little-endian
//   bytes 4-19  address in network order (4 bytes for IPv4, 16 for IPv6)
//
// Keep in sync with lib/loops/native/udp_transport.ts.
#include <sys/socket.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "args.h"
#include "loop.h"
#include "stream.h"

namespace aioloop {
namespace {

constexpr size_t kAddrRecord = 20;

struct SendReq {
  uv_udp_send_t req;
  Stream* stream;
  size_t size;
  char data[1];  // `size` bytes (allocated past the struct)
};





// The address record of `addr` into `record` (kAddrRecord bytes).
void WriteRecord(char* record, const sockaddr* addr) {
  std::memset(record, 0, kAddrRecord);
  uint16_t port = 0;
  if (addr->sa_family == AF_INET6) {
    auto* a6 = reinterpret_cast<const sockaddr_in6*>(addr);
    record[0] = 6;
    port = ntohs(a6->sin6_port);
    std::memcpy(record + 4, &a6->sin6_addr, 16);
  } else if (addr->sa_family == AF_INET) {
    auto* a4 = reinterpret_cast<const sockaddr_in*>(addr);
    record[0] = 4;
    port = ntohs(a4->sin_port);
    std::memcpy(record + 4, &a4->sin_addr, 4);
  }
  record[2] = static_cast<char>(port & 0xff);
  record[3] = static_cast<char>(port >> 8);
}

// The sockaddr of an outbound record; false for family 0 (connected) or a bad family.
bool ReadRecord(const char* record, sockaddr_storage* out, bool* connected) {
  std::memset(out, 0, sizeof(*out));
  uint16_t port = static_cast<uint16_t>(static_cast<unsigned char>(record[2]) | (static_cast<unsigned char>(record[3]) << 8));
  *connected = false;
  switch (record[0]) {
    case 0:
      *connected = true;
      return true;
    case 4: {
      auto* a4 = reinterpret_cast<sockaddr_in*>(out);
      a4->sin_family = AF_INET;
      a4->sin_port = htons(port);
      std::memcpy(&a4->sin_addr, record + 4, 4);
      return true;
    }
    case 6: {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(out);
      a6->sin6_family = AF_INET6;
      a6->sin6_port = htons(port);
      std::memcpy(&a6->sin6_addr, record + 4, 16);
      return true;
    }
    default:
      return false;
  }
}

void OnSend(uv_udp_send_t* req, int status) {
  auto* r = reinterpret_cast<SendReq*>(req);
  Stream* s = r->stream;
  size_t size = r->size;
  std::free(r);
  s->WriteDone(size, status);
}

}  // namespace

void Loop::CommitDatagram(Stream* s, const uv_buf_t* buf, ssize_t n, const struct sockaddr* addr) {
  char* record = buf->base - kAddrRecord;
  WriteRecord(record, addr);
  slab_used_ = static_cast<size_t>(buf->base - slab_) + static_cast<size_t>(n);
  PushEvent(kEventDatagram, s->id, static_cast<int32_t>(record - slab_), static_cast<int32_t>(n));
}

void Stream::OnRecv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const struct sockaddr* addr, unsigned flags) {
  auto* s = static_cast<Stream*>(handle->data);
  Loop* loop = s->loop;
  if (loop == nullptr || s->closing) return;
  if (nread == UV_ENOBUFS || (nread == 0 && buf->base == nullptr)) {
    if (nread == UV_ENOBUFS) loop->Starve(s);
    return;
  }
  if (nread < 0) {
    // ICMP errors (ECONNREFUSED on a connected endpoint...): reported, not fatal.
    loop->PushEvent(kEventDatagramError, s->id, static_cast<int32_t>(nread), 0);
    return;
  }
  if (addr == nullptr) return;  // nread == 0, addr == NULL: nothing more to read now
  (void)flags;                  // UV_UDP_PARTIAL: the rest of an oversized datagram is lost, as with recv()
  loop->CommitDatagram(s, buf, nread, addr);
}

int Stream::SendDatagram(const char* record, size_t len) {
  if (len < kAddrRecord) return UV_EINVAL;
  sockaddr_storage storage;
  bool connected;
  if (!ReadRecord(record, &storage, &connected)) return UV_EAFNOSUPPORT;
  const sockaddr* addr = connected ? nullptr : reinterpret_cast<const sockaddr*>(&storage);
  size_t size = len - kAddrRecord;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(record + kAddrRecord), static_cast<unsigned int>(size));
  if (pending_writes == 0) {
    int r = uv_udp_try_send(&h.udp, &buf, 1, addr);
    if (r >= 0) return 0;
    if (r != UV_EAGAIN && r != UV_ENOSYS) return r;
  }
  auto* req = static_cast<SendReq*>(std::malloc(sizeof(SendReq) + size));
  if (req == nullptr) return UV_ENOMEM;
  req->stream = this;
  req->size = size;
  std::memcpy(req->data, buf.base, size);
  uv_buf_t copy = uv_buf_init(req->data, static_cast<unsigned int>(size));
  int err = uv_udp_send(&req->req, &h.udp, &copy, 1, addr, OnSend);
  if (err != 0) {
    std::free(req);
    return err;
  }
  queued += size;
  pending_writes++;
  return 0;
}

// -- JS methods ----------------------------------------------------------------

// udpBind(host, port, reusePort) -> id: a bound endpoint. It receives once
// JS calls readStart(id) (after connectionMade; until then datagrams wait in
// the kernel).
Napi::Value Loop::UdpBind(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 3, "udpBind");
  std::string host = StringArg(info, 0, "udpBind() host");
  int port = PortArg(info, 1, "udpBind() port");
  bool reuse_port = BooleanArg(info, 2, "udpBind() reusePort");
  CheckOpen(info, "udpBind");
  sockaddr_storage addr;
  if (!ParseAddress(host, port, &addr)) {
    throw Napi::TypeError::New(info.Env(), "udpBind() host must be a numeric IPv4 or IPv6 address, not '" + host + "'");
  }
  Stream* s = nullptr;
  int err = NewStream(Stream::kUdp, addr.ss_family, &s);
  if (err != 0) ThrowUv(info, err, "bind", host);
  if (reuse_port) err = s->SetReusePort();
  if (err == 0) err = uv_udp_bind(&s->h.udp, reinterpret_cast<sockaddr*>(&addr), 0);
  if (err != 0) {
    Unregister(s);
    s->Detach();
    ThrowUv(info, err, "bind", host + ":" + std::to_string(port));
  }
  return Napi::Number::New(info.Env(), s->id);
}

// udpConnect(id, host, port): only that peer's datagrams arrive; sends with
// family 0 go to it.
Napi::Value Loop::UdpConnect(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 3, "udpConnect");
  Stream* s = StreamArg(info, 0, "udpConnect");
  std::string host = StringArg(info, 1, "udpConnect() host");
  int port = PortArg(info, 2, "udpConnect() port");
  if (s->kind != Stream::kUdp) throw Napi::TypeError::New(info.Env(), "udpConnect(): not a UDP endpoint");
  // After uv_close the socket is gone, and uv_udp_connect would bind a new
  // one that the close then trips over (libuv asserts in uv__udp_finish_close).
  if (s->closing) ThrowUv(info, UV_EBADF, "connect", host + ":" + std::to_string(port));
  sockaddr_storage addr;
  if (!ParseAddress(host, port, &addr)) {
    throw Napi::TypeError::New(info.Env(), "udpConnect() host must be a numeric IPv4 or IPv6 address, not '" + host + "'");
  }
  int err = uv_udp_connect(&s->h.udp, reinterpret_cast<sockaddr*>(&addr));
  if (err != 0) ThrowUv(info, err, "connect", host + ":" + std::to_string(port));
  return info.Env().Undefined();
}

// udpAddress(id, peer) -> [address, port, family] or null.
Napi::Value Loop::UdpAddress(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 2, "udpAddress");
  Stream* s = StreamArg(info, 0, "udpAddress");
  bool peer = BooleanArg(info, 1, "udpAddress() peer");
  Napi::Env env = info.Env();
  if (s->kind != Stream::kUdp) throw Napi::TypeError::New(env, "udpAddress(): not a UDP endpoint");
  sockaddr_storage addr;
  int len = sizeof(addr);
  int err = peer ? uv_udp_getpeername(&s->h.udp, reinterpret_cast<sockaddr*>(&addr), &len)
                                                : uv_udp_getsockname(&s->h.udp, reinterpret_cast<sockaddr*>(&addr), &len);
  if (err != 0) return env.Null();
  return AddressArray(env, addr);
}

}  // namespace aioloop
