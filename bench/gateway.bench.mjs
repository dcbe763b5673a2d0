// Gateway: one proxied hop compared side by side in one run, with wrk over loopback: direct to
// the upstream, nginx (1 worker, keep-alive upstream), fastify + @fastify/reply-from, the
// Flotilla gateway on a plain route (with its fast-path front, and with `fastPath: false`, i.e.
// through node:http only), on a route with JWT + rate limit (+ metrics, always on), on a service
// route (the upstream registered in a registry and resolved through discovery, with one retry,
// as the reference system's GET routes are; with the front and through node:http only), and nginx vs Flotilla with 2
// workers each; a raw-socket sketch of a front without node:http
// (bench/gateway-front-sketch.mjs; the ceiling of the front's design, not a server); and the
// floor of Node's sockets, a node:net relay without HTTP (trivial upstream and paced run only).
// Upstreams: a trivial JSON handler and a 10 ms handler; and POSTs with a 1 KiB JSON body to the
// trivial one (direct, nginx, fastify, Flotilla with its front and through node:http only). Each
// server runs in its own process (this file with --serve <kind>), as in production.
// The CPU-bound parts (trivial upstream, paced run) run GATEWAY_BENCH_ROUNDS times (default 3),
// interleaved across targets, and report the median round (the ratios: the median of the ratios
// round by round), so one disturbed run does not decide.
// GATEWAY_BENCH_BASELINE=<path to another build's dist/index.js> adds a plain-route row for that
// build (to compare the data path before and after a change in one run).
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listenJsonUpstream, median, middleBy, printTable, saveResults } from './lib.mjs';

const self = fileURLToPath(import.meta.url);
const DURATION_S = Number(process.env.GATEWAY_BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.GATEWAY_BENCH_CONNECTIONS ?? 50);
const BASELINE = process.env.GATEWAY_BENCH_BASELINE;
/** The origin of the browser mix's requests (the `cors` route allows it). */
const APP_ORIGIN = 'https://app.example';
/** Rounds on the trivial upstream (the median counts); the 10 ms upstream runs once. */
const ROUNDS = Number(process.env.GATEWAY_BENCH_ROUNDS ?? 3);

/**
 * The two routes every Flotilla target serves: `/json` to `json`, `/slow` to `slow` (rewritten
 * to `/json`), each a route target (`{ url }` or `{ service }`) with `extra` sections.
 */
function benchRoutes(json, slow, extra = {}) {
  return [
    { id: 'json', match: { path: '/json' }, target: json, ...extra },
    { id: 'slow', match: { path: '/slow' }, target: slow, rewrite: { path: '/json' }, ...extra },
    // The browser mix's route: a cross-origin app's API, its preflights answered by the gateway.
    {
      id: 'cors',
      match: { path: '/cors' },
      target: json,
      rewrite: { path: '/json' },
      cors: { origins: [APP_ORIGIN] },
      ...extra,
    },
  ];
}

/** Starts a gateway of `module` on a free loopback port with `options` (routes and others). */
async function startBenchGateway(module, options) {
  const { startGateway } = await import(module);
  const { createLogger } = await import('../packages/core/dist/index.js');
  const logger = createLogger({ service: 'gateway', level: 'warn' });
  return startGateway({ port: 0, adminPort: 0, host: '127.0.0.1', logger, ...options });
}

const GATEWAY = '../packages/gateway/dist/index.js';
const urlOf = (port) => ({ url: `http://127.0.0.1:${port}` });

/** Child: one server of `kind`, reporting its port over IPC. */
async function serve(kind, args) {
  let port;
  if (kind === 'upstream') {
    port = await listenJsonUpstream(Number(args[0]));
  } else if (kind === 'flotilla' || kind === 'flotilla-baseline' || kind === 'flotilla-node') {
    const [json, slow] = args;
    const running = await startBenchGateway(kind === 'flotilla-baseline' ? BASELINE : GATEWAY, {
      // flotilla-node: every request through node:http, as before the fast-path front.
      ...(kind === 'flotilla-node' ? { fastPath: false } : {}),
      routes: benchRoutes(urlOf(json), urlOf(slow)),
    });
    port = running.port;
  } else if (kind === 'flotilla-full') {
    // JWT (ES256 from the dev issuer, JWKS fetched once from a local server and cached), a local
    // rate limit far above what the machine can send, and metrics (always on).
    const { createDevIssuer } = await import(GATEWAY);
    const [json, slow] = args;
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-issuer-'));
    let issuer;
    const idp = createServer((req, res) => issuer.handler(req, res));
    await new Promise((resolve) => idp.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${idp.address().port}`;
    issuer = await createDevIssuer({ dataDir: dir, issuer: base });
    rmSync(dir, { recursive: true, force: true }); // the key is in memory now
    const token = await issuer.sign({ sub: 'bench', scope: 'bench:read', ttl: '1h' });
    const features = {
      auth: {
        jwt: {
          issuer: base,
          audience: 'flotilla',
          jwksUrl: `${base}/.well-known/jwks.json`,
          scopes: ['bench:read'],
        },
      },
      rateLimit: { limit: 1_000_000_000, period: '1s', key: 'client' },
    };
    const running = await startBenchGateway(GATEWAY, {
      routes: benchRoutes(urlOf(json), urlOf(slow), features),
    });
    process.send({ port: running.port, token });
    return;
  } else if (kind === 'flotilla-service' || kind === 'flotilla-service-node') {
    // Service targets, as the reference system's routes are: a registry (in this process, memory
    // store), both upstreams registered and renewed as services register themselves, and the
    // gateway resolving them through discovery with its balancer and per-service policies.
    const { startRegistry } = await import('../packages/registry/dist/index.js');
    const { Registration } = await import('../packages/discovery/dist/index.js');
    const { createLogger, systemClock } = await import('../packages/core/dist/index.js');
    const logger = createLogger({ service: 'gateway', level: 'warn' });
    const [json, slow] = args;
    const registry = await startRegistry({ port: 0, host: '127.0.0.1', logger });
    for (const [service, upstreamPort] of [
      ['bench-json', json],
      ['bench-slow', slow],
    ]) {
      await new Registration(
        { service, instanceId: service, host: '127.0.0.1', port: Number(upstreamPort) },
        { registryUrl: registry.url, clock: systemClock, logger, fetch },
      ).start();
    }
    const running = await startBenchGateway(GATEWAY, {
      registryUrl: registry.url,
      ...(kind === 'flotilla-service-node' ? { fastPath: false } : {}),
      // As the reference system's GET routes: one retry on another instance.
      routes: benchRoutes({ service: 'bench-json' }, { service: 'bench-slow' }, { retry: { attempts: 1 } }),
    });
    port = running.port;
  } else if (kind === 'node-relay') {
    // The floor of Node's sockets: each client connection piped to an upstream connection of
    // its own, bytes as they are (no HTTP), `'data'` on the client, `onread` into one buffer on
    // the upstream. Not a proxy: paths are not routed (both go to the trivial upstream).
    const { createServer: createTcpServer, connect } = await import('node:net');
    const readBuffer = Buffer.allocUnsafe(64 * 1024);
    const server = createTcpServer({ noDelay: true }, (client) => {
      const upstream = connect({
        host: '127.0.0.1',
        port: Number(args[0]),
        noDelay: true,
        onread: {
          buffer: readBuffer,
          callback: (n, buffer) => client.write(Buffer.from(buffer.subarray(0, n))),
        },
      });
      client.on('data', (chunk) => upstream.write(chunk));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('error', () => {});
      upstream.on('error', () => {});
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = server.address().port;
  } else if (kind === 'front-sketch') {
    const { startFrontSketch } = await import('./gateway-front-sketch.mjs');
    port = await startFrontSketch({ '/json': Number(args[0]), '/slow': Number(args[1]) });
  } else if (kind === 'fastify') {
    const { default: Fastify } = await import('fastify');
    const { default: replyFrom } = await import('@fastify/reply-from');
    const [json, slow] = args;
    const app = Fastify({ logger: false });
    await app.register(replyFrom, { undici: { connections: 128, pipelining: 1 } });
    app.get('/json', (_req, reply) => reply.from(`http://127.0.0.1:${json}/json`));
    app.post('/json', (_req, reply) => reply.from(`http://127.0.0.1:${json}/json`));
    app.get('/slow', (_req, reply) => reply.from(`http://127.0.0.1:${slow}/json`));
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = app.server.address().port;
  }
  process.send({ port });
}

// Every server this run started, so that a failed run does not leave them behind.
const started = [];
process.on('exit', () => {
  for (const { child, signal } of started) if (child.exitCode === null) child.kill(signal);
});

function startChild(kind, args = []) {
  const child = fork(self, ['--serve', kind, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  started.push({ child, signal: 'SIGKILL' });
  const message = new Promise((resolve) => child.once('message', resolve));
  return {
    pid: child.pid,
    ready: message.then((m) => m.port),
    token: message.then((m) => m.token),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGKILL');
      }),
  };
}

/** `flotilla gateway --workers <n>` (the CLI, node:cluster) on a routes file. */
async function startFlotillaWorkers(json, slow, workers) {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-workers-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const file = join(dir, 'routes.yaml');
  // JSON is YAML: the same routes as the other Flotilla targets.
  writeFileSync(file, JSON.stringify({ routes: benchRoutes(urlOf(json), urlOf(slow)) }, null, 2));
  const bin = fileURLToPath(new URL('../packages/cli/bin/flotilla.mjs', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      bin,
      'gateway',
      '--workers',
      String(workers),
      '--port',
      String(port),
      '--admin-port',
      String(port + 1),
      '--routes',
      file,
    ],
    { stdio: 'ignore' },
  );
  started.push({ child, signal: 'SIGTERM' });
  await waitForHttp(`http://127.0.0.1:${port}/json`);
  return {
    port,
    pid: child.pid,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

async function waitForHttp(url) {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// What Flotilla adds to every proxied request and response (forwarding, request id, trace
// context, deadline; the secure headers and the request id echo), for an nginx doing the same.
const SAME_HEADERS = `
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header X-Request-Id $request_id;
    proxy_set_header traceparent "00-$request_id-b7ad6b7169203331-01";
    proxy_set_header X-Flotilla-Deadline $msec;
    add_header x-request-id $request_id always;
    add_header strict-transport-security "max-age=31536000; includeSubDomains" always;
    add_header x-content-type-options nosniff always;
    add_header x-frame-options DENY always;
    add_header content-security-policy "frame-ancestors 'none'" always;
    add_header referrer-policy no-referrer always;
    add_header cross-origin-opener-policy same-origin always;
    add_header x-permitted-cross-domain-policies none always;`;

/**
 * nginx with `workers` workers and keep-alive to both upstreams (with `sameHeaders`, adding the
 * headers Flotilla adds), or a reason it cannot run.
 */
async function startNginx(json, slow, workers = 1, sameHeaders = false) {
  const which = spawnSync('sh', ['-c', 'command -v nginx']);
  if (which.status !== 0) return { skipped: 'nginx is not installed' };
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-nginx-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  // In the location: a location's own proxy_set_header stops inheritance from the server block.
  const extra = sameHeaders ? SAME_HEADERS : '';
  const conf = `
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream json { server 127.0.0.1:${json}; keepalive 64; }
  upstream slow { server 127.0.0.1:${slow}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /json { proxy_pass http://json; proxy_http_version 1.1; proxy_set_header Connection "";${extra} }
    location /slow { proxy_pass http://slow/json; proxy_http_version 1.1; proxy_set_header Connection "";${extra} }
  }
}`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
  started.push({ child, signal: 'SIGTERM' });
  await waitForHttp(`http://127.0.0.1:${port}/json`);
  return {
    port,
    pid: child.pid,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGQUIT');
      }),
  };
}

function toMs(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

/**
 * Runs wrk against `url` (with `headers`); returns req/s, p50 and p99 in ms, and errors. With
 * `load`, its `connections` and Lua `script`: the paced runs' script makes each connection wait a
 * random think time between its requests (a Lua `delay()`), so the rate is about connections ÷
 * (think time + latency) whatever the target's capacity; the POST runs' sets method and body.
 */
function wrk(url, seconds = DURATION_S, headers = {}, load = undefined, cpu = {}) {
  const extra = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const connections = load?.connections ?? CONNECTIONS;
  const script = load ? ['-s', load.script] : [];
  const before = { proxy: cpuSeconds(cpu.proxy), upstream: cpuSeconds(cpu.upstream) };
  const run = spawnSync(
    'wrk',
    ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...script, ...extra, url],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr}`);
  const out = run.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const perRequest = (which) =>
    cpu[which] === undefined ? undefined : ((cpuSeconds(cpu[which]) - before[which]) / requests) * 1e6;
  return {
    rps,
    p50,
    p99,
    errors: Number(errors),
    ...(socketErrors ? { socketErrors } : {}),
    cpuProxyUs: perRequest('proxy'),
    cpuUpstreamUs: perRequest('upstream'),
  };
}

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/**
 * CPU seconds (user + system) used so far by process `pid` and all its descendants (nginx's
 * workers, the cluster's workers), from /proc; undefined without a pid or off Linux.
 */
function cpuSeconds(pid) {
  if (pid === undefined) return undefined;
  let ticks = 0;
  const visit = (p) => {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are 12th and 13th.
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      const children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      for (const child of children ? children.split(' ') : []) visit(child);
    } catch {
      // gone, or not Linux
    }
  };
  visit(pid);
  return ticks / TICKS_PER_SECOND;
}

/** Size of the POST runs' request body. */
const POST_BODY_BYTES = 1024;
/** Targets of the POST runs. */
const POST_TARGETS = [
  'direct',
  'nginx',
  'fastify + reply-from',
  'flotilla plain route',
  'flotilla plain route, node:http only',
];
/** One request in this many of the browser mix is a CORS preflight. */
const PREFLIGHT_EVERY = 10;
/** Targets of the browser mix runs (a CORS route: nginx and the others have none). */
const BROWSER_TARGETS = [
  'flotilla plain route',
  'flotilla plain route, node:http only',
  'flotilla plain route (baseline build)',
];
const UPSTREAM_LABELS = {
  json: 'trivial JSON',
  slow: '10 ms handler',
  post: `trivial JSON, POST ${POST_BODY_BYTES / 1024} KiB`,
  browser: `trivial JSON, CORS route, 1 preflight in ${PREFLIGHT_EVERY}`,
};

async function main() {
  if (spawnSync('sh', ['-c', 'command -v wrk']).status !== 0) {
    console.log('gateway bench skipped: wrk is not installed');
    return;
  }
  const json = startChild('upstream', ['0']);
  const slow = startChild('upstream', ['10']);
  const [jsonPort, slowPort] = await Promise.all([json.ready, slow.ready]);
  const flotilla = startChild('flotilla', [String(jsonPort), String(slowPort)]);
  const flotillaNode = startChild('flotilla-node', [String(jsonPort), String(slowPort)]);
  const full = startChild('flotilla-full', [String(jsonPort), String(slowPort)]);
  const service = startChild('flotilla-service', [String(jsonPort), String(slowPort)]);
  const serviceNode = startChild('flotilla-service-node', [String(jsonPort), String(slowPort)]);
  const baseline = BASELINE
    ? startChild('flotilla-baseline', [String(jsonPort), String(slowPort)])
    : undefined;
  const fastify = startChild('fastify', [String(jsonPort), String(slowPort)]);
  const sketch = startChild('front-sketch', [String(jsonPort), String(slowPort)]);
  const relay = startChild('node-relay', [String(jsonPort)]);
  const nginx = await startNginx(jsonPort, slowPort);
  const nginx2 = await startNginx(jsonPort, slowPort, 2);
  const nginxSame = await startNginx(jsonPort, slowPort, 1, true);
  const flotilla2 = await startFlotillaWorkers(jsonPort, slowPort, 2);
  const token = await full.token;
  // A server that could not start (nginx not installed) is listed as skipped.
  const target = (name, server, extra = {}) =>
    server.skipped
      ? { name, skipped: server.skipped }
      : { name, pid: server.pid, port: server.port ?? server.ready, ...extra };
  const targets = [
    { name: 'direct', json: `http://127.0.0.1:${jsonPort}/json`, slow: `http://127.0.0.1:${slowPort}/json` },
    target('nginx', nginx),
    target('nginx, same headers as Flotilla', nginxSame),
    target('fastify + reply-from', fastify),
    target('flotilla plain route', flotilla),
    target('flotilla plain route, node:http only', flotillaNode),
    target('sketch: raw socket front + gateway pool', sketch),
    target('floor: node:net relay, no HTTP', relay, { jsonOnly: true }),
    ...(baseline ? [target('flotilla plain route (baseline build)', baseline)] : []),
    target('flotilla with JWT + rate limit + metrics', full, {
      headers: { authorization: `Bearer ${token}` },
    }),
    target('flotilla service route (registry + discovery, retry)', service),
    target('flotilla service route (retry), node:http only', serviceNode),
    target('nginx, 2 workers', nginx2),
    target('flotilla plain route, --workers 2', flotilla2),
  ];
  for (const t of targets) {
    if (t.port) {
      const port = await t.port;
      t.json = `http://127.0.0.1:${port}/json`;
      t.slow = `http://127.0.0.1:${port}/slow`;
      t.cors = `http://127.0.0.1:${port}/cors`;
    }
  }
  const results = [];
  for (const t of targets) if (t.skipped) console.log(`${t.name}: skipped (${t.skipped})`);
  const running = targets.filter((t) => !t.skipped);
  /** Each target's rounds on the trivial upstream, by name. */
  const jsonRounds = new Map();
  const scripts = mkdtempSync(join(tmpdir(), 'flotilla-wrk-'));
  // POST with a 1 KiB JSON body (the front reads a body up to 64 KiB itself).
  const post = { connections: CONNECTIONS, script: join(scripts, 'post.lua') };
  writeFileSync(
    post.script,
    `wrk.method = "POST"\nwrk.body = '{"data":"' .. string.rep("x", ${POST_BODY_BYTES - 11}) .. '"}'\nwrk.headers["Content-Type"] = "application/json"\n`,
  );
  // A browser app on another origin: each connection's requests carry Origin, and one in
  // PREFLIGHT_EVERY is its preflight (OPTIONS with Access-Control-Request-Method), answered by
  // the gateway. A gateway that hands a connection to node:http at its first preflight serves
  // the rest of it there.
  const browser = { connections: CONNECTIONS, script: join(scripts, 'browser.lua') };
  writeFileSync(
    browser.script,
    `local n = 0
local preflight = { ["Origin"] = "${APP_ORIGIN}", ["Access-Control-Request-Method"] = "PUT", ["Access-Control-Request-Headers"] = "authorization" }
local call = { ["Origin"] = "${APP_ORIGIN}" }
request = function()
  n = n + 1
  if n % ${PREFLIGHT_EVERY} == 1 then return wrk.format("OPTIONS", nil, preflight) end
  return wrk.format("GET", nil, call)
end
`,
  );
  for (const upstream of ['json', 'slow', 'post', 'browser']) {
    // The trivial upstream is CPU-bound, so anything else on the machine moves it: every target
    // runs ROUNDS times, the rounds interleaved (A B C, A B C, …), and the median round counts.
    const rounds = upstream === 'slow' ? 1 : ROUNDS;
    // The relay does not route: it has no 10 ms row.
    const those =
      upstream === 'json'
        ? running
        : upstream === 'slow'
          ? running.filter((t) => !t.jsonOnly)
          : running.filter((t) => (upstream === 'post' ? POST_TARGETS : BROWSER_TARGETS).includes(t.name));
    const url = (t) => (upstream === 'slow' ? t.slow : upstream === 'browser' ? t.cors : t.json);
    const load = upstream === 'post' ? post : upstream === 'browser' ? browser : undefined;
    const runs = new Map(those.map((t) => [t, []]));
    for (let round = 0; round < rounds; round++) {
      for (const t of those) {
        if (round === 0) wrk(url(t), 1, t.headers, load); // warm-up: JIT, connection pools, JWKS fetch
        runs.get(t).push(
          wrk(url(t), DURATION_S, t.headers, load, {
            proxy: t.pid,
            upstream: (upstream === 'slow' ? slow : json).pid,
          }),
        );
      }
    }
    for (const t of those) {
      const all = runs.get(t);
      if (upstream === 'json') jsonRounds.set(t.name, all);
      results.push({
        upstream: UPSTREAM_LABELS[upstream],
        target: t.name,
        ...middleBy(all, (r) => r.rps),
        ...(all.length > 1 ? { roundsRps: all.map((r) => r.rps) } : {}),
      });
    }
  }
  rmSync(scripts, { recursive: true, force: true });
  // Ratios are taken round by round (two targets of one round ran within a minute of each other,
  // on the same machine state) and the median of those is reported.
  const ratio = (row, name) => {
    const base = results.find((r) => r.upstream === row.upstream && r.target === name);
    if (base === undefined) return undefined;
    if (row.roundsRps === undefined || base.roundsRps === undefined) return row.rps / base.rps;
    return median(row.roundsRps.map((rps, i) => rps / base.roundsRps[i]));
  };
  for (const row of results) {
    if (row.rps === undefined) continue;
    row['× direct'] = ratio(row, 'direct');
    row['× nginx'] = ratio(row, 'nginx');
    row['× plain'] = ratio(row, 'flotilla plain route');
  }
  printTable(
    results.map((r) => ({
      upstream: r.upstream,
      target: r.target,
      'req/s': r.rps,
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      '× nginx': r['× nginx'],
      '× direct': r['× direct'],
      '× plain': r['× plain'],
      'proxy CPU µs/req': r.cpuProxyUs,
      'upstream CPU µs/req': r.cpuUpstreamUs,
      errors: r.errors ?? r.note,
    })),
  );
  // Added latency at half of capacity: every target at the same paced rate, half of what the
  // plain route sustained, on the trivial upstream. wrk2 (a fixed-rate wrk) is not packaged
  // here, so the rate comes from think time: connections = rate × (think + a little latency).
  // Capacity is the plain route's best clean round (no errors: wrk counts fast error answers in
  // its rate): noise only lowers a round, and a disturbed median round would make the paced load
  // lighter than half of what the route can do.
  const plainRps = jsonRounds
    .get('flotilla plain route')
    ?.filter((r) => r.errors === 0 && !r.socketErrors && Number.isFinite(r.rps))
    .reduce((best, r) => Math.max(best, r.rps), 0);
  if (!plainRps) console.log('\nThe paced run is skipped: the plain route had no clean round.');
  const paced = [];
  if (plainRps) {
    const thinkMs = 5;
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-paced-'));
    const script = join(dir, 'paced.lua');
    // Uniform 0–2×think (mean = think): fixed delays line connections up into bursts.
    writeFileSync(script, `function delay() return math.random(0, ${2 * thinkMs}) end\n`);
    const rate = plainRps / 2;
    const connections = Math.max(1, Math.round((rate * (thinkMs + 0.3)) / 1000));
    const pacedTargets = running.filter((x) => !x.name.includes('workers') && !x.name.includes('fastify'));
    const runs = new Map(pacedTargets.map((t) => [t, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of pacedTargets) {
        if (round === 0) wrk(t.json, 1, t.headers, { connections, script });
        runs.get(t).push(wrk(t.json, DURATION_S, t.headers, { connections, script }));
      }
    }
    // The median round by p99, as above.
    for (const t of pacedTargets) {
      const all = runs.get(t);
      paced.push({
        target: t.name,
        askedRps: Math.round(rate),
        ...middleBy(all, (r) => r.p99),
        ...(all.length > 1 ? { roundsP99: all.map((r) => r.p99) } : {}),
      });
    }
    rmSync(dir, { recursive: true, force: true });
    const direct = paced.find((r) => r.target === 'direct');
    // Round by round, as the ratios: a target's p99 minus direct's of the same round, median.
    for (const row of paced) {
      if (direct === undefined) continue;
      row['added p99 ms'] = row.roundsP99
        ? median(row.roundsP99.map((p99, i) => p99 - direct.roundsP99[i]))
        : row.p99 - direct.p99;
    }
    console.log(
      `\nAt half of the plain route's capacity (${Math.round(rate)} req/s asked, ${connections} connections, ${thinkMs} ms mean think time):`,
    );
    printTable(
      paced.map((r) => ({
        target: r.target,
        'req/s': r.rps,
        'p50 ms': r.p50,
        'p99 ms': r.p99,
        'added p99 ms': r['added p99 ms'],
        errors: r.errors,
      })),
    );
  }
  console.log(
    `\nwrote ${saveResults('gateway', { durationSeconds: DURATION_S, connections: CONNECTIONS, rounds: ROUNDS, loadAverage: (await import('node:os')).loadavg(), results, halfCapacity: paced })}`,
  );
  await Promise.all([
    json.stop(),
    slow.stop(),
    flotilla.stop(),
    flotillaNode.stop(),
    full.stop(),
    service.stop(),
    serviceNode.stop(),
    relay.stop(),
    baseline?.stop(),
    fastify.stop(),
    sketch.stop(),
    nginx.stop?.(),
    nginx2.stop?.(),
    nginxSame.stop?.(),
    flotilla2.stop(),
  ]);
}

if (process.argv[2] === '--serve') await serve(process.argv[3], process.argv.slice(4));
else await main();
