// Native stream connections and listeners (uv_tcp_t and uv_pipe_t share
// everything here through uv_stream_t): reading into the loop's inbound
// slab, writing with uv_try_write first, shutdown and close. tcp.cc and
// pipe.cc only add what differs: how a handle is created, bound, connected
// and named.
//
// The batched design of DESIGN.md ("The native transport"): libuv read
// callbacks read into the Loop's inbound slab (a JS Buffer) and append
// (kind, id, offset, length) records to its event batch; the Loop hands the
// whole batch to JS in one call per libuv iteration, and JS slices the slab
// without a copy. Writes arrive the same way, once per loop iteration, through
// Loop::Flush. Nothing on the hot path allocates a JS object per read or
// per write.
//
// Streams are named by small integer ids (indices into Loop's registry) on
// both sides of the boundary. An id is freed only when its handle's close
// callback has run, and the kClosed event that says so reaches JS before any
// event of a later stream that reuses the id.
#ifndef AIOLOOP_NATIVE_STREAM_H_
#define AIOLOOP_NATIVE_STREAM_H_

#include <node_api.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>

namespace aioloop {

class Loop;

// Event records, four int32 each: (kind, id, a, b). Keep in sync with
// lib/loops/native/io.ts.
enum EventKind : int32_t {
  kEventData = 1,     // a = offset in the slab, b = length
  kEventEof = 2,      // the peer sent EOF (reading has stopped)
  kEventError = 3,    // a = libuv error (negative errno), b = 0 read, 1 write,
                      // 2 shutdown; the stream is closing
  kEventClosed = 4,   // the handle is closed; the id is free again
  kEventAccept = 5,   // id = listener, a = the new connection's id
  kEventConnect = 6,  // a = status (0 or a libuv error)
  kEventWritten = 7,  // a = bytes still queued in libuv after a write completed
  kEventListenError = 8,  // id = listener, a = libuv error from accept
  kEventDatagram = 9,     // UDP: a = offset of an address record (udp.h) in the
                          // slab, the datagram follows it; b = length
  kEventDatagramError = 10,  // UDP: a = libuv error of a send or receive; the
                             // endpoint stays open (asyncio's error_received)
  kEventSignal = 11,         // a = the signal number (signal.cc)
  kEventExit = 12,           // a = exit status, b = terminating signal (process.cc)
  kEventBuffered = 13,       // a = bytes read straight into the buffer JS
                             // gave with setReadBuffer (BufferedProtocol)
};

// One libuv handle with an id: a TCP or pipe stream, or (despite the name)
// a UDP endpoint, which shares the registry, the read batch and the
// outbound flush (udp.cc), or a signal watcher, which only shares the
// registry and the event batch (signal.cc), or a child process (process.cc).
struct Stream {
  enum Kind : uint8_t { kTcp, kPipe, kUdp, kSignal, kProcess };

  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_udp_t udp;
    uv_signal_t signal;
    uv_process_t process;
  } h;
  Loop* loop = nullptr;  // null once the loop released it: callbacks do nothing
  int32_t id = -1;
  Kind kind = kTcp;
  bool listener = false;
  bool closing = false;             // uv_close called (or will be, see below)
  bool closed = false;              // its close callback ran; JS has yet to hear (Loop::StreamClosed)
  bool close_after_writes = false;  // close() with writes still queued
  bool starved = false;             // reading stopped for lack of slab space
  bool reading = false;             // JS wants reads (pauseReading clears it)
  bool eof = false;                 // EOF or a read error ended reading
  bool read_started = false;        // uv_read_start is in effect
  bool shut = false;                // our shutdown (writeEof) completed
  size_t queued = 0;                // bytes handed to uv_write, not yet written
  // BufferedProtocol zero copy: the protocol's buffer, kept alive by a
  // reference (setReadBuffer) until replaced, cleared or the stream closes.
  // Armed, the next read lands in it; each read disarms it, and reading
  // waits (OnAlloc), until JS has called bufferUpdated and armed it again
  // (rearmReadBuffer when getBuffer returned the same buffer: no new
  // reference per read). Reads go through the batch only while no buffer is
  // held.
  napi_ref read_buffer = nullptr;
  char* read_buffer_data = nullptr;
  size_t read_buffer_len = 0;
  bool read_buffer_armed = false;
  uint8_t buffer_waits = 0;         // UV_ENOBUFS since the buffer was last armed (OnRead)
  int pending_writes = 0;           // uv_write requests not completed

  uv_handle_t* Handle() { return &h.handle; }
  uv_stream_t* AsStream() { return &h.stream; }
  // A connected TCP or pipe stream: what uv_write, uv_shutdown and
  // uv_read_start accept (libuv asserts on any other handle type).
  bool IsConnectedStream() const { return (kind == kTcp || kind == kPipe) && !listener; }
  // What reads and the outbound flush serve: byte streams and UDP
  // endpoints, not signal watchers or child processes (which only share the
  // registry).
  bool CarriesData() const { return kind == kTcp || kind == kPipe || kind == kUdp; }

  // Start or stop libuv reading as `reading && !eof && !closing` says.
  void UpdateReading();
  // Try to write `bufs` now; queue what the kernel did not take (copied, so
  // the caller's memory may be reused at once). Returns a libuv error, or 0.
  int Write(const uv_buf_t* bufs, unsigned int nbufs);
  // A queued write (or datagram) of `size` bytes completed with `status`:
  // accounting, errors, a pending close, and the kEventWritten for JS.
  void WriteDone(size_t size, int status);
  // `queued` as an event field (int32, saturated).
  int32_t QueuedForJs() const;
  // Half-close once queued writes are out (uv_shutdown). Returns a libuv error, or 0.
  int Shutdown();
  // Stop reading; close the handle once queued writes are out (or at once
  // when `abort`). Idempotent.
  void Close(bool abort);
  // Close at once, reporting nothing to JS: the loop is being released.
  void Detach();

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnShutdown(uv_shutdown_t* req, int status);
  static void OnConnect(uv_connect_t* req, int status);
  static void OnConnection(uv_stream_t* server, int status);
  static void OnClose(uv_handle_t* handle);
  // udp.cc
  static void OnRecv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const struct sockaddr* addr, unsigned flags);
  // Sends one datagram from an outbound record: an address record (udp.h)
  // followed by the payload. Returns a libuv error, or 0.
  int SendDatagram(const char* record, size_t len);

  // uv_close now (queued writes are dropped). Idempotent.
  void StartClose();
  // SO_REUSEPORT on the handle's socket (created already: uv_*_init_ex).
  // Returns a libuv error, or 0.
  int SetReusePort();
  // Drops the read buffer's reference (needs the loop: call before detaching).
  void ReleaseReadBuffer();
};

}  // namespace aioloop

#endif  // AIOLOOP_NATIVE_STREAM_H_
