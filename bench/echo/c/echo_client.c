/*
 * Closed-loop echo load generator (after uvloop's vmbench echo_client).
 *
 *   echo_client HOST PORT CONNS SIZE SECONDS WARMUP_SECONDS
 *
 * CONNS connections, each with exactly one SIZE-byte message in flight: send
 * it, read SIZE bytes back, record the round trip, send the next. One thread,
 * non-blocking sockets, level-triggered epoll, TCP_NODELAY. Nothing is
 * allocated after setup, so the client costs far less per request than any
 * server it measures. After WARMUP_SECONDS (not counted) it measures for
 * SECONDS and prints one JSON line on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Latency histogram: 1 us buckets up to 1 s, then one overflow bucket.
 * 1M counters (8 MiB) preallocated; exact enough for p50/p99. */
#define HIST_BUCKETS 1000000

typedef struct {
  int fd;
  size_t sent;      /* bytes of the current message written so far */
  size_t received;  /* bytes of its echo read so far */
  int want_out;     /* EPOLLOUT registered (the send buffer was full) */
  uint64_t start_ns;
} conn_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "echo_client: %s: %s\n", what, strerror(errno));
  exit(1);
}

static uint64_t *hist;
static uint64_t requests;
static int measuring;
static size_t size;
static char *out_buf; /* the message, shared by every connection (never modified) */
static char *in_buf;  /* scratch for reads; the echo content is not checked per byte */
static int ep;

static void set_out(conn_t *c, int on) {
  if (c->want_out == on) return;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
  c->want_out = on;
}

/* Write what is left of the current message; register EPOLLOUT only when the
 * kernel buffer is full, so the common case costs one write() per request. */
static void pump_write(conn_t *c) {
  while (c->sent < size) {
    ssize_t n = write(c->fd, out_buf + c->sent, size - c->sent);
    if (n > 0) { c->sent += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) { set_out(c, 1); return; }
    die("write");
  }
  set_out(c, 0);
}

static void start_request(conn_t *c) {
  c->sent = 0;
  c->received = 0;
  c->start_ns = now_ns();
  pump_write(c);
}

/* One read per readiness event: level-triggered epoll reports the rest, and
 * right after a request completes there is nothing to read yet, so looping
 * until EAGAIN would only add a wasted syscall per request. */
static void on_readable(conn_t *c) {
  /* The server echoes only what it got, so never more than sent - received
   * is due; reading at most that much keeps one message in flight. */
  size_t due = c->sent - c->received;
  if (due == 0) return;
  ssize_t n = read(c->fd, in_buf, due);
  if (n > 0) {
    c->received += (size_t)n;
    if (c->received == size) {
      if (measuring) {
        uint64_t us = (now_ns() - c->start_ns) / 1000;
        hist[us < HIST_BUCKETS ? us : HIST_BUCKETS]++;
        requests++;
      }
      start_request(c);
    }
    return;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n == 0) { errno = ECONNRESET; die("server closed the connection"); }
  die("read");
}

static uint64_t percentile(double p) {
  uint64_t rank = (uint64_t)(p * (double)requests), seen = 0;
  for (uint64_t i = 0; i <= HIST_BUCKETS; i++) {
    seen += hist[i];
    if (seen > rank) return i;
  }
  return HIST_BUCKETS;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: echo_client HOST PORT CONNS SIZE SECONDS WARMUP_SECONDS\n");
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]), nconns = atoi(argv[3]);
  size = (size_t)atol(argv[4]);
  double seconds = atof(argv[5]), warmup = atof(argv[6]);
  if (port <= 0 || nconns <= 0 || size == 0 || seconds <= 0 || warmup < 0) {
    fprintf(stderr, "echo_client: bad arguments\n");
    return 2;
  }

  hist = calloc(HIST_BUCKETS + 1, sizeof *hist);
  out_buf = malloc(size);
  in_buf = malloc(size);
  conn_t *conns = calloc((size_t)nconns, sizeof *conns);
  if (!hist || !out_buf || !in_buf || !conns) die("malloc");
  for (size_t i = 0; i < size; i++) out_buf[i] = (char)('a' + i % 26);

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { errno = EINVAL; die("host must be an IPv4 address"); }

  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    /* Blocking connect (setup only), then non-blocking for the run. */
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
  }

  for (int i = 0; i < nconns; i++) start_request(&conns[i]);

  struct epoll_event events[256];
  uint64_t t0 = now_ns();
  uint64_t measure_start = t0 + (uint64_t)(warmup * 1e9);
  uint64_t end = measure_start + (uint64_t)(seconds * 1e9);
  measuring = warmup == 0;
  for (;;) {
    uint64_t t = now_ns();
    if (!measuring && t >= measure_start) { measuring = 1; measure_start = t; }
    if (t >= end) break;
    int n = epoll_wait(ep, events, 256, 50);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      if (events[i].events & (EPOLLERR | EPOLLHUP) && !(events[i].events & EPOLLIN)) {
        errno = ECONNRESET;
        die("connection error");
      }
      if (events[i].events & EPOLLOUT) pump_write(c);
      if (events[i].events & EPOLLIN) on_readable(c);
    }
  }
  double elapsed = (double)(now_ns() - measure_start) / 1e9;
  /* The client's own CPU share (whole run, warm-up included): near 1.0 would
   * mean the client, not the server, is the bottleneck. */
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  double wall = (double)(now_ns() - t0) / 1e9;
  double rps = (double)requests / elapsed;
  printf("{\"conns\":%d,\"size\":%zu,\"seconds\":%.3f,\"requests\":%llu,\"rps\":%.1f,"
         "\"mibps\":%.2f,\"p50_us\":%llu,\"p99_us\":%llu,\"client_cpu\":%.2f}\n",
         nconns, size, elapsed, (unsigned long long)requests, rps, rps * (double)size / 1048576.0,
         (unsigned long long)percentile(0.50), (unsigned long long)percentile(0.99), cpu / wall);
  for (int i = 0; i < nconns; i++) close(conns[i].fd);
  return 0;
}
