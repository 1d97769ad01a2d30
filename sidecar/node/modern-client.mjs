#!/usr/bin/env node
// Per-request-era MCP client (protocol 2026-07-28) from @modelcontextprotocol/client 2.x.
// See README.md for the options and the JSON lines it prints.
//
// node modern-client.mjs <url> [--header Name=Value]... [--steps list,call,slow=MS:STEPS,notify]
//                        [--listen] [--hold] [--negotiate pin|auto] [--timeout MS]

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { emit, errorFields, fail, parseArgs, parseHeaders, sleep, stdinLines, tracingFetch } from './lib.mjs';

const USAGE = 'usage: modern-client.mjs <url> [--header Name=Value]... [--steps list,call,slow=MS:STEPS,notify] ' +
  '[--listen] [--hold] [--negotiate pin|auto] [--timeout MS]';
const MODERN = '2026-07-28';

let args;
try {
  args = parseArgs(process.argv.slice(2), { repeatable: ['header'], switches: ['listen', 'hold'] });
  if (args._.length !== 1) throw new Error(USAGE);
} catch (e) {
  fail(e.message);
  process.exit(2);
}

const url = new URL(args._[0]);
const headers = parseHeaders(args.header);
const listen = !!args.listen;
const hold = listen || !!args.hold;
const steps = (args.steps ?? 'list,call').split(',').map(s => s.trim()).filter(Boolean);
const timeout = Number(args.timeout ?? 60000);
const negotiate = args.negotiate ?? 'pin';
if (!['pin', 'auto'].includes(negotiate)) { fail(`bad --negotiate '${negotiate}'`); process.exit(2); }

const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers },
  fetch: tracingFetch('modern-client'),
});
const client = new Client(
  { name: 'session-guard-modern-client', version: '1.0.0' },
  { capabilities: {}, versionNegotiation: { mode: negotiate === 'pin' ? { pin: MODERN } : 'auto' } });
client.onerror = err => emit('transport_error', errorFields(err));

for (const method of ['notifications/tools/list_changed', 'notifications/prompts/list_changed',
  'notifications/resources/list_changed', 'notifications/resources/updated']) {
  try {
    client.setNotificationHandler(method, n => emit('notification', { method, params: n?.params }));
  } catch (e) {
    process.stderr.write(`modern-client: cannot register ${method}: ${e.message}\n`);
  }
}

let subscription;

async function runStep(stepText) {
  const m = /^([^=\s]+)(?:[=\s]+(.*))?$/.exec(stepText.trim());
  const name = m?.[1] ?? '';
  const arg = m?.[2] || undefined;
  switch (name) {
    case 'list': {
      const r = await client.listTools(undefined, { timeout, cacheMode: 'bypass' });
      return { tools: r.tools.map(t => t.name) };
    }
    case 'call': {
      const r = await client.callTool({ name: 'echo', arguments: { message: arg ?? 'hello' } }, { timeout });
      return { text: r.content?.[0]?.text, isError: r.isError ?? false };
    }
    case 'slow': {
      const [ms, nsteps] = (arg ?? '1000').split(/[:x/]/).map(Number);
      let count = 0;
      let last = Date.now();
      const r = await client.callTool({ name: 'slow', arguments: { ms, steps: nsteps || 0 } }, {
        timeout,
        resetTimeoutOnProgress: true,
        onprogress: p => {
          const now = Date.now();
          count++;
          emit('progress', { progress: p.progress, total: p.total, sinceLastMs: now - last });
          last = now;
        },
      });
      return { text: r.content?.[0]?.text, progressCount: count };
    }
    case 'notify': {
      const r = await client.callTool({ name: 'notify-tools-changed', arguments: {} }, { timeout });
      return { text: r.content?.[0]?.text };
    }
    case 'ping':
      await client.ping({ timeout });
      return {};
    case 'sleep':
      await sleep(Number(arg ?? 1000));
      return {};
    case 'listen': {
      subscription = await client.listen({ toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true });
      subscription.closed.then(reason => {
        emit('listen_closed', { reason });
        if (reason !== 'local') finish(0);
      });
      return { honoredFilter: subscription.honoredFilter };
    }
    case 'unlisten':
      await subscription?.close();
      return {};
    default:
      throw Object.assign(new Error(`unknown step '${name}'`), { unknownStep: true });
  }
}

async function step(stepText, { fatal }) {
  const started = Date.now();
  try {
    const fields = await runStep(stepText);
    emit('step', { step: stepText, ok: true, ...fields, ms: Date.now() - started });
    return true;
  } catch (err) {
    emit('step', { step: stepText, ok: false, ...errorFields(err), ms: Date.now() - started });
    if (fatal || err.unknownStep) throw err;
    return false;
  }
}

let finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  try {
    await subscription?.close();
    await client.close();
  } catch (e) {
    emit('transport_error', errorFields(e));
  }
  emit('done', { exitCode: code });
  process.exit(code);
}
process.on('SIGTERM', () => finish(0));

try {
  const started = Date.now();
  try {
    await client.connect(transport, { timeout });
  } catch (err) {
    emit('step', { step: 'connect', ok: false, ...errorFields(err), ms: Date.now() - started });
    throw err;
  }
  emit('connected', {
    protocolVersion: client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion ?? null,
    server: client.getServerVersion()?.name ?? null,
    ms: Date.now() - started,
  });
  for (const s of steps) await step(s, { fatal: true });
  if (listen) await step('listen', { fatal: true });
} catch (err) {
  fail(`failed: ${err?.message ?? err}`, errorFields(err));
  try { await client.close(); } catch { /* ignore */ }
  process.exit(1);
}

if (!hold) {
  await finish(0);
} else {
  emit('holding', { listening: !!subscription });
  stdinLines(async line => {
    const cmd = line.trim();
    if (!cmd) return;
    if (cmd === 'exit' || cmd === 'close') return finish(0);
    try {
      await step(cmd, { fatal: false });
    } catch (err) {
      emit('step', { step: cmd, ok: false, error: String(err.message) });
    }
  }, () => finish(0));
}
