// Self-test of the pinned MCP peers and driver scripts: `npm test` (node --test).
// Talks only to servers it starts on 127.0.0.1.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const dir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const children = new Set();
after(() => { for (const c of children) c.kill('SIGKILL'); });

// Spawns a driver; collects its JSON lines; lets a test wait for a matching line.
function run(script, args = []) {
  const proc = spawn(process.execPath, [path.join(dir, script), ...args], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  const lines = [];
  const waiters = [];
  let buf = '';
  let stderr = '';
  proc.stderr.on('data', d => { stderr += d; });
  proc.stdout.on('data', d => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.pred(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); }
    }
  });
  const exited = new Promise(resolve => proc.on('exit', code => { children.delete(proc); resolve(code); }));
  return {
    proc, lines, exited,
    get stderr() { return stderr; },
    waitFor(pred, ms = 15000) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`timed out; lines so far: ${JSON.stringify(lines)} stderr: ${stderr}`)), ms).unref();
      });
    },
  };
}

const byEvent = e => l => l.event === e;

test('server-everything: session lifecycle, progress with gaps, unknown session is 400', async () => {
  const server = run('everything.mjs');
  const { port } = await server.waitFor(byEvent('listening'));
  const url = `http://127.0.0.1:${port}/mcp`;

  const c = run('session-client.mjs', [url, '--long-duration', '2', '--long-steps', '2', '--header', 'X-Client-Id=alice']);
  assert.equal(await c.exited, 0, c.stderr);
  const session = c.lines.find(byEvent('session'));
  assert.match(session.sessionId, /^[\x21-\x7e]+$/);
  assert.equal(session.protocolVersion, '2025-11-25');
  const get = c.lines.find(l => l.event === 'http' && l.method === 'GET');
  assert.equal(get.status, 200, 'standalone GET stream opens');
  const progress = c.lines.filter(byEvent('progress'));
  assert.equal(progress.length, 2);
  assert.ok(progress[1].t - progress[0].t >= 800, 'progress events arrive spaced, not buffered');
  assert.ok(c.lines.find(l => l.event === 'step' && l.step === 'delete' && l.ok));
  assert.equal(c.lines.find(l => l.event === 'http' && l.rpc === 'initialize').requestHeaders['x-client-id'], 'alice');

  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': session.sessionId },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  assert.equal(r.status, 400, 'server-everything answers a deleted/unknown session id with 400');

  const h = run('session-client.mjs', [url, '--hold']);
  await h.waitFor(byEvent('holding'));
  h.proc.stdin.write('list\n');
  await h.waitFor(l => l.event === 'step' && l.step === 'list');
  h.proc.stdin.end();
  assert.equal(await h.exited, 0, h.stderr);
  assert.ok(h.lines.find(l => l.event === 'step' && l.step === 'list' && l.ok));
  server.proc.kill();
});

test('modern server and client: 2026-07-28 headers, progress, listen stream', async () => {
  const server = run('modern-server.mjs', ['--log-requests']);
  const { port } = await server.waitFor(byEvent('listening'));
  const url = `http://127.0.0.1:${port}/mcp`;

  const c = run('modern-client.mjs', [url, '--steps', 'list,call,slow=1000:2']);
  assert.equal(await c.exited, 0, c.stderr);
  assert.equal(c.lines.find(byEvent('connected')).protocolVersion, '2026-07-28');
  const call = c.lines.find(l => l.event === 'http' && l.rpc === 'tools/call');
  assert.equal(call.requestHeaders['mcp-protocol-version'], '2026-07-28');
  assert.equal(call.requestHeaders['mcp-method'], 'tools/call');
  assert.equal(call.requestHeaders['mcp-name'], 'echo');
  assert.equal(call.requestHeaders['mcp-session-id'], undefined);
  assert.equal(c.lines.filter(byEvent('progress')).length, 2);

  const l = run('modern-client.mjs', [url, '--steps', 'list', '--listen']);
  await l.waitFor(byEvent('holding'));
  const n = run('modern-client.mjs', [url, '--steps', 'notify']);
  assert.equal(await n.exited, 0, n.stderr);
  const note = await l.waitFor(byEvent('notification'));
  assert.equal(note.method, 'notifications/tools/list_changed');
  l.proc.stdin.end();
  assert.equal(await l.exited, 0, l.stderr);
  const listen = l.lines.find(x => x.event === 'http' && x.rpc === 'subscriptions/listen');
  assert.equal(listen.contentType, 'text/event-stream');
  assert.equal(listen.requestHeaders['mcp-method'], 'subscriptions/listen');
  server.proc.kill();
});
