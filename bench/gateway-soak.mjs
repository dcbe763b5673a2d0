// Gateway soak: steady load for many minutes, watching the gateway's memory.
//
//   npx tsc -b packages/gateway && node --expose-gc bench/gateway-soak.mjs [--minutes 10]
//
// Not a `*.bench.mjs` file, so `npm run bench` leaves it out (it takes 11+ minutes).
// Processes: a trivial JSON upstream and a 10 ms upstream (node:http), the gateway (alone in its
// own process, so its RSS is its own; forked with this process's flags, hence `--expose-gc`
// reaches it), and this process (the dev token issuer serving its JWKS, wrk, sampling).
// Routes: `/plain/{json,slow}` (no features) and `/full/{json,slow}` (ES256 JWT from the dev
// issuer + a local rate limit of 10⁹/s that never refuses, one retry, a circuit breaker and a
// bulkhead that never refuse here — both guard the upstream, so the plain routes pass them too;
// metrics are always on).
// Load: one wrk (1 thread) per route family, each request in turn a GET to the trivial upstream,
// a GET to the 10 ms one, and a POST with a 1 KiB body (JSON text, no content type) to the trivial one.
// wrk2 is not available, so wrk is held at about half of the measured capacity by few
// connections plus a fixed think time per request (wrk's Lua `delay()`), calibrated before the run.
// Samples every 30 s after a 30 s warm-up: the gateway's VmRSS (/proc/<pid>/status), its heap
// from the admin /metrics (prom-client default metrics), and its heap used after a forced GC
// (over IPC) — the last is the one a leak cannot hide from.
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listenJsonUpstream, printTable, saveResults } from './lib.mjs';

const self = fileURLToPath(import.meta.url);
const WARMUP_S = 30;
const SAMPLE_EVERY_S = 30;
const THINK_MS = 5;
// Enough connections that the gateway's CPU, not the 10 ms upstream's latency, bounds the rate.
const CAPACITY_CONNECTIONS = 200;

function argument(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Child: an upstream answering after `delayMs`, or the gateway; reports its port over IPC. */
async function serve(kind, args) {
  if (kind === 'upstream') {
    process.send({ port: await listenJsonUpstream(Number(args[0])) });
    return;
  }
  const { startGateway } = await import('../packages/gateway/dist/index.js');
  const { createLogger } = await import('../packages/core/dist/index.js');
  const [json, slow, issuer] = args;
  const features = {
    auth: {
      jwt: {
        issuer,
        audience: 'flotilla',
        jwksUrl: `${issuer}/.well-known/jwks.json`,
        scopes: ['bench:read'],
      },
    },
    rateLimit: { limit: 1_000_000_000, period: '1s', key: 'client' },
    // Every upstream policy: the per-request state of each is exercised for hours.
    retry: { attempts: 1 },
    circuitBreaker: { failureRateThreshold: 50 },
    concurrency: 100_000,
  };
  const routes = [];
  for (const [family, extra] of [
    ['plain', {}],
    ['full', features],
  ]) {
    for (const [name, port] of [
      ['json', json],
      ['slow', slow],
    ]) {
      routes.push({
        id: `${family}-${name}`,
        match: { path: `/${family}/${name}` },
        target: { url: `http://127.0.0.1:${port}` },
        rewrite: { path: '/json' },
        ...extra,
      });
    }
  }
  const running = await startGateway({
    port: 0,
    adminPort: 0,
    host: '127.0.0.1',
    logger: createLogger({ service: 'gateway', level: 'warn' }),
    routes,
  });
  process.on('message', (m) => {
    if (m !== 'memory') return;
    globalThis.gc?.();
    process.send({ memory: process.memoryUsage(), gc: typeof globalThis.gc === 'function' });
  });
  process.send({ port: running.port, adminPort: running.adminPort });
}

function startChild(kind, args = []) {
  const child = fork(self, ['--serve', kind, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return {
    child,
    ready: new Promise((resolve) => child.once('message', resolve)),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGKILL');
      }),
  };
}

/**
 * Writes the wrk script: paths from the arguments after `--`, in turn (`POST:/path` for a POST
 * with a 1 KiB JSON body); a fixed think time.
 */
function wrkScript(dir, thinkMs) {
  const file = join(dir, `soak-${thinkMs}.lua`);
  writeFileSync(
    file,
    `local paths = {}
local i = 0
local body = '{"data":"' .. string.rep("x", 1013) .. '"}'
function init(args) for k, v in ipairs(args) do paths[k] = v end end
function request()
  i = i + 1
  local path = paths[(i % #paths) + 1]
  if string.sub(path, 1, 5) == "POST:" then return wrk.format("POST", string.sub(path, 6), nil, body) end
  return wrk.format(nil, path)
end
${thinkMs > 0 ? `function delay() return ${thinkMs} end` : ''}
`,
  );
  return file;
}

function parseWrk(out) {
  const count = (re) => Number(re.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket
    ? { connect: +socket[1], read: +socket[2], write: +socket[3], timeout: +socket[4] }
    : { connect: 0, read: 0, write: 0, timeout: 0 };
  return {
    requests: count(/(\d+) requests in/),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    non2xx: count(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors,
    p50: /\s50%\s+(\S+)/.exec(out)?.[1],
    p99: /\s99%\s+(\S+)/.exec(out)?.[1],
  };
}

/** Starts wrk in the background; resolves with its parsed output when it ends. */
function wrk({ base, paths, connections, seconds, script, headers = {} }) {
  const extra = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const child = spawn(
    'wrk',
    ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...extra, '-s', script, base, '--', ...paths],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve({ ...parseWrk(out), raw: out }) : reject(new Error(`wrk failed: ${err}`)),
    ),
  );
}

function rssKb(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/**
 * Where the resident memory of `pid` lives, from /proc/<pid>/smaps, in MB: `brk` is the main
 * malloc arena (`[heap]`), `anon` every other anonymous mapping (V8's pages, other malloc arenas,
 * large malloc chunks, thread stacks), `file` the mapped node binary and libraries. Empty off Linux.
 */
function rssParts(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return {};
  }
  const kb = { brk: 0, anon: 0, file: 0 };
  let kind = 'anon';
  for (const line of text.split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (mapping) {
      const name = mapping[1];
      kind = name === '[heap]' ? 'brk' : name === '' || name.startsWith('[') ? 'anon' : 'file';
    } else if (line.startsWith('Rss:')) kb[kind] += Number(/(\d+)/.exec(line)[1]);
  }
  return { brkMB: mb(kb.brk * 1024), anonMB: mb(kb.anon * 1024), fileMB: mb(kb.file * 1024) };
}

async function metricsHeap(adminUrl) {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const value = (name) => Number(new RegExp(`^${name} ([\\d.e+]+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    heapUsed: value('flotilla_gateway_nodejs_heap_size_used_bytes'),
    heapTotal: value('flotilla_gateway_nodejs_heap_size_total_bytes'),
  };
}

function memoryAfterGc(child) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send('memory');
  });
}

/** Least-squares line through (x, y): slope, its standard error, and the residual deviation. */
function linearFit(points) {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
  }
  const slope = sxy / sxx;
  const residuals = points.map((p) => p.y - (my + slope * (p.x - mx)));
  const sse = residuals.reduce((s, r) => s + r * r, 0);
  const residualSd = Math.sqrt(sse / Math.max(1, n - 2));
  return { slope, slopeStdErr: residualSd / Math.sqrt(sxx), residualSd };
}

const mb = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  if (spawnSync('sh', ['-c', 'command -v wrk']).status !== 0) {
    console.log('gateway soak skipped: wrk is not installed');
    return;
  }
  const minutes = Number(argument('minutes', '10'));
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-soak-'));

  // The issuer lives here, not in the gateway, so the gateway's RSS holds only the gateway.
  const { createDevIssuer } = await import('../packages/gateway/dist/index.js');
  let issuer;
  const idp = createServer((req, res) => issuer.handler(req, res));
  await new Promise((resolve) => idp.listen(0, '127.0.0.1', resolve));
  const issuerUrl = `http://127.0.0.1:${idp.address().port}`;
  issuer = await createDevIssuer({ dataDir: join(dir, 'issuer'), issuer: issuerUrl });
  // The token outlives the soak: an expiry mid-run would turn into 401s.
  const token = await issuer.sign({ sub: 'soak', scope: 'bench:read', ttl: `${minutes + 30}m` });
  const auth = { authorization: `Bearer ${token}` };

  const json = startChild('upstream', ['0']);
  const slow = startChild('upstream', ['10']);
  const [{ port: jsonPort }, { port: slowPort }] = await Promise.all([json.ready, slow.ready]);
  const gateway = startChild('gateway', [String(jsonPort), String(slowPort), issuerUrl]);
  const { port, adminPort } = await gateway.ready;
  const base = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const plain = { base, paths: ['/plain/json', '/plain/slow', 'POST:/plain/json'] };
  const full = { base, paths: ['/full/json', '/full/slow', 'POST:/full/json'], headers: auth };

  try {
    // Capacity: both families at once with no think time, as in the soak they share the
    // gateway's core.
    const flat = wrkScript(dir, 0);
    await Promise.all([
      wrk({ ...plain, connections: CAPACITY_CONNECTIONS, seconds: 3, script: flat }),
      wrk({ ...full, connections: CAPACITY_CONNECTIONS, seconds: 3, script: flat }),
    ]);
    const [capPlain, capFull] = await Promise.all([
      wrk({ ...plain, connections: CAPACITY_CONNECTIONS, seconds: 10, script: flat }),
      wrk({ ...full, connections: CAPACITY_CONNECTIONS, seconds: 10, script: flat }),
    ]);
    const target = { plain: capPlain.rps / 2, full: capFull.rps / 2 };
    console.log(
      `capacity (both at once, ${CAPACITY_CONNECTIONS} connections each): plain ${Math.round(capPlain.rps)} req/s, full ${Math.round(capFull.rps)} req/s; target half`,
    );

    // Calibration: one connection per THINK_MS of think time gives at most 1000/THINK_MS req/s;
    // 5 s trials measure the real rate (think time + latency) and scale the connections.
    const think = wrkScript(dir, THINK_MS);
    const guess = (rps) => Math.max(1, Math.round((rps * THINK_MS) / 1000));
    let conn = { plain: guess(target.plain), full: guess(target.full) };
    // Two rounds: the first guess ignores latency, so one correction can still fall short.
    for (let round = 0; round < 2; round++) {
      const [trialPlain, trialFull] = await Promise.all([
        wrk({ ...plain, connections: conn.plain, seconds: 5, script: think }),
        wrk({ ...full, connections: conn.full, seconds: 5, script: think }),
      ]);
      conn = {
        plain: Math.max(1, Math.round((conn.plain * target.plain) / trialPlain.rps)),
        full: Math.max(1, Math.round((conn.full * target.full) / trialFull.rps)),
      };
    }
    console.log(
      `load: plain ${conn.plain} connections, full ${conn.full} connections, ${THINK_MS} ms think time each`,
    );

    const seconds = WARMUP_S + minutes * 60;
    const started = Date.now();
    const runs = Promise.all([
      wrk({ ...plain, connections: conn.plain, seconds, script: think }),
      wrk({ ...full, connections: conn.full, seconds, script: think }),
    ]);
    await sleep(WARMUP_S * 1000);
    const samples = [];
    const pid = gateway.child.pid;
    for (let i = 0; i <= (minutes * 60) / SAMPLE_EVERY_S; i++) {
      // The last sample lands just before wrk stops, still under load.
      const due =
        started + (WARMUP_S + i * SAMPLE_EVERY_S) * 1000 - (i === (minutes * 60) / SAMPLE_EVERY_S ? 2000 : 0);
      await sleep(Math.max(0, due - Date.now()));
      const rss = rssKb(pid) * 1024;
      const heap = await metricsHeap(adminUrl);
      const after = await memoryAfterGc(gateway.child);
      const sample = {
        minute: Math.round(((Date.now() - started) / 60_000 - WARMUP_S / 60) * 100) / 100,
        rssMB: mb(rss),
        heapUsedMB: mb(heap.heapUsed),
        heapTotalMB: mb(heap.heapTotal),
        heapUsedAfterGcMB: after.gc ? mb(after.memory.heapUsed) : undefined,
        // After the GC: V8's committed heap, memory outside it that V8 knows of (Buffers), and
        // the RSS by mapping kind, to tell a growing heap from a growing malloc arena.
        heapTotalAfterGcMB: mb(after.memory.heapTotal),
        externalMB: mb(after.memory.external),
        ...rssParts(pid),
        load1: Math.round(loadavg()[0] * 100) / 100,
      };
      samples.push(sample);
      console.log(JSON.stringify(sample));
    }
    const [runPlain, runFull] = await runs;

    const rss = linearFit(samples.map((s) => ({ x: s.minute, y: s.rssMB })));
    const heapGc =
      samples[0].heapUsedAfterGcMB === undefined
        ? undefined
        : linearFit(samples.map((s) => ({ x: s.minute, y: s.heapUsedAfterGcMB })));
    const family = (name, cap, c, r) => ({
      route: name,
      capacityRps: Math.round(cap.rps),
      connections: c,
      thinkMs: THINK_MS,
      rps: Math.round(r.rps),
      requests: r.requests,
      non2xx: r.non2xx,
      socketErrors: r.socketErrors,
      p50: r.p50,
      p99: r.p99,
    });
    const summary = {
      minutes,
      warmupSeconds: WARMUP_S,
      load: [
        family('plain (/plain/json, /plain/slow, POST /plain/json)', capPlain, conn.plain, runPlain),
        family(
          'JWT + rate limit + metrics (/full/json, /full/slow, POST /full/json)',
          capFull,
          conn.full,
          runFull,
        ),
      ],
      totalRequests: runPlain.requests + runFull.requests,
      non2xx: runPlain.non2xx + runFull.non2xx,
      socketErrors: Object.values(runPlain.socketErrors)
        .concat(Object.values(runFull.socketErrors))
        .reduce((s, n) => s + n, 0),
      rssStartMB: samples[0].rssMB,
      rssEndMB: samples.at(-1).rssMB,
      rssMaxMB: Math.max(...samples.map((s) => s.rssMB)),
      rssSlopeMBPerMin: Math.round(rss.slope * 1000) / 1000,
      rssSlopeStdErr: Math.round(rss.slopeStdErr * 1000) / 1000,
      rssResidualSdMB: Math.round(rss.residualSd * 100) / 100,
      heapAfterGcStartMB: samples[0].heapUsedAfterGcMB,
      heapAfterGcEndMB: samples.at(-1).heapUsedAfterGcMB,
      heapAfterGcSlopeMBPerMin: heapGc ? Math.round(heapGc.slope * 1000) / 1000 : undefined,
      heapAfterGcSlopeStdErr: heapGc ? Math.round(heapGc.slopeStdErr * 1000) / 1000 : undefined,
      samples,
    };
    printTable(
      summary.load.map((l) => ({
        route: l.route,
        'capacity req/s': l.capacityRps,
        connections: String(l.connections),
        'soak req/s': l.rps,
        requests: l.requests,
        'non-2xx': String(l.non2xx),
        'socket errors': String(Object.values(l.socketErrors).reduce((s, n) => s + n, 0)),
        p50: l.p50,
        p99: l.p99,
      })),
    );
    console.log('');
    printTable([
      {
        'RSS start MB': summary.rssStartMB,
        'RSS end MB': summary.rssEndMB,
        'RSS max MB': summary.rssMaxMB,
        'RSS slope MB/min': `${summary.rssSlopeMBPerMin} ± ${summary.rssSlopeStdErr}`,
        'heap after GC start/end MB': `${summary.heapAfterGcStartMB} / ${summary.heapAfterGcEndMB}`,
        'heap after GC slope MB/min': `${summary.heapAfterGcSlopeMBPerMin} ± ${summary.heapAfterGcSlopeStdErr}`,
      },
    ]);
    console.log(`\nresults: ${saveResults('gateway-soak', summary)}`);
  } finally {
    await Promise.all([gateway.stop(), json.stop(), slow.stop()]);
    idp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) {
  await serve(process.argv[serveAt + 1], process.argv.slice(serveAt + 2));
} else {
  await main();
}
