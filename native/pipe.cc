// Unix domain sockets and pipes (uv_pipe_t): listening on a path,
// connecting to one, and adopting a file descriptor. Reading, writing and
// closing are shared with TCP (stream.cc).
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "args.h"
#include "loop.h"
#include "stream.h"

namespace aioloop {
namespace {

// sun_path holds 108 bytes; a file path needs its trailing NUL.
constexpr size_t kUnixPathMax = 107;

// A socket path: no NUL byte but a leading one (Linux's abstract
// namespace), and short enough for sun_path (uv_pipe_bind and
// uv_pipe_connect would truncate it, and use another path).
std::string PathArg(const Napi::CallbackInfo& info, size_t i, const char* method) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(method) + "() path must be a string");
  std::string path = info[i].As<Napi::String>().Utf8Value();
  if (path.empty()) throw Napi::TypeError::New(info.Env(), std::string(method) + "() path must not be empty");
  if (path.find('\0', 1) != std::string::npos) {
    throw Napi::TypeError::New(info.Env(), std::string(method) + "() path must not contain NUL bytes but a leading one");
  }
  if (path.size() > kUnixPathMax) {
    throw Napi::RangeError::New(info.Env(), std::string(method) + "() path is longer than " + std::to_string(kUnixPathMax) + " bytes");
  }
  return path;
}

}  // namespace

// pipeListen(path, backlog) -> listener id. libuv unlinks the path on close.
Napi::Value Loop::PipeListen(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 2, "pipeListen");
  std::string path = PathArg(info, 0, "pipeListen");
  double backlog = IntegerArg(info, 1, "pipeListen() backlog", 0, 65535);
  CheckOpen(info, "pipeListen");
  Stream* s = nullptr;
  int err = NewStream(Stream::kPipe, 0, &s);
  if (err != 0) ThrowUv(info, err, "listen", path);
  s->listener = true;
  // With a length: an abstract name starts with a NUL byte.
  err = uv_pipe_bind2(&s->h.pipe, path.data(), path.size(), UV_PIPE_NO_TRUNCATE);
  if (err == 0) err = uv_listen(s->AsStream(), static_cast<int>(backlog), Stream::OnConnection);
  if (err != 0) {
    Unregister(s);
    s->Detach();
    ThrowUv(info, err, "listen", path);
  }
  return Napi::Number::New(info.Env(), s->id);
}

// pipeConnect(path) -> id; the result arrives as a kEventConnect.
Napi::Value Loop::PipeConnect(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 1, "pipeConnect");
  std::string path = PathArg(info, 0, "pipeConnect");
  CheckOpen(info, "pipeConnect");
  Stream* s = nullptr;
  int err = NewStream(Stream::kPipe, 0, &s);
  if (err != 0) ThrowUv(info, err, "connect", path);
  // uv_pipe_connect2 reports connection errors (ENOENT, ECONNREFUSED)
  // through the callback, and bad arguments at once.
  auto* req = new uv_connect_t();
  err = uv_pipe_connect2(req, &s->h.pipe, path.data(), path.size(), UV_PIPE_NO_TRUNCATE, Stream::OnConnect);
  if (err != 0) {
    delete req;
    Unregister(s);
    s->Detach();
    ThrowUv(info, err, "connect", path);
  }
  return Napi::Number::New(info.Env(), s->id);
}

// pipeOpen(fd, readable) -> id: adopt an open descriptor (a pipe end, a
// socket). `readable`: start reading at once (its data is batched).
Napi::Value Loop::PipeOpen(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 2, "pipeOpen");
  double fd = IntegerArg(info, 0, "pipeOpen() fd", 0, 2147483647);
  bool readable = BooleanArg(info, 1, "pipeOpen() readable");
  CheckOpen(info, "pipeOpen");
  // uv_pipe_open takes any fd, but epoll refuses regular files and most
  // devices, and libuv aborts the process when it cannot watch an fd. Only
  // a FIFO or a socket becomes a uv_pipe_t (as isPipeFd checks in JS).
  struct stat st;
  if (fstat(static_cast<int>(fd), &st) != 0) ThrowUv(info, -errno, "open", std::to_string(static_cast<int>(fd)));
  if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) {
    throw Napi::TypeError::New(info.Env(), "pipeOpen(): fd " + std::to_string(static_cast<int>(fd)) + " is not a pipe or a socket");
  }
  Stream* s = nullptr;
  int err = NewStream(Stream::kPipe, 0, &s);
  if (err != 0) ThrowUv(info, err, "open", std::to_string(static_cast<int>(fd)));
  err = uv_pipe_open(&s->h.pipe, static_cast<uv_file>(fd));
  if (err != 0) {
    Unregister(s);
    s->Detach();
    ThrowUv(info, err, "open", std::to_string(static_cast<int>(fd)));
  }
  if (readable) {
    s->reading = true;
    s->UpdateReading();
  }
  return Napi::Number::New(info.Env(), s->id);
}

}  // namespace aioloop
