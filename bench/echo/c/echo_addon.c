/*
 * The C reference echo (echo_core.h) inside a Node process: a Node-API
 * addon that runs the very same libuv echo on Node's own loop, with no
 * JavaScript on the request path. It measures what running inside Node
 * costs by itself (Node's loop, its handles and threads, its libuv), the
 * ceiling of any Node server, aioloop's native loop included.
 *
 *   const { listen } = require('./build/echo_addon.node');
 *   const port = listen(0);   // 127.0.0.1, 0: any free port; throws on error
 *
 * Built by bench/echo/run.mjs with cc against Node's own headers (node_api.h
 * and Node's uv.h), so it links against the libuv inside the node binary.
 */
#include <node_api.h>

#include "echo_core.h"

static uv_tcp_t server; /* one listener per process: the benchmark starts one */
static int listening = 0;

static napi_value listen_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t port = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &port) != napi_ok || port < 0 || port > 65535) {
    napi_throw_range_error(env, NULL, "listen(port): port must be an integer in [0, 65535]");
    return NULL;
  }
  if (listening) {
    napi_throw_error(env, NULL, "listen(port): already listening");
    return NULL;
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "listen(port): no libuv loop");
    return NULL;
  }
  int r = echo_listen(&server, port);
  if (r < 0) {
    napi_throw_error(env, NULL, uv_strerror(r));
    return NULL;
  }
  listening = 1;
  napi_value result;
  napi_create_int32(env, r, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "listen", NAPI_AUTO_LENGTH, listen_js, NULL, &fn);
  napi_set_named_property(env, exports, "listen", fn);
  return exports;
}
