// Shared helpers for the Session Guard test drivers.
// Every line a driver writes to stdout is one JSON object with an "event" field
// and "t" (epoch milliseconds when the line was written). Diagnostics go to stderr.

import net from 'node:net';

export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, t: Date.now(), ...fields }) + '\n');
}

export function fail(message, fields = {}) {
  emit('fatal', { message, ...fields });
  process.stderr.write(`${process.argv[1]}: ${message}\n`);
  process.exitCode = 1;
}

// Minimal argv parser: --flag value, --flag=value, repeated --header, bare --switch.
export function parseArgs(argv, { repeatable = [], switches = [] } = {}) {
  const out = { _: [] };
  for (const r of repeatable) out[r] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { out._.push(a); continue; }
    let key = a.slice(2);
    let val;
    const eq = key.indexOf('=');
    if (eq >= 0) { val = key.slice(eq + 1); key = key.slice(0, eq); }
    if (switches.includes(key)) { out[key] = val === undefined ? true : val !== 'false'; continue; }
    if (val === undefined) {
      if (i + 1 >= argv.length) throw new Error(`missing value for --${key}`);
      val = argv[++i];
    }
    if (repeatable.includes(key)) out[key].push(val); else out[key] = val;
  }
  return out;
}

// "Name=Value" or "Name: Value" -> [name, value]
export function parseHeaders(list) {
  const headers = {};
  for (const h of list) {
    const m = /^([^=:]+)\s*[=:]\s*(.*)$/.exec(h);
    if (!m) throw new Error(`bad --header '${h}', expected Name=Value`);
    headers[m[1].trim()] = m[2];
  }
  return headers;
}

const REDACT = new Set(['authorization', 'cookie']);

function headerObject(headers) {
  const o = {};
  for (const [k, v] of headers) o[k] = REDACT.has(k) ? '<redacted>' : v;
  return o;
}

function rpcMethodOf(body) {
  if (typeof body !== 'string') return undefined;
  try {
    const j = JSON.parse(body);
    if (Array.isArray(j)) return j.map(m => m.method ?? (m.id !== undefined ? 'response' : '?')).join(',');
    return j.method ?? (j.id !== undefined ? 'response' : undefined);
  } catch { return undefined; }
}

// A fetch that reports every HTTP exchange as an "http" line once the response
// headers arrive (or "http_error" if the connection fails). With env TRACE_BODIES=1
// the request body is included too. Streaming bodies
// are untouched, so SSE still arrives event by event.
export function tracingFetch(label) {
  return async (url, init = {}) => {
    const method = (init.method ?? 'GET').toUpperCase();
    const reqHeaders = new Headers(init.headers ?? {});
    const started = Date.now();
    const base = {
      via: label,
      method,
      rpc: rpcMethodOf(init.body),
      requestHeaders: headerObject(reqHeaders),
      ...(process.env.TRACE_BODIES && typeof init.body === 'string' ? { body: init.body } : {}),
    };
    try {
      const res = await fetch(url, init);
      emit('http', {
        ...base,
        status: res.status,
        contentType: res.headers.get('content-type'),
        sessionId: res.headers.get('mcp-session-id') ?? undefined,
        ms: Date.now() - started,
      });
      return res;
    } catch (e) {
      if (e?.name !== 'AbortError') {
        const cause = e?.cause?.code ?? e?.cause?.errors?.[0]?.code ?? e?.cause?.message;
        emit('http_error', { ...base, error: String(e?.message ?? e), cause, ms: Date.now() - started });
      }
      throw e;
    }
  };
}

// Status code carried by SDK HTTP errors (1.x StreamableHTTPError.code, 2.x SdkHttpError.data.status).
export function statusOf(err) {
  if (!err) return undefined;
  if (typeof err.status === 'number') return err.status;
  if (typeof err.data?.status === 'number') return err.data.status;
  if (typeof err.code === 'number' && err.code >= 100 && err.code < 600) return err.code;
  const m = /\b(?:HTTP |status |\()([1-5]\d\d)\b/.exec(String(err.message ?? ''));
  return m ? Number(m[1]) : undefined;
}

export function errorFields(err) {
  return {
    status: statusOf(err),
    code: err?.code,
    error: String(err?.message ?? err),
  };
}

// Reads stdin line by line; calls onLine(line) sequentially, onEnd() at EOF.
export function stdinLines(onLine, onEnd) {
  let buf = '';
  let chain = Promise.resolve();
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', chunk => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      chain = chain.then(() => onLine(line));
    }
  });
  process.stdin.on('end', () => {
    if (buf.trim()) { const line = buf; buf = ''; chain = chain.then(() => onLine(line)); }
    chain = chain.then(() => onEnd());
  });
  process.stdin.resume();
}

export function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }

// Asks the kernel for a currently free TCP port on the loopback interface.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
