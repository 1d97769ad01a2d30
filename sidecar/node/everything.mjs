#!/usr/bin/env node
// Runs the pinned @modelcontextprotocol/server-everything (Streamable HTTP, path /mcp)
// in this process and prints one JSON line once it is listening:
//   {"event":"listening","t":...,"port":N,"url":"http://127.0.0.1:N/mcp"}
//
// Usage: node everything.mjs [--port N] [--host H] [--stdin-lifeline] [--verbose]
//   --port N           port to listen on (default: env PORT, else 0 = any free port)
//   --host H           address to bind (default 127.0.0.1; the stock server binds all)
//   --stdin-lifeline   exit when stdin reaches EOF (so the server dies with its parent)
//   --verbose          copy the stock server's per-request console.log chatter to stderr
//                      (default: dropped, so stdout carries only JSON lines and an undrained
//                      stderr pipe cannot fill up and stall the server)

import http from 'node:http';
import { emit, fail, parseArgs } from './lib.mjs';

let args;
try {
  args = parseArgs(process.argv.slice(2), { switches: ['stdin-lifeline', 'verbose'] });
} catch (e) {
  fail(e.message);
  process.exit(2);
}
const port = String(args.port ?? process.env.PORT ?? '0');
if (!/^\d+$/.test(port)) { fail(`bad port '${port}'`); process.exit(2); }
const host = args.host ?? '127.0.0.1';

console.log = args.verbose ? (...a) => console.error(...a) : () => {};
console.info = console.log;

// The stock server calls app.listen(PORT, cb) and never reports the port it actually got,
// so observe the listen call: bind the requested host and report the real port.
const originalListen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...listenArgs) {
  this.once('listening', () => {
    const addr = this.address();
    const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    emit('listening', { port: addr.port, host: addr.address, url: `http://${shown}:${addr.port}/mcp` });
  });
  if ((typeof listenArgs[0] === 'number' || typeof listenArgs[0] === 'string') && typeof listenArgs[1] !== 'string') {
    listenArgs.splice(1, 0, host);
  }
  return originalListen.apply(this, listenArgs);
};

if (args['stdin-lifeline']) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));

process.env.PORT = port;
process.argv = [process.argv[0], 'server-everything', 'streamableHttp'];
await import('@modelcontextprotocol/server-everything/dist/index.js');
