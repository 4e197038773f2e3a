// Shared by the examples: `--loop default|native` on the command line picks
// the loop; without it, run() uses the policy (AIOLOOP_LOOP, else default).
export function loopFromArgs(argv = process.argv.slice(2)) {
  const i = argv.indexOf('--loop');
  if (i === -1) return undefined;
  const name = argv[i + 1];
  if (name !== 'default' && name !== 'native') {
    console.error(`usage: node ${process.argv[1]} [--loop default|native]`);
    process.exit(2);
  }
  return name;
}
