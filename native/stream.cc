#include "stream.h"

#include <sys/socket.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "loop.h"

namespace aioloop {
namespace {

// One queued write: what uv_try_write did not take, copied so the caller's
// memory (the JS outbound batch) can be reused at once.
struct WriteReq {
  uv_write_t req;
  Stream* stream;
  size_t size;
  char data[1];  // `size` bytes (allocated past the struct)
};

struct ShutdownReq {
  uv_shutdown_t req;
};

// uv_try_write gathers at most this many buffers per call (IOV_MAX is 1024).
constexpr unsigned int kMaxBufs = 64;

// A Uint8Array argument's bytes and length with one query (node-addon-api's
// checked accessors ask three times: ~400 instructions a call). False if
// `value` is not a Uint8Array.
bool Uint8ArrayBytes(napi_env env, napi_value value, char** data, size_t* len) {
  napi_typedarray_type type;
  void* bytes = nullptr;
  if (napi_get_typedarray_info(env, value, &type, len, &bytes, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    return false;
  }
  *data = static_cast<char*>(bytes);
  return true;
}

}  // namespace

// -- Stream ------------------------------------------------------------------

void Stream::UpdateReading() {
  // A stream whose held buffer still waits to be armed again after two
  // polls (JS is not running) stops reading until it is (see OnAlloc).
  bool parked = read_buffer != nullptr && !read_buffer_armed && buffer_waits >= 2;
  bool want = reading && !eof && !closing && !starved && !listener && !parked;
  // Our own flag rather than libuv's private ones.
  if (want && !read_started) {
    int err = kind == kUdp ? uv_udp_recv_start(&h.udp, OnAlloc, OnRecv) : uv_read_start(AsStream(), OnAlloc, OnRead);
    if (err == 0) read_started = true;
  } else if (!want && read_started) {
    if (kind == kUdp) uv_udp_recv_stop(&h.udp);
    else uv_read_stop(AsStream());
    read_started = false;
  }
}

int Stream::Write(const uv_buf_t* bufs, unsigned int nbufs) {
  size_t total = 0;
  for (unsigned int i = 0; i < nbufs; i++) total += bufs[i].len;
  if (total == 0) return 0;
  size_t written = 0;
  // uv_try_write returns UV_EAGAIN while earlier writes are queued, which
  // keeps the byte order.
  int r = uv_try_write(AsStream(), bufs, nbufs);
  if (r >= 0) {
    written = static_cast<size_t>(r);
  } else if (r != UV_EAGAIN && r != UV_ENOSYS) {
    return r;
  }
  if (written == total) return 0;
  size_t rest = total - written;
  auto* req = static_cast<WriteReq*>(std::malloc(sizeof(WriteReq) + rest));
  if (req == nullptr) return UV_ENOMEM;
  req->stream = this;
  req->size = rest;
  // Copy the unwritten tail of the buffers.
  size_t skip = written, at = 0;
  for (unsigned int i = 0; i < nbufs; i++) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    std::memcpy(req->data + at, bufs[i].base + skip, len - skip);
    at += len - skip;
    skip = 0;
  }
  uv_buf_t buf = uv_buf_init(req->data, static_cast<unsigned int>(rest));
  int err = uv_write(&req->req, AsStream(), &buf, 1, OnWrite);
  if (err != 0) {
    std::free(req);
    return err;
  }
  queued += rest;
  pending_writes++;
  return 0;
}

int Stream::Shutdown() {
  auto* req = new ShutdownReq();
  int err = uv_shutdown(&req->req, AsStream(), OnShutdown);
  if (err != 0) delete req;
  return err;
}

void Stream::Close(bool abort) {
  if (closing) return;
  reading = false;
  UpdateReading();
  if (!abort && pending_writes > 0) {
    // asyncio's close(): flush what is buffered first; OnWrite closes.
    close_after_writes = true;
    return;
  }
  StartClose();
}

int Stream::SetReusePort() {
  uv_os_fd_t fd;
  int err = uv_fileno(Handle(), &fd);
  if (err != 0) return err;
#ifdef SO_REUSEPORT
  // libuv 1.46 (Node 20) has no UV_TCP_REUSEPORT / UV_UDP_REUSEPORT flag.
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) return uv_translate_sys_error(errno);
  return 0;
#else
  return UV_ENOTSUP;
#endif
}

void Stream::ReleaseReadBuffer() {
  if (read_buffer != nullptr && loop != nullptr) {
    napi_delete_reference(loop->Env(), read_buffer);
    loop->read_buffers_--;
  }
  read_buffer = nullptr;
  read_buffer_data = nullptr;
  read_buffer_len = 0;
  read_buffer_armed = false;
  buffer_waits = 0;
}

void Stream::StartClose() {
  if (closing) return;
  ReleaseReadBuffer();
  closing = true;
  close_after_writes = false;
  // uv_close cancels queued writes (their callbacks run with UV_ECANCELED
  // before OnClose) and stops reading.
  uv_close(Handle(), OnClose);
}

void Stream::Detach() {
  // The loop is going away: no more events; OnClose only frees memory.
  ReleaseReadBuffer();
  if (loop != nullptr) loop->Unregister(this);
  loop = nullptr;
  if (closed) {
    delete this;  // its close callback ran already (Loop::StreamClosed)
    return;
  }
  if (!closing) {
    closing = true;
    uv_close(Handle(), OnClose);
  }
}

void Stream::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* s = static_cast<Stream*>(handle->data);
  if (s->loop == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  if (s->read_buffer_armed) {
    // BufferedProtocol: straight into the protocol's buffer (one read).
    *buf = uv_buf_init(s->read_buffer_data, static_cast<unsigned int>(s->read_buffer_len));
    return;
  }
  if (s->read_buffer != nullptr) {
    // A BufferedProtocol's stream reads only into its buffer, one read per
    // arming, as asyncio alternates get_buffer and recv_into. A read into
    // the batch would reach the protocol through another getBuffer() while
    // the held buffer, armed again, could be that same memory (the free
    // tail of one big buffer), and the next read would land on top of it.
    // No buffer makes libuv end this round of reads (UV_ENOBUFS) with the
    // fd still watched: JS arms the buffer again before the next poll, so
    // a stream that fills its buffer costs no epoll_ctl (OnRead parks it
    // only when the next poll still finds the buffer unarmed).
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = s->loop->AllocRead();
  // A datagram's address record goes in front of it (udp.cc).
  constexpr unsigned int kAddrRecord = 20;
  if (s->kind == kUdp) *buf = buf->len > kAddrRecord ? uv_buf_init(buf->base + kAddrRecord, buf->len - kAddrRecord) : uv_buf_init(nullptr, 0);
}

void Stream::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* s = static_cast<Stream*>(stream->data);
  Loop* loop = s->loop;
  if (loop == nullptr || s->closing) return;
  if (nread > 0 && s->read_buffer_armed && buf->base == s->read_buffer_data) {
    // The bytes are in the protocol's buffer: JS calls bufferUpdated and
    // arms the next buffer; reading waits until then (OnAlloc).
    s->read_buffer_armed = false;
    loop->PushEvent(kEventBuffered, s->id, static_cast<int32_t>(nread), 0);
  } else if (nread > 0) {
    loop->CommitRead(s, buf, nread);
  } else if (nread == UV_ENOBUFS && s->read_buffer != nullptr) {
    // The held buffer is not armed again yet (OnAlloc). The first time is
    // the round of reads it ended; a second means a poll came and JS did
    // not run: stop reading until it arms the buffer, or this would spin.
    if (++s->buffer_waits >= 2) s->UpdateReading();
  } else if (nread == UV_ENOBUFS) {
    loop->Starve(s);  // the batch is full while JS cannot run
  } else if (nread == UV_EOF) {
    s->eof = true;
    s->UpdateReading();
    loop->PushEvent(kEventEof, s->id, 0, 0);
    if (s->shut) s->Close(false);  // we had sent our EOF already: both sides done
  } else if (nread < 0) {
    // ECONNRESET and friends: asyncio's _fatal_error: the connection is
    // lost with this error; queued writes are dropped.
    s->eof = true;
    loop->PushEvent(kEventError, s->id, static_cast<int32_t>(nread), 0);
    s->StartClose();
  }
  // nread == 0: EAGAIN, nothing to do.
}

void Stream::OnWrite(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  Stream* s = w->stream;
  size_t size = w->size;
  std::free(w);
  s->WriteDone(size, status);
}

int32_t Stream::QueuedForJs() const {
  return static_cast<int32_t>(queued > 0x7fffffff ? 0x7fffffff : queued);
}

void Stream::WriteDone(size_t size, int status) {
  queued -= size;
  pending_writes--;
  if (loop == nullptr || status == UV_ECANCELED) return;
  if (status < 0 && !closing) {
    if (kind == kUdp) {
      // A datagram that failed is reported; the endpoint stays open.
      loop->PushEvent(kEventDatagramError, id, status, 1);
    } else {
      // A stream that cannot write is lost (asyncio's _fatal_error).
      loop->PushEvent(kEventError, id, status, 1);
      StartClose();
      return;
    }
  }
  if (close_after_writes && pending_writes == 0) {
    StartClose();
    return;
  }
  if (!closing) loop->PushEvent(kEventWritten, id, QueuedForJs(), 0);
}

void Stream::OnShutdown(uv_shutdown_t* req, int status) {
  // A failed shutdown (the peer is gone) shows up as a read or write error.
  auto* s = static_cast<Stream*>(req->handle->data);
  delete reinterpret_cast<ShutdownReq*>(req);
  if (status != 0 || s->loop == nullptr || s->closing) return;
  s->shut = true;
  // Both directions are done: close, as Node does for a half-open socket
  // once both sides ended (connectionLost(null) follows).
  if (s->eof) s->Close(false);
}

void Stream::OnConnect(uv_connect_t* req, int status) {
  auto* s = static_cast<Stream*>(req->handle->data);
  delete req;
  Loop* loop = s->loop;
  if (loop == nullptr || status == UV_ECANCELED) return;
  loop->PushEvent(kEventConnect, s->id, status, 0);
  if (status == 0) {
    s->reading = true;  // reads are batched behind the connect event
    s->UpdateReading();
  }
}

void Stream::OnConnection(uv_stream_t* server, int status) {
  auto* listener = static_cast<Stream*>(server->data);
  Loop* loop = listener->loop;
  if (loop == nullptr || listener->closing) return;
  if (status < 0) {
    loop->PushEvent(kEventListenError, listener->id, status, 0);
    return;
  }
  Stream* conn = nullptr;
  int err = loop->NewStream(listener->kind, AF_UNSPEC, &conn);
  if (err == 0) {
    err = uv_accept(server, conn->AsStream());
    if (err != 0) {
      loop->Unregister(conn);
      conn->closing = true;
      uv_close(conn->Handle(), OnClose);
    }
  }
  if (err != 0) {
    loop->PushEvent(kEventListenError, listener->id, err, 0);
    return;
  }
  if (conn->kind == kTcp) uv_tcp_nodelay(&conn->h.tcp, 1);  // as asyncio does
  loop->PushEvent(kEventAccept, listener->id, conn->id, 0);
  conn->reading = true;  // its data events follow the accept event
  conn->UpdateReading();
}

void Stream::OnClose(uv_handle_t* handle) {
  auto* s = static_cast<Stream*>(handle->data);
#ifdef AIOLOOP_DEBUG
  g_live_handles--;
#endif
  if (s->loop != nullptr) {
    s->loop->StreamClosed(s);  // freed once JS has been told
    return;
  }
  delete s;
}

// -- JS methods ----------------------------------------------------------------

// flush(count) -> k
// Writes the first `count` (id, offset, length) records of the outbound
// batch (outbound(): the ops view holds the records, the bytes view their
// bytes), in order; runs of records for the same stream go to the kernel in
// one writev. Records for a stream that is closing are dropped (JS stops
// writing to it first; this only covers races with close callbacks).
// Afterwards ops[0..2k) holds (id, queued bytes) for each stream left with
// queued bytes.
Napi::Value Loop::Flush(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 1, "flush");
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "flush() count must be a number");
  double count_value = info[0].As<Napi::Number>().DoubleValue();
  CheckOpen(info, "flush");
  size_t max_count = out_ops_ == nullptr ? 0 : out_ops_->size / (kOutOpInts * sizeof(int32_t));
  if (!(count_value >= 0) || std::floor(count_value) != count_value || count_value > static_cast<double>(max_count)) {
    throw Napi::RangeError::New(env, "flush() count must be an integer in [0, " + std::to_string(max_count) +
                                         "] (the records of outbound())");
  }
  size_t count = static_cast<size_t>(count_value);
  if (count == 0) return Napi::Number::New(env, 0);
  char* base = out_bytes_->data;
  size_t limit = out_bytes_->size;
  int32_t* op = reinterpret_cast<int32_t*>(out_ops_->data);
  // Validate every record before writing any: a bad batch is a bug in the
  // JS half, and half-applied batches would lose bytes silently.
  for (size_t i = 0; i < count; i++) {
    int32_t id = op[i * kOutOpInts], off = op[i * kOutOpInts + 1], len = op[i * kOutOpInts + 2];
    if (id < 0 || off < 0 || len < 0 || static_cast<size_t>(off) + static_cast<size_t>(len) > limit) {
      throw Napi::RangeError::New(env, "flush(): record " + std::to_string(i) + " is out of range");
    }
  }
  std::vector<int32_t> results;
  uv_buf_t bufs[kMaxBufs];
  size_t i = 0;
  while (i < count) {
    int32_t id = op[i * kOutOpInts];
    unsigned int n = 0;
    size_t j = i;
    while (j < count && op[j * kOutOpInts] == id && n < kMaxBufs) {
      bufs[n++] = uv_buf_init(base + op[j * kOutOpInts + 1], static_cast<unsigned int>(op[j * kOutOpInts + 2]));
      j++;
    }
    i = j;
    Stream* s = static_cast<size_t>(id) < streams_.size() ? streams_[id] : nullptr;
    // Records for a stream gone since JS batched them are dropped, as are
    // records naming a handle that carries no data (a signal watcher or a
    // child process: libuv would assert in uv_write).
    if (s == nullptr || !s->CarriesData() || s->listener || s->closing || s->close_after_writes) continue;
    if (s->kind == Stream::kUdp) {
      // One datagram per record, never coalesced; a failed one is reported.
      for (unsigned int b = 0; b < n; b++) {
        int err = s->SendDatagram(bufs[b].base, bufs[b].len);
        if (err != 0) PushEvent(kEventDatagramError, s->id, err, 0);
      }
    } else {
      int err = s->Write(bufs, n);
      if (err != 0) {
        PushEvent(kEventError, s->id, err, 1);
        s->StartClose();
        continue;
      }
    }
    if (s->queued > 0) {
      // Several runs for one stream: the last result wins (JS reads in order).
      results.push_back(id);
      results.push_back(s->QueuedForJs());
    }
  }
  if (!results.empty()) std::memcpy(op, results.data(), results.size() * sizeof(int32_t));
  return Napi::Number::New(env, static_cast<double>(results.size() / 2));
}

// write(id, data: Uint8Array) -> queued bytes. For writes too big for the
// JS outbound batch; same semantics as one flush record.
Napi::Value Loop::Write(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 2, "write");
  Stream* s = StreamArg(info, 0, "write");
  char* data = nullptr;
  size_t len = 0;
  if (!Uint8ArrayBytes(info.Env(), info[1], &data, &len)) {
    throw Napi::TypeError::New(info.Env(), "write() data must be a Uint8Array");
  }
  if (!s->IsConnectedStream()) throw Napi::TypeError::New(info.Env(), "write(): not a connected stream");
  if (!s->closing && !s->close_after_writes && len > 0) {
    if (len > 0xffffffffu) throw Napi::RangeError::New(info.Env(), "write(): data larger than 4 GiB");
    uv_buf_t buf = uv_buf_init(data, static_cast<unsigned int>(len));
    int err = s->Write(&buf, 1);
    if (err != 0) {
      PushEvent(kEventError, s->id, err, 1);
      s->StartClose();
    }
  }
  return Napi::Number::New(info.Env(), static_cast<double>(s->queued));
}

Napi::Value Loop::ReadStart(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 1, "readStart");
  Stream* s = StreamArg(info, 0, "readStart");
  if (!s->CarriesData()) throw Napi::TypeError::New(info.Env(), "readStart(): not a stream or a UDP endpoint");
  s->reading = true;
  s->UpdateReading();
  return info.Env().Undefined();
}

Napi::Value Loop::ReadStop(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 1, "readStop");
  Stream* s = StreamArg(info, 0, "readStop");
  if (!s->CarriesData()) throw Napi::TypeError::New(info.Env(), "readStop(): not a stream or a UDP endpoint");
  s->reading = false;
  s->UpdateReading();
  return info.Env().Undefined();
}

Napi::Value Loop::Shutdown(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 1, "shutdown");
  Stream* s = StreamArg(info, 0, "shutdown");
  if (!s->IsConnectedStream()) throw Napi::TypeError::New(info.Env(), "shutdown(): not a connected stream");
  if (!s->closing) {
    int err = s->Shutdown();
    if (err != 0 && err != UV_ENOTCONN) {
      PushEvent(kEventError, s->id, err, 2);
      s->StartClose();
    }
  }
  return info.Env().Undefined();
}

Napi::Value Loop::CloseStream(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 2, "closeStream");
  Stream* s = StreamArg(info, 0, "closeStream");
  s->Close(BooleanArg(info, 1, "closeStream() abort"));
  return info.Env().Undefined();
}

// setReadBuffer(id, buffer | null): the next read of stream `id` goes
// straight into `buffer` (a BufferedProtocol's getBuffer() result); a
// kEventBuffered record says how many bytes landed. One read per arming:
// rearmReadBuffer(id) arms the same buffer again. null lets it go. Returns
// whether the buffer let go was still armed (no read had landed in it).
Napi::Value Loop::SetReadBuffer(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 2, "setReadBuffer");
  Stream* s = StreamArg(info, 0, "setReadBuffer");
  if (!s->IsConnectedStream()) {
    throw Napi::TypeError::New(info.Env(), "setReadBuffer(): not a connected stream");
  }
  bool clear = info[1].IsNull();
  // BufferedProtocol calls this before every read.
  char* data = nullptr;
  size_t len = 0;
  if (!clear && !Uint8ArrayBytes(info.Env(), info[1], &data, &len)) {
    throw Napi::TypeError::New(info.Env(), "setReadBuffer() buffer must be a Uint8Array or null");
  }
  if (!clear && len == 0) throw Napi::RangeError::New(info.Env(), "setReadBuffer() buffer must not be empty");
  // Whether no read had landed in the buffer let go (JS then knows no
  // delivery into it is on its way).
  Napi::Boolean was_armed = Napi::Boolean::New(info.Env(), s->read_buffer_armed);
  s->ReleaseReadBuffer();
  if (clear || s->closing) {
    s->UpdateReading();  // without a buffer, reads go through the batch again
    return was_armed;
  }
  if (len > 0x7fffffff) len = 0x7fffffff;  // one read at most (int32 event field)
  if (napi_create_reference(env_, info[1], 1, &s->read_buffer) != napi_ok) {
    s->read_buffer = nullptr;
    throw Napi::Error::New(info.Env(), "setReadBuffer(): could not reference the buffer");
  }
  read_buffers_++;
  s->read_buffer_data = data;
  s->read_buffer_len = len;
  s->read_buffer_armed = true;
  s->buffer_waits = 0;
  s->UpdateReading();  // a parked stream reads again
  return was_armed;
}

// rearmReadBuffer(id): the next read lands in the buffer setReadBuffer gave
// again (a BufferedProtocol whose getBuffer() returns one buffer): no new
// reference (a V8 global handle) and typed-array query per read, ~1,000
// instructions a request less for a 1 KiB echo (server_instructions.mjs).
Napi::Value Loop::RearmReadBuffer(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 1, "rearmReadBuffer");
  Stream* s = StreamArg(info, 0, "rearmReadBuffer");
  // A stream C++ began to close (a write that failed during bufferUpdated)
  // has let its buffer go; JS hears of it with the error event, after the
  // event it is handling now. Nothing reads any more: nothing to arm.
  if (s->closing) return info.Env().Undefined();
  if (s->read_buffer == nullptr) throw Napi::Error::New(info.Env(), "rearmReadBuffer(): no buffer was set");
  s->read_buffer_armed = true;
  s->buffer_waits = 0;
  s->UpdateReading();  // a parked stream reads again
  return info.Env().Undefined();
}

Napi::Value Loop::Fileno(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 1, "fileno");
  Stream* s = StreamArg(info, 0, "fileno");
  uv_os_fd_t fd;
  if (s->closing || uv_fileno(s->Handle(), &fd) != 0) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

}  // namespace aioloop
