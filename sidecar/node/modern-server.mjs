#!/usr/bin/env node
// Per-request-era MCP server (protocol 2026-07-28) built from @modelcontextprotocol/server 2.x
// (createMcpHandler) and @modelcontextprotocol/node (toNodeHandler), served at /mcp.
// See README.md for the options and the JSON lines it prints.
//
// node modern-server.mjs [--port N] [--host H] [--legacy stateless|reject] [--keepalive-ms MS]
//                        [--notify-every MS] [--log-requests] [--stdin-lifeline]

import http from 'node:http';
import { z } from 'zod';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { emit, fail, parseArgs, sleep } from './lib.mjs';

let args;
try {
  args = parseArgs(process.argv.slice(2), { switches: ['log-requests', 'stdin-lifeline'] });
} catch (e) {
  fail(e.message);
  process.exit(2);
}
const port = Number(args.port ?? process.env.PORT ?? 0);
const host = args.host ?? '127.0.0.1';
const legacy = args.legacy ?? 'stateless';
if (!['stateless', 'reject'].includes(legacy)) { fail(`bad --legacy '${legacy}'`); process.exit(2); }
const keepAliveMs = Number(args['keepalive-ms'] ?? 15000);
const notifyEvery = Number(args['notify-every'] ?? 0);

let handler;

function buildServer() {
  const server = new McpServer(
    { name: 'session-guard-modern-server', version: '1.0.0' },
    { capabilities: { tools: { listChanged: true } } });

  server.registerTool('echo', {
    description: 'Echoes back the input string',
    inputSchema: z.object({ message: z.string() }),
  }, async ({ message }) => ({ content: [{ type: 'text', text: `Echo: ${message}` }] }));

  server.registerTool('slow', {
    description: 'Waits ms milliseconds; with steps > 0 and a progress token, sends that many progress notifications',
    inputSchema: z.object({ ms: z.number().int().min(0).default(1000), steps: z.number().int().min(0).default(0) }),
  }, async ({ ms, steps }, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    if (steps > 0) {
      for (let i = 1; i <= steps; i++) {
        await sleep(ms / steps);
        if (token !== undefined) {
          await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
        }
      }
    } else {
      await sleep(ms);
    }
    return { content: [{ type: 'text', text: `Slept ${ms} ms` }] };
  });

  server.registerTool('notify-tools-changed', {
    description: 'Publishes notifications/tools/list_changed to every open subscriptions/listen stream',
    inputSchema: z.object({}),
  }, async () => {
    handler.notify.toolsChanged();
    return { content: [{ type: 'text', text: 'published tools_list_changed' }] };
  });

  return server;
}

handler = createMcpHandler(() => buildServer(), {
  legacy,
  keepAliveMs,
  onerror: err => process.stderr.write(`modern-server: ${err?.message ?? err}\n`),
});
const nodeHandler = toNodeHandler(handler, {
  onerror: err => process.stderr.write(`modern-server adapter: ${err?.message ?? err}\n`),
});

const httpServer = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (args['log-requests']) {
    const headers = { ...req.headers };
    if (headers.authorization) headers.authorization = '<redacted>';
    emit('request', { method: req.method, path, headers });
  }
  if (path !== '/mcp') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
    return;
  }
  nodeHandler(req, res).catch(err => {
    process.stderr.write(`modern-server: ${err?.stack ?? err}\n`);
    if (!res.headersSent) { res.writeHead(500); }
    res.end();
  });
});

httpServer.on('error', err => { fail(`listen failed: ${err.message}`); process.exit(1); });
httpServer.listen(port, host, () => {
  const addr = httpServer.address();
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  emit('listening', { port: addr.port, host: addr.address, url: `http://${shown}:${addr.port}/mcp`, legacy });
});

if (notifyEvery > 0) setInterval(() => handler.notify.toolsChanged(), notifyEvery).unref();

async function shutdown() {
  try { await handler.close(); } catch { /* ignore */ }
  httpServer.close();
  httpServer.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (args['stdin-lifeline']) {
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}
