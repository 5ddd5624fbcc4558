import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { connect } from 'node:net';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort } from '../emulators/process';
import { startFirestoreEmulator, startPubSubEmulator, type RunningEmulator } from '../emulators/gcloud';
import { ROOT } from '../local-stack/functions';
import { gcloudVersion } from '../local-stack/prerequisites';
import { adoptChildGroups, groupCpuMs, killAllSync, peakRssBytes, spawnGroup, trackGroup, untrackGroup, type GroupProcess } from '../local-stack/processes';

/**
 * What the benchmarks under tools/bench share: formatting and statistics, the cleanup stack and the
 * signal handling (everything started is stopped by process group, on success, error or Ctrl-C),
 * spawning a function with tools/serve-function.js and reading its JSON log lines, the emulators,
 * and facts about the machine at the time of a run. All traffic goes to 127.0.0.1.
 */

export type Calls = Record<string, number>;
export interface LogLine {
  message: string;
  severity?: string;
  status?: number;
  code?: string;
  latencyMs?: number;
  calls?: Calls;
  [k: string]: unknown;
}

export const say = (s = '') => process.stdout.write(`${s}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
export const mb = (bytes: number | undefined) => (bytes === undefined ? NaN : round(bytes / 2 ** 20, 1));

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
export const median = (v: number[]) => percentile(v, 50);

/** Sum of the `calls` of log lines, and the same divided by n (rounded to 3 decimals). */
export function sumCalls(lines: readonly LogLine[]): Calls {
  const sum: Calls = {};
  for (const l of lines) for (const [k, v] of Object.entries(l.calls ?? {})) sum[k] = (sum[k] ?? 0) + v;
  return sum;
}
export const perItem = (calls: Calls, n: number): Calls =>
  Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, round(v / Math.max(1, n), 3)]));

export function fmtCalls(c: Calls): string {
  return Object.entries(c)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** A plain text table: first row is the header. */
export function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Everything started here, stopped in reverse order on success, error or signal. */
const cleanups: (() => Promise<unknown>)[] = [];
export function onCleanup(fn: () => Promise<unknown>): void {
  cleanups.push(fn);
}
export async function cleanup(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
}

/**
 * Runs a benchmark's main: SIGINT/SIGTERM stop everything it started (a second signal exits at once),
 * an abrupt exit still SIGKILLs every process group it started, and the exit code is main's.
 */
export function runBench(name: string, main: () => Promise<number>): void {
  // The benchmark's own Google clients (Firestore, Pub/Sub) must not probe a GCE metadata server.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  process.on('exit', killAllSync);
  let signalled = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (signalled) process.exit(1);
      signalled = true;
      say(`\n${sig}: stopping everything…`);
      void cleanup().then(() => {
        say('stopped everything it started.');
        process.exit(130);
      });
    });
  }
  main()
    .catch((e: unknown) => {
      process.stderr.write(`${name} failed: ${(e as Error)?.stack ?? e}\n`);
      return 1;
    })
    .then(async (code) => {
      await cleanup();
      process.exit(code);
    });
}

/** Whether 127.0.0.1:port accepts a TCP connection. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

export interface Instance {
  proc: GroupProcess;
  url: string;
  port: number;
  /** ms from spawn to the first served request (401 to an unauthenticated POST). */
  readyMs: number;
  /** ms from spawn to the "serving" line (listen callback). */
  listeningMs: number;
  /** CPU time (user + system) of the process at that moment. */
  cpuMs: number | undefined;
  /** VmHWM right after the first served request. */
  peakRss: number | undefined;
  /** The function's own log lines (message = logMessage), the probe's removed. */
  lines: LogLine[];
}

export interface SpawnOptions {
  /** Function name registered with the functions framework. */
  target: string;
  env: NodeJS.ProcessEnv;
  /** Module that registers it (serve-function.js --source); default dist/index.js. */
  source?: string;
  /** `message` of the function's per-request log line; default the target. */
  logMessage?: string;
}

/**
 * Spawns tools/serve-function.js in its own process group and polls an unauthenticated POST until
 * it answers 401: spawn → first served request is the cold start. The function's per-request log
 * lines are collected in `lines`.
 */
export async function spawnInstance(o: SpawnOptions): Promise<Instance> {
  const { target, env } = o;
  const logMessage = o.logMessage ?? target;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const lines: LogLine[] = [];
  let listeningMs = NaN;
  const started = performance.now();
  const args = ['tools/serve-function.js', `--target=${target}`, `--port=${port}`];
  if (o.source) args.push(`--source=${o.source}`);
  const proc = spawnGroup(target, process.execPath, args, {
    cwd: ROOT,
    env,
    onLine(line) {
      // request lines of refusals and failures are WARNING/ERROR, written to stderr
      if (!line.startsWith('{')) return;
      try {
        const j = JSON.parse(line) as LogLine;
        if (j.message === 'serving' && Number.isNaN(listeningMs)) listeningMs = performance.now() - started;
        if (j.message === logMessage) lines.push(j);
      } catch {
        /* not a log line */
      }
    },
  });
  const deadline = started + 30_000;
  while (performance.now() < deadline) {
    if (!proc.running()) throw new Error(`${target} exited while starting:\n${proc.output()}`);
    // A refused fetch costs ~2 ms of CPU here; polling with it every 5 ms slowed the very start being
    // measured (2 cores). Until the port accepts, a bare TCP connect every 10 ms is the probe.
    if (!(await accepts(port))) {
      await sleep(10);
      continue;
    }
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      await res.arrayBuffer();
      if (res.status !== 401) throw new Error(`expected 401 from an unauthenticated POST, got ${res.status}`);
      const readyMs = performance.now() - started;
      const peakRss = peakRssBytes(proc.pid);
      const cpuMs = groupCpuMs(proc.pid);
      // The probe's own log line is not part of any phase.
      await waitFor(() => lines.length >= 1, 2000);
      lines.length = 0;
      return { proc, url, port, readyMs, listeningMs, cpuMs, peakRss, lines };
    } catch (e) {
      if ((e as Error).message.startsWith('expected 401')) throw e;
      await sleep(5);
    }
  }
  await proc.stop();
  throw new Error(`${target} did not serve within 30 s:\n${proc.output()}`);
}

/** ms for 100k chained SHA-256 of 1 KiB (median of 3): the machine's speed at the time of the run. */
export function calibrate(): number {
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    let b = Buffer.alloc(1024);
    for (let i = 0; i < 100_000; i++) b = Buffer.concat([createHash('sha256').update(b).digest(), b.subarray(32)]);
    times.push(performance.now() - t);
  }
  return round(median(times), 0);
}

/** Busy and total jiffies of the whole machine (/proc/stat), to tell a loaded machine from a slow start. */
export function machineCpu(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}
export const machineBusyPct = (a: { busy: number; total: number }, b: { busy: number; total: number }) =>
  Math.round((100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total));

export function machineInfo() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    gcloud: gcloudVersion(),
    loadavgAtStart: loadavg().map((x) => round(x, 2)),
    /** A fixed CPU task (SHA-256 chain, median of 3): this VM's speed varies; compare runs with it. */
    calibrationMs: calibrate(),
  };
}
export const loadNow = () => loadavg().map((x) => round(x, 2));

/** The commit measured, and product files (functions/, shared/) that differed from it at the time. */
export function codeState(): { commit: string; uncommittedProductFiles: string[] } {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  return {
    commit: git('rev-parse', '--short', 'HEAD') || 'unknown',
    uncommittedProductFiles: git('status', '--porcelain', '--', 'functions', 'shared')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3)),
  };
}

/** pids (other than ours and our children) whose command line mentions vitest. Linux (/proc) only. */
export function vitestPids(): number[] {
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (/vitest/.test(cmd)) found.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/**
 * Measurements on a 2-core machine mean nothing while a test run shares it: waits (bounded) until no
 * vitest process runs, and says so. Returns the seconds waited; throws after maxWaitMs.
 */
export async function waitUntilNoTestRun(maxWaitMs = 15 * 60_000): Promise<number> {
  const t0 = Date.now();
  let told = false;
  while (vitestPids().length > 0) {
    if (!told) {
      say(`a vitest run is going (pids ${vitestPids().join(', ')}): waiting for it to end before measuring…`);
      told = true;
    }
    if (Date.now() - t0 > maxWaitMs) throw new Error(`a vitest run still going after ${maxWaitMs / 60_000} min; measure later`);
    await sleep(2000);
  }
  if (told) {
    say('the test run ended; letting the machine settle for 5 s');
    await sleep(5000);
  }
  return round((Date.now() - t0) / 1000, 0);
}

/**
 * Before measuring: no test run, and the machine mostly idle (busy < maxBusyPct over 3 s), waiting at
 * most maxWaitMs for it; says what it found. Returns the seconds waited and the busy share at the end.
 */
export async function waitForQuietMachine(maxBusyPct = 25, maxWaitMs = 5 * 60_000): Promise<{ waitedS: number; busyPct: number }> {
  const t0 = Date.now();
  await waitUntilNoTestRun();
  let busy = 100;
  let told = false;
  while (Date.now() - t0 < maxWaitMs) {
    const a = machineCpu();
    await sleep(3000);
    busy = machineBusyPct(a, machineCpu());
    if (busy < maxBusyPct && vitestPids().length === 0) break;
    if (!told) {
      say(`the machine is ${busy} % busy (someone else's work): waiting up to ${maxWaitMs / 60_000} min for it to calm down…`);
      told = true;
    }
  }
  if (told) say(`measuring with the machine ${busy} % busy before start`);
  return { waitedS: round((Date.now() - t0) / 1000, 0), busyPct: busy };
}

/**
 * Notes every second at which a vitest run shares the machine during a measurement, so that a result
 * taken while someone else's tests ran says so.
 */
export function watchForTestRuns(): { seenAt: () => string[]; stop: () => void } {
  const seen: string[] = [];
  const timer = setInterval(() => {
    if (vitestPids().length > 0) seen.push(new Date().toISOString());
  }, 1000);
  timer.unref();
  onCleanup(async () => clearInterval(timer));
  return { seenAt: () => [...seen], stop: () => clearInterval(timer) };
}

/** The Firestore emulator (gcloud), stopped by process group at cleanup, and killed on abrupt exit. */
export async function startFirestore(): Promise<RunningEmulator> {
  const starting = startFirestoreEmulator(await freePort());
  adoptChildGroups('Firestore emulator (starting)'); // spawned synchronously: killed on exit even if it never answers
  const firestore = await starting;
  trackGroup('Firestore emulator', firestore.process.pid);
  onCleanup(async () => {
    await firestore.stop();
    untrackGroup(firestore.process.pid);
  });
  return firestore;
}

/** The Pub/Sub emulator (gcloud), same lifecycle as startFirestore. */
export async function startPubSub(projectId: string): Promise<RunningEmulator> {
  const starting = startPubSubEmulator(projectId, await freePort());
  adoptChildGroups('Pub/Sub emulator (starting)');
  const pubsub = await starting;
  trackGroup('Pub/Sub emulator', pubsub.process.pid);
  onCleanup(async () => {
    await pubsub.stop();
    untrackGroup(pubsub.process.pid);
  });
  return pubsub;
}

/** A temporary folder (removed at cleanup) holding the service-account key and the catalog. */
export function writeBenchFiles(serviceAccountKey: unknown, catalog: unknown): { dir: string; keyFile: string; catalog: string } {
  const dir = mkdtempSync(join(tmpdir(), 'iap-bench-'));
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'service-account.json');
  writeFileSync(keyFile, JSON.stringify(serviceAccountKey), { mode: 0o600 });
  const catalogFile = join(dir, 'catalog.json');
  writeFileSync(catalogFile, JSON.stringify(catalog));
  return { dir, keyFile, catalog: catalogFile };
}

export const RESULTS_DIR = join(ROOT, 'tools/bench/results');

/** Writes tools/bench/results/<name> and says so. */
export function writeResult(file: string, result: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, file);
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  say(`\nwrote ${relative(ROOT, out)}`);
  return out;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same mix of requests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Parses a positive integer option; throws a clear message otherwise. */
export function positiveInt(name: string, value: string | undefined, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0 || n > max) throw new Error(`--${name} must be an integer in 1..${max}, got ${value}`);
  return n;
}

export { groupCpuMs, peakRssBytes };

export interface TimedLine extends LogLine {
  /** performance.now() in this process when the line arrived. */
  at: number;
}

export interface EventInstance {
  proc: GroupProcess;
  url: string;
  target: string;
  /** The function's per-event log lines (message = logMessage), with their arrival time. */
  lines: TimedLine[];
  /** "<target> will be retried" lines (the event threw: Pub/Sub redelivers). */
  retries: TimedLine[];
  /** Called with every per-event line as it arrives. */
  onLine?: (l: TimedLine) => void;
}

/**
 * Serves a CloudEvent (or any) function with tools/serve-function.js in its own process group;
 * resolves once it listens. Log lines are read from stdout and stderr (warnings go to stderr).
 */
export async function serveEventFunction(o: SpawnOptions & { timeoutMs?: number }): Promise<EventInstance> {
  const logMessage = o.logMessage ?? o.target;
  const port = await freePort();
  let markReady: () => void = () => undefined;
  const listening = new Promise<void>((r) => (markReady = r));
  const args = ['tools/serve-function.js', `--target=${o.target}`, `--port=${port}`];
  if (o.source) args.push(`--source=${o.source}`);
  const inst: EventInstance = { proc: undefined as unknown as GroupProcess, url: `http://127.0.0.1:${port}/`, target: o.target, lines: [], retries: [] };
  inst.proc = spawnGroup(o.target, process.execPath, args, {
    cwd: ROOT,
    env: o.env,
    onLine(line) {
      if (!line.startsWith('{')) return;
      try {
        const j = JSON.parse(line) as TimedLine;
        j.at = performance.now();
        if (j.message === 'serving') markReady();
        else if (j.message === logMessage) {
          inst.lines.push(j);
          inst.onLine?.(j);
        } else if (j.message === `${logMessage} will be retried`) inst.retries.push(j);
      } catch {
        /* not a log line */
      }
    },
  });
  onCleanup(() => inst.proc.stop());
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    listening.then(() => 'ok' as const),
    inst.proc.exited.then(() => 'exited' as const),
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), o.timeoutMs ?? 30_000))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ok') {
    await inst.proc.stop();
    throw new Error(`${o.target} ${outcome === 'timeout' ? 'did not listen in time' : 'exited while starting'}:\n${inst.proc.output().trim()}`);
  }
  return inst;
}

/** CPU ms of several process groups (and of this process), to diff around a phase. */
export function cpuSnapshot(groups: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pgid] of Object.entries(groups)) out[name] = groupCpuMs(pgid) ?? NaN;
  const self = process.cpuUsage();
  out.benchProcess = (self.user + self.system) / 1000;
  out[MACHINE_BUSY] = processCpuJiffies() * 10; // jiffies of 10 ms (USER_HZ 100)
  out[WALL] = performance.now();
  return out;
}
const MACHINE_BUSY = '_machineBusyMs';
/** user + nice + system jiffies of the whole machine: time spent in processes (not irq, softirq or steal). */
function processCpuJiffies(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0);
  } catch {
    return NaN;
  }
}
const WALL = '_wallMs';
export function cpuPerItem(before: Record<string, number>, after: Record<string, number>, n: number): Record<string, number> {
  return Object.fromEntries(
    Object.keys(before)
      .filter((k) => !k.startsWith('_'))
      .map((k) => [k, round(((after[k] ?? NaN) - before[k]!) / Math.max(1, n), 2)]),
  );
}
/**
 * Share of the machine's CPU capacity (all cores) used by processes other than the ones in the
 * snapshots (someone else's work) between two cpuSnapshots, in %.
 */
export function otherCpuPct(before: Record<string, number>, after: Record<string, number>): number {
  const ours = Object.keys(before)
    .filter((k) => !k.startsWith('_'))
    .reduce((s, k) => s + ((after[k] ?? 0) - before[k]!), 0);
  const busy = (after[MACHINE_BUSY] ?? 0) - before[MACHINE_BUSY]!;
  const wall = (after[WALL] ?? 0) - before[WALL]!;
  return Math.max(0, round((100 * (busy - ours)) / Math.max(1, wall * cpus().length), 0));
}
/** A phase is disturbed when a test run was seen or other processes took more than this share of the CPU. */
export const OTHER_CPU_LIMIT_PCT = 15;

export interface TimedStart {
  proc: GroupProcess;
  port: number;
  url: string;
  /** ms from spawn to the end of the first answer's body. */
  ms: number;
  /** ms from spawn until the port accepted a TCP connection. */
  acceptedMs: number;
  status: number;
  body: unknown;
  /** VmHWM right after the first answer. */
  peakRss: number | undefined;
  /** CPU time (user + system) of the process group right after the first answer. */
  cpuMs: number | undefined;
  /** JSON log lines of the process (stdout and stderr), as they arrived. */
  lines: LogLine[];
}

/**
 * Spawns `node <args(port)>` in its own process group with `env`, waits (bare TCP connects every
 * 10 ms, which cost the measured process almost nothing) until the port accepts, then sends
 * `request` once: spawn → that answer is the measurement. Throws if the process exits first or
 * nothing answers within timeoutMs. The caller stops `proc`.
 */
export async function spawnUntilAnswered(o: {
  name: string;
  args: (port: number) => string[];
  env: NodeJS.ProcessEnv;
  request: (url: string) => Promise<{ status: number; body: unknown }>;
  timeoutMs?: number;
}): Promise<TimedStart> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const lines: LogLine[] = [];
  const started = performance.now();
  const proc = spawnGroup(o.name, process.execPath, o.args(port), {
    cwd: ROOT,
    env: o.env,
    onLine(line) {
      if (!line.startsWith('{')) return;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        /* not a log line */
      }
    },
  });
  const deadline = started + (o.timeoutMs ?? 30_000);
  let acceptedMs = NaN;
  while (performance.now() < deadline) {
    if (!proc.running()) throw new Error(`${o.name} exited while starting:\n${proc.output()}`);
    if (!(await accepts(port))) {
      await sleep(10);
      continue;
    }
    if (Number.isNaN(acceptedMs)) acceptedMs = performance.now() - started;
    let answer: { status: number; body: unknown };
    try {
      answer = await o.request(url);
    } catch (e) {
      if (!proc.running()) continue;
      if (/ECONNREFUSED|ECONNRESET|fetch failed/.test(String((e as Error)?.message) + String((e as { cause?: Error })?.cause?.message))) {
        await sleep(5);
        continue;
      }
      throw e;
    }
    const ms = performance.now() - started;
    return { proc, port, url, ms, acceptedMs, status: answer.status, body: answer.body, peakRss: peakRssBytes(proc.pid), cpuMs: groupCpuMs(proc.pid), lines };
  }
  await proc.stop();
  throw new Error(`${o.name} did not answer within ${(o.timeoutMs ?? 30_000) / 1000} s:\n${proc.output()}`);
}
