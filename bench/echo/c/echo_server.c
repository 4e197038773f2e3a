/*
 * Reference echo server on libuv: the ceiling an aioloop native transport
 * can hope for (same library, no JavaScript). The echo is echo_core.h.
 *
 *   echo_server PORT      (0: any free port)
 *
 * Listens on 127.0.0.1 and prints "LISTENING <port>" once bound.
 */
#include "echo_core.h"

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  /* A client that closes with an echo in flight must not kill the server
   * (SIGPIPE's default action): the write fails with EPIPE instead. The
   * server outlives many client runs (bench/echo/run.mjs starts it once). */
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  uv_tcp_t server;
  int r = echo_listen(&server, port);
  if (r < 0) {
    fprintf(stderr, "echo_server: %s\n", uv_strerror(r));
    return 1;
  }
  printf("LISTENING %d\n", r);
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
