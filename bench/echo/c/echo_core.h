/*
 * The C echo itself, shared by the reference server (echo_server.c, its own
 * process and libuv) and the in-Node variant (echo_addon.c, the same code
 * on Node's libuv loop, no JavaScript): both echo with exactly these
 * functions, so any difference between them is the process they run in.
 *
 * Each connection reads into its own 64 KiB buffer and writes the bytes
 * straight back with uv_try_write; only when the kernel buffer is full does
 * it copy the rest into a heap write request (uv_try_write refuses to jump a
 * queued write, so order holds). TCP_NODELAY like every server in the
 * benchmark.
 *
 * For bench/evidence/server_cpu.mjs only: with ECHO_RING_MB=N in the
 * environment, reads instead land one after another in a ring of N MiB
 * shared by all connections. That is the memory a plain Protocol reads
 * into: bytes it may keep are never rewritten, and V8 hands their memory
 * back only at a collection, so the next read goes to memory last touched
 * tens of MiB of reads ago, not to a buffer still in the cache.
 */
#ifndef ECHO_CORE_H
#define ECHO_CORE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define READ_BUF 65536

typedef struct {
  uv_tcp_t handle;
  char buf[READ_BUF];
} client_t;

typedef struct {
  uv_write_t req;
  uv_buf_t buf;
} write_req_t;

static uv_loop_t *loop; /* set before echo_listen() */

/* The ECHO_RING_MB ring (NULL: each connection reads into its own buffer). */
static char *ring;
static size_t ring_size, ring_used;

static void on_close(uv_handle_t *h) { free(h); }

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  if (ring != NULL) {
    if (ring_size - ring_used < READ_BUF) ring_used = 0;
    *buf = uv_buf_init(ring + ring_used, READ_BUF);
    return;
  }
  client_t *c = (client_t *)h;
  *buf = uv_buf_init(c->buf, READ_BUF);
}

static void on_write(uv_write_t *req, int status) {
  write_req_t *w = (write_req_t *)req;
  if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle)) uv_close((uv_handle_t *)req->handle, on_close);
  free(w);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread < 0) {
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_close);
    return;
  }
  if (nread == 0) return;
  if (ring != NULL) ring_used = (size_t)(buf->base - ring) + (size_t)nread;
  uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
  int n = uv_try_write(s, &out, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    uv_close((uv_handle_t *)s, on_close);
    return;
  }
  if ((ssize_t)n < nread) {
    /* The read buffer is reused by the next read, so the rest is copied. */
    size_t rest = (size_t)(nread - n);
    write_req_t *w = malloc(sizeof *w + rest);
    memcpy((char *)(w + 1), buf->base + n, rest);
    w->buf = uv_buf_init((char *)(w + 1), (unsigned)rest);
    uv_write(&w->req, s, &w->buf, 1, on_write);
  }
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  client_t *c = malloc(sizeof *c);
  uv_tcp_init(loop, &c->handle);
  if (uv_accept(server, (uv_stream_t *)&c->handle) != 0) {
    uv_close((uv_handle_t *)&c->handle, on_close);
    return;
  }
  uv_tcp_nodelay(&c->handle, 1);
  uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

/*
 * Bind 127.0.0.1:port (0: any free port) on `loop` and listen. Returns the
 * bound port, or a negative libuv error. `server` must outlive the loop run.
 */
static int echo_listen(uv_tcp_t *server, int port) {
  const char *mb = getenv("ECHO_RING_MB");
  if (mb != NULL && atoi(mb) > 0 && ring == NULL) {
    ring_size = (size_t)atoi(mb) << 20;
    ring = malloc(ring_size);
    if (ring == NULL) return UV_ENOMEM;
    memset(ring, 0, ring_size); /* fault it in now: the cost measured is the cache's, not page faults */
  }
  uv_tcp_init(loop, server);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  int r = uv_tcp_bind(server, (const struct sockaddr *)&addr, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)server, 1024, on_connection);
  if (r != 0) return r;
  struct sockaddr_in bound;
  int len = sizeof bound;
  uv_tcp_getsockname(server, (struct sockaddr *)&bound, &len);
  return ntohs(bound.sin_port);
}

#endif
