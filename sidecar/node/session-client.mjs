#!/usr/bin/env node
// Session-era MCP client (@modelcontextprotocol/sdk 1.x, StreamableHTTPClientTransport).
// See README.md for the options and the JSON lines it prints.
//
// node session-client.mjs <url> [--header Name=Value]... [--steps list,call,long,delete]
//                         [--long-duration S] [--long-steps N] [--echo TEXT]
//                         [--timeout MS] [--hold] [--delete-on-exit]

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { emit, errorFields, fail, parseArgs, parseHeaders, sleep, stdinLines, tracingFetch } from './lib.mjs';

const USAGE = 'usage: session-client.mjs <url> [--header Name=Value]... [--steps list,call,long,delete] ' +
  '[--long-duration S] [--long-steps N] [--echo TEXT] [--timeout MS] [--hold] [--delete-on-exit]';

let args;
try {
  args = parseArgs(process.argv.slice(2), { repeatable: ['header'], switches: ['hold', 'delete-on-exit'] });
  if (args._.length !== 1) throw new Error(USAGE);
} catch (e) {
  fail(e.message);
  process.exit(2);
}

const url = new URL(args._[0]);
const headers = parseHeaders(args.header);
const hold = !!args.hold;
const steps = (args.steps ?? (hold ? '' : 'list,call,long,delete')).split(',').map(s => s.trim()).filter(Boolean);
const longDuration = Number(args['long-duration'] ?? 5);
const longSteps = Number(args['long-steps'] ?? 5);
const echoText = args.echo ?? 'hello';
const timeout = Number(args.timeout ?? 60000);

const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers },
  fetch: tracingFetch('session-client'),
  // Do not retry the standalone GET stream forever when a guard closes it.
  reconnectionOptions: { initialReconnectionDelay: 1000, maxReconnectionDelay: 5000, reconnectionDelayGrowFactor: 1.5, maxRetries: 2 },
});
const client = new Client({ name: 'session-guard-session-client', version: '1.0.0' }, { capabilities: {} });
// The client also receives every transport error (e.g. the standalone GET stream failing).
client.onerror = err => emit('transport_error', errorFields(err));

let deleted = false;

async function runStep(step) {
  const started = Date.now();
  const m = /^([^=\s]+)(?:[=\s]+(.*))?$/.exec(step.trim());
  const name = m?.[1] ?? '';
  const arg = m?.[2] || undefined;
  switch (name) {
    case 'list': {
      const r = await client.listTools(undefined, { timeout });
      return { tools: r.tools.map(t => t.name) };
    }
    case 'call': {
      const r = await client.callTool({ name: 'echo', arguments: { message: arg ?? echoText } }, CallToolResultSchema, { timeout });
      return { text: r.content?.[0]?.text, isError: r.isError ?? false };
    }
    case 'long': {
      let count = 0;
      let last = started;
      const [d, s] = (arg ?? '').split(/[:x/]/);
      const duration = d ? Number(d) : longDuration;
      const nsteps = s ? Number(s) : longSteps;
      const r = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration, steps: nsteps } },
        CallToolResultSchema,
        {
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
    case 'ping':
      await client.ping({ timeout });
      return {};
    case 'sleep':
      await sleep(Number(arg ?? 1000));
      return {};
    case 'delete':
      await transport.terminateSession();
      deleted = true;
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
    if (args['delete-on-exit'] && !deleted && transport.sessionId) await step('delete', { fatal: false });
    await client.close();
  } catch (e) {
    emit('client_error', errorFields(e));
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
    emit('step', { step: 'initialize', ok: false, ...errorFields(err), ms: Date.now() - started });
    throw err;
  }
  emit('session', {
    sessionId: transport.sessionId ?? null,
    protocolVersion: transport.protocolVersion ?? null,
    server: client.getServerVersion()?.name ?? null,
    ms: Date.now() - started,
  });
  for (const s of steps) await step(s, { fatal: true });
} catch (err) {
  fail(`failed: ${err?.message ?? err}`, errorFields(err));
  try { await client.close(); } catch { /* ignore */ }
  process.exit(1);
}

if (!hold) {
  await finish(0);
} else {
  emit('holding', { sessionId: transport.sessionId ?? null });
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
