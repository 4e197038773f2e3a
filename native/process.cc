// Child processes (uv_process_t, uv_spawn) with uv_pipe_t stdio. The pipes
// are ordinary registered streams (stream.cc): their reads, writes and
// closes go through the I/O batch like any socket. The exit arrives as a
// kEventExit record; the process handle then closes itself (kEventClosed).
//
// libuv reaps the child (SIGCHLD) whether or not anyone waits, so no zombie
// is left behind.
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "args.h"
#include "loop.h"
#include "stream.h"

namespace aioloop {
namespace {

void OnExit(uv_process_t* handle, int64_t exit_status, int term_signal) {
  auto* s = static_cast<Stream*>(handle->data);
  if (s->loop != nullptr && !s->closing) {
    s->loop->PushEvent(kEventExit, s->id, static_cast<int32_t>(exit_status), term_signal);
  }
  s->StartClose();
}

std::vector<std::string> StringList(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsArray()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an array of strings");
  Napi::Array array = info[i].As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t k = 0; k < array.Length(); k++) {
    Napi::Value v = array[k];
    if (!v.IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an array of strings");
    std::string item = v.As<Napi::String>().Utf8Value();
    if (item.find('\0') != std::string::npos) {
      throw Napi::TypeError::New(info.Env(), std::string(what) + " must not contain NUL bytes");
    }
    out.push_back(std::move(item));
  }
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& list) {
  std::vector<char*> out;
  for (auto& s : list) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

}  // namespace

// spawn(file, argv, env | null, cwd | null, modes) -> [id, pid, stdin, stdout, stderr]
// modes: three of 0 (ignore), 1 (inherit), 2 (pipe), and for stderr also 3
// (wherever stdout goes: asyncio's STDOUT); a pipe's id, or -1.
// The child's stdout/stderr pipes do not read until readStart(id).
// Failures (ENOENT, EACCES...) throw with Node's code; nothing stays open.
Napi::Value Loop::Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 5) throw Napi::TypeError::New(env, "spawn() takes 5 arguments");
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "spawn() file must be a string");
  std::string file = info[0].As<Napi::String>().Utf8Value();
  if (file.empty() || file.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "spawn() file must be a non-empty string without NUL bytes");
  std::vector<std::string> argv = StringList(info, 1, "spawn() argv");
  if (argv.empty()) throw Napi::TypeError::New(env, "spawn() argv must not be empty");
  bool has_env = !info[2].IsNull();
  std::vector<std::string> envs = has_env ? StringList(info, 2, "spawn() env") : std::vector<std::string>();
  bool has_cwd = !info[3].IsNull();
  if (has_cwd && !info[3].IsString()) throw Napi::TypeError::New(env, "spawn() cwd must be a string or null");
  std::string cwd = has_cwd ? info[3].As<Napi::String>().Utf8Value() : "";
  if (!info[4].IsArray() || info[4].As<Napi::Array>().Length() != 3) throw Napi::TypeError::New(env, "spawn() modes must be an array of 3 numbers");
  int modes[3];
  for (uint32_t k = 0; k < 3; k++) {
    Napi::Value v = info[4].As<Napi::Array>()[k];
    if (!v.IsNumber()) throw Napi::TypeError::New(env, "spawn() modes must be numbers");
    double d = v.As<Napi::Number>().DoubleValue();
    if (d != 0 && d != 1 && d != 2 && !(k == 2 && d == 3)) {
      throw Napi::RangeError::New(env, "spawn() modes must be 0 (ignore), 1 (inherit) or 2 (pipe), and stderr's may be 3 (as stdout)");
    }
    modes[k] = static_cast<int>(d);
  }
  CheckOpen(info, "spawn");

  Stream* pipes[3] = {nullptr, nullptr, nullptr};
  uv_stdio_container_t stdio[3];
  // stderr into the stdout pipe: libuv makes a pipe per fd and cannot give
  // one to two of the child's fds, so the pair is ours. The child inherits
  // its end as fd 1 and fd 2; we read the other, opened before the spawn so
  // that nothing can fail once the child runs. Both ends are close-on-exec
  // (uv_socketpair), so no other child inherits them.
  uv_os_sock_t pair[2] = {-1, -1};
  bool merged_pipe = modes[2] == 3 && modes[1] == 2;
  int err = 0;
  if (merged_pipe) {
    err = uv_socketpair(SOCK_STREAM, 0, pair, 0, 0);
    if (err == 0) err = NewStream(Stream::kPipe, 0, &pipes[1]);
    if (err == 0) {
      err = uv_pipe_open(&pipes[1]->h.pipe, static_cast<uv_file>(pair[0]));
      if (err == 0) pair[0] = -1;  // the pipe owns it now
    }
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = pair[1];
    stdio[2] = stdio[1];
  }
  // Which of our fds a child's inherited fd is: its own number, except a
  // stderr that follows an inherited stdout (ignored: both /dev/null).
  int inherit_from[3] = {0, 1, 2};
  if (modes[2] == 3 && !merged_pipe) {
    modes[2] = modes[1];
    inherit_from[2] = 1;
  }
  for (int k = 0; k < 3 && err == 0; k++) {
    if (merged_pipe && k > 0) continue;
    if (modes[k] == 2) {
      err = NewStream(Stream::kPipe, 0, &pipes[k]);
      if (err != 0) break;
      // The child reads its stdin and writes its stdout/stderr.
      stdio[k].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | (k == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE));
      stdio[k].data.stream = pipes[k]->AsStream();
    } else if (modes[k] == 1) {
      stdio[k].flags = UV_INHERIT_FD;
      stdio[k].data.fd = inherit_from[k];
    } else {
      stdio[k].flags = UV_IGNORE;
    }
  }
  Stream* proc = nullptr;
  if (err == 0) err = NewStream(Stream::kProcess, 0, &proc);
  if (err == 0) {
    std::vector<char*> c_argv = CStrings(argv);
    std::vector<char*> c_env = CStrings(envs);
    uv_process_options_t options = {};
    options.exit_cb = OnExit;
    options.file = file.c_str();
    options.args = c_argv.data();
    options.env = has_env ? c_env.data() : nullptr;
    options.cwd = has_cwd ? cwd.c_str() : nullptr;
    options.stdio_count = 3;
    options.stdio = stdio;
    err = uv_spawn(uv_loop_, &proc->h.process, &options);
    // uv_spawn initialised the handle (even on failure: it must be closed).
    proc->h.handle.data = proc;
    // Like every aioloop handle, a child does not keep the process alive by
    // itself: the running loop does.
    uv_unref(proc->Handle());
  }
  // The child has its copy of its end (or there is no child).
  for (uv_os_sock_t fd : pair) {
    if (fd >= 0) close(fd);
  }
  if (err != 0) {
    // No event for ids JS never saw; every handle closes (uv_spawn's
    // handle too, as libuv asks even when spawning failed).
    for (Stream* p : pipes) {
      if (p != nullptr) {
        Unregister(p);
        p->Detach();
      }
    }
    if (proc != nullptr) {
      Unregister(proc);
      proc->Detach();
    }
    ThrowUv(info, err, "spawn", file);
  }
  Napi::Array result = Napi::Array::New(env, 5);
  result.Set(0u, Napi::Number::New(env, proc->id));
  result.Set(1u, Napi::Number::New(env, proc->h.process.pid));
  for (uint32_t k = 0; k < 3; k++) result.Set(2 + k, Napi::Number::New(env, pipes[k] != nullptr ? pipes[k]->id : -1));
  return result;
}

// kill(id, signum) -> 0 or a libuv error (ESRCH once the child is gone).
Napi::Value Loop::Kill(const Napi::CallbackInfo& info) {
  ExpectArgCount(info, 2, "kill");
  Stream* s = StreamArg(info, 0, "kill");
  if (s->kind != Stream::kProcess) throw Napi::TypeError::New(info.Env(), "kill(): not a process");
  double d = IntegerArg(info, 1, "kill() signal", 0, 64);
  int err = s->closing ? UV_ESRCH : uv_process_kill(&s->h.process, static_cast<int>(d));
  return Napi::Number::New(info.Env(), err);
}

}  // namespace aioloop
