// Shared by the example servers: the command line
//
//   --port N            port to listen on (0: any free port; the listening line says which)
//   --host ADDR         address to bind (default 127.0.0.1)
//   --loop NAME         default | native (without it: AIOLOOP_LOOP, else default)
//
// plus the options a server adds (`extra`: { name: default number }).
import { parseArgs } from 'node:util';
import { NativeLoop } from '../dist/index.js';
import { loopFromArgs } from './_loop.mjs';

export function serverArgs(program, defaultPort, extra = {}) {
  const usage =
    `usage: node examples/${program} [--port N] [--host ADDR] [--loop default|native]` +
    Object.keys(extra).map((k) => ` [--${k} N]`).join('');
  const options = { port: { type: 'string' }, host: { type: 'string' }, loop: { type: 'string' }, help: { type: 'boolean' } };
  for (const k of Object.keys(extra)) options[k] = { type: 'string' };
  let values;
  try {
    ({ values } = parseArgs({ options, strict: true }));
  } catch (e) {
    console.error(`${e.message}\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const number = (name, text, dflt, min, max) => {
    if (text === undefined) return dflt;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) {
      console.error(`--${name} must be an integer in [${min}, ${max}], not ${JSON.stringify(text)}\n${usage}`);
      process.exit(2);
    }
    return n;
  };
  if (values.loop !== undefined && values.loop !== 'default' && values.loop !== 'native') {
    console.error(`--loop must be default or native, not ${JSON.stringify(values.loop)}\n${usage}`);
    process.exit(2);
  }
  const args = {
    port: number('port', values.port, defaultPort, 0, 65535),
    host: values.host ?? '127.0.0.1',
    loop: loopFromArgs(), // undefined without --loop: run() then asks the policy (AIOLOOP_LOOP)
  };
  for (const [k, dflt] of Object.entries(extra)) args[k] = number(k, values[k], dflt, 0, Number.MAX_SAFE_INTEGER);
  return args;
}

/** 'native' or 'default': which loop is running this code. */
export function loopName(loop) {
  return loop instanceof NativeLoop ? 'native' : 'default';
}
