import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { emulatorIdToken } from '../../test/helpers/id-tokens';
import { type RunningEmulator } from '../emulators/gcloud';
import { startPlaySimulator, type PlaySimulator, type SimStats } from '../play-simulator';
import { FUNCTIONS, PLAY_PACKAGE, functionEnv } from '../local-stack/functions';
import { groupCpuMs, peakRssBytes } from '../local-stack/processes';
import {
  fmtCalls,
  machineBusyPct,
  machineCpu,
  machineInfo,
  loadNow,
  mb,
  median,
  onCleanup,
  percentile,
  round,
  runBench,
  say,
  sleep,
  spawnInstance as spawnFunction,
  startFirestore,
  waitFor,
  writeBenchFiles,
  writeResult,
  type Calls,
  type Instance,
  type LogLine,
} from './lib';

/**
 * `npm run bench:verify`: cold start, warm throughput and outbound calls per verification of
 * verifyPurchase, served by tools/serve-function.js against the Firestore emulator and the Play
 * simulator (in this process). Everything on 127.0.0.1. Prints a table and writes
 * tools/bench/results/verify.json; exits 1 when a call-count expectation fails.
 */

const USAGE = `Usage: npm run bench:verify [-- --purchases 400 --concurrency 8 --cold-starts 5 --uids 40 --only cold|warm]`;

const TARGET = 'verifyPurchase';
const PRODUCT = 'remove_ads';
const RESULTS = 'verify.json';
const CATALOG = {
  products: {
    premium_monthly: { type: 'subscription', entitlements: ['premium'] },
    remove_ads: { type: 'non_consumable', entitlements: ['no_ads'] },
    coins_100: { type: 'consumable', credits: { coins: 100 } },
  },
};

/** verifyPurchase, from dist/index.js. */
const spawnInstance = (env: NodeJS.ProcessEnv): Promise<Instance> => spawnFunction({ target: TARGET, env });

interface Job {
  uid: string;
  token: string;
}

interface PhaseResult {
  name: string;
  verifications: number;
  concurrency: number;
  ok: number;
  failures: Record<string, number>;
  elapsedS: number;
  perSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  serverLatencyMs: { p50: number; p99: number };
  simulator: { tokenExchanges: number; playCalls: Calls; playCallsPerVerification: Calls };
  functionLogs: { lines: number; callsPerVerification: Calls; maxPerVerification: Calls };
  /** CPU ms per verification: the function's process, the Firestore emulator (JVM), this process (simulator + load). */
  cpuMsPerVerification: { function: number; firestoreEmulator: number; benchAndSimulator: number };
}

/** Process groups whose CPU time a phase reports. */
const cpuGroups: { function?: number; firestore?: number } = {};

async function runPhase(
  name: string,
  inst: Instance,
  sim: PlaySimulator,
  jobs: Job[],
  concurrency: number,
  projectId: string,
): Promise<PhaseResult> {
  await sim.idle();
  sim.resetStats();
  inst.lines.length = 0;
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let ok = 0;
  let next = 0;
  const cpu0 = { f: groupCpuMs(inst.proc.pid) ?? NaN, e: groupCpuMs(cpuGroups.firestore ?? -1) ?? NaN, b: process.cpuUsage() };
  const t0 = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const idToken = emulatorIdToken({ projectId, uid: job.uid });
      const s = performance.now();
      let key: string;
      try {
        const res = await fetch(inst.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${idToken}` },
          body: JSON.stringify({ packageName: PLAY_PACKAGE, productId: PRODUCT, purchaseToken: job.token }),
        });
        const body = (await res.json()) as { entitlements?: Record<string, { active?: boolean }>; error?: { code?: string } };
        latencies.push(performance.now() - s);
        key = res.status === 200 && body.entitlements?.no_ads?.active === true ? 'ok' : `${res.status} ${body.error?.code ?? 'inactive'}`;
      } catch (e) {
        latencies.push(performance.now() - s);
        key = `network ${(e as Error).message}`;
      }
      if (key === 'ok') ok += 1;
      else failures[key] = (failures[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = (performance.now() - t0) / 1000;
  const bench = process.cpuUsage(cpu0.b);
  const cpu = {
    function: round(((groupCpuMs(inst.proc.pid) ?? NaN) - cpu0.f) / jobs.length, 2),
    firestoreEmulator: round(((groupCpuMs(cpuGroups.firestore ?? -1) ?? NaN) - cpu0.e) / jobs.length, 2),
    benchAndSimulator: round((bench.user + bench.system) / 1000 / jobs.length, 2),
  };
  await waitFor(() => inst.lines.length >= jobs.length, 10_000);
  await sim.idle();
  const stats: SimStats = sim.stats();

  const n = jobs.length;
  const per = (calls: Calls): Calls => Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, round(v / n, 3)]));
  const sum: Calls = {};
  const max: Calls = {};
  for (const l of inst.lines) {
    for (const [k, v] of Object.entries(l.calls ?? {})) {
      sum[k] = (sum[k] ?? 0) + v;
      max[k] = Math.max(max[k] ?? 0, v);
    }
  }
  const server = inst.lines.map((l) => l.latencyMs ?? NaN).filter(Number.isFinite);
  return {
    name,
    verifications: n,
    concurrency,
    ok,
    failures,
    elapsedS: round(elapsedS, 2),
    perSecond: round(ok / elapsedS, 1),
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p90: round(percentile(latencies, 90)),
      p99: round(percentile(latencies, 99)),
      max: round(Math.max(...latencies)),
    },
    serverLatencyMs: { p50: round(percentile(server, 50)), p99: round(percentile(server, 99)) },
    simulator: { tokenExchanges: stats.tokenExchanges, playCalls: stats.calls, playCallsPerVerification: per(stats.calls) },
    functionLogs: { lines: inst.lines.length, callsPerVerification: per(sum), maxPerVerification: max },
    cpuMsPerVerification: cpu,
  };
}

interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

function checkPhase(p: PhaseResult, firstGrant: boolean, lines: LogLine[]): Check[] {
  const n = p.verifications;
  const get = 'purchases.products.get';
  const ack = 'purchases.products.acknowledge';
  const checks: Check[] = [
    { what: `${p.name}: every verification 200 with no_ads active`, ok: p.ok === n, detail: `${p.ok}/${n}${Object.keys(p.failures).length ? ` ${JSON.stringify(p.failures)}` : ''}` },
    { what: `${p.name}: one log line per verification`, ok: p.functionLogs.lines === n, detail: `${p.functionLogs.lines}/${n}` },
    { what: `${p.name}: 0 token exchanges (simulator)`, ok: p.simulator.tokenExchanges === 0, detail: String(p.simulator.tokenExchanges) },
    {
      what: `${p.name}: 0 token exchanges (function's calls)`,
      ok: lines.every((l) => !l.calls?.['oauth:token']),
      detail: String(lines.reduce((s, l) => s + (l.calls?.['oauth:token'] ?? 0), 0)),
    },
    {
      what: `${p.name}: exactly 1 Play read per verification`,
      ok: (p.simulator.playCalls[get] ?? 0) === n && lines.every((l) => l.calls?.[`play:${get}`] === 1),
      detail: `simulator ${p.simulator.playCalls[get] ?? 0}/${n}, log lines with ≠1: ${lines.filter((l) => l.calls?.[`play:${get}`] !== 1).length}`,
    },
    {
      what: `${p.name}: ${firstGrant ? 'exactly 1 acknowledge' : 'no acknowledge'} per verification`,
      ok:
        (p.simulator.playCalls[ack] ?? 0) === (firstGrant ? n : 0) &&
        lines.every((l) => (l.calls?.[`play:${ack}`] ?? 0) === (firstGrant ? 1 : 0)),
      detail: `simulator ${p.simulator.playCalls[ack] ?? 0}`,
    },
    {
      what: `${p.name}: no other Play calls`,
      ok: Object.keys(p.simulator.playCalls).every((k) => k === get || k === ack),
      detail: JSON.stringify(p.simulator.playCalls),
    },
  ];
  return checks;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      purchases: { type: 'string', default: '400' },
      concurrency: { type: 'string', default: '8' },
      'cold-starts': { type: 'string', default: '5' },
      uids: { type: 'string', default: '40' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const N = Number(values.purchases);
  const C = Number(values.concurrency);
  const COLD = Number(values['cold-starts']);
  const UIDS = Number(values.uids);
  if (![N, C, COLD, UIDS].every((x) => Number.isInteger(x) && x > 0) || C > 32) throw new Error(`bad arguments. ${USAGE}`);
  if (!FUNCTIONS.some((f) => f.target === TARGET)) throw new Error(`${TARGET} is not in the local stack's function list`);
  if (values.only !== undefined && values.only !== 'cold' && values.only !== 'warm') throw new Error(`--only: cold or warm. ${USAGE}`);
  const runCold = values.only !== 'warm';
  const runWarm = values.only !== 'cold';

  const machine = machineInfo();
  say(
    `verifyPurchase benchmark: ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, ` +
      `load ${machine.loadavgAtStart.join(' ')}, calibration ${machine.calibrationMs} ms`,
  );

  const projectId = `bench-${Date.now().toString(36)}`;
  const firestore: RunningEmulator = await startFirestore();
  cpuGroups.firestore = firestore.process.pid;
  const sim = await startPlaySimulator();
  onCleanup(() => sim.close());
  const { keyFile, catalog } = writeBenchFiles(sim.serviceAccountKey, CATALOG);
  const env = functionEnv({
    projectId,
    firestoreHost: firestore.host,
    playApiRootUrl: sim.url,
    oauthTokenUrl: sim.tokenUrl,
    keyFile,
    catalog,
    logLevel: 'INFO',
  });
  say(`Firestore emulator ${firestore.host}, Play simulator ${sim.url}, project ${projectId}`);

  const checks: Check[] = [];
  await sleep(2000); // let the emulator's JVM settle after start-up
  const cold = runCold ? await coldStarts(env, COLD) : undefined;
  if (cold) {
    checks.push(
      { what: 'cold start median < 1 s', ok: cold.readyMs.median < 1000, detail: `${cold.readyMs.median} ms (max ${cold.readyMs.max})` },
      { what: 'cold start peak RSS < 120 MB', ok: cold.peakRssMb.max < 120, detail: `max ${cold.peakRssMb.max} MB` },
    );
  }
  const warm = runWarm ? await warmThroughput(env, sim, projectId, N, C, UIDS) : undefined;
  if (warm) checks.push(...warm.checks);

  if (cold) {
    say(
      `\ncold start: median ${cold.readyMs.median} ms, max ${cold.readyMs.max} ms; peak RSS median ${cold.peakRssMb.median} MB, ` +
        `max ${cold.peakRssMb.max} MB (targets < 1000 ms, < 120 MB); CPU to first response median ${cold.cpuMs.median} ms`,
    );
  }
  say('\nchecks:');
  for (const c of checks) say(`  ${c.ok ? '✓' : '✗'} ${c.what}: ${c.detail}`);

  const result = {
    benchmark: 'verifyPurchase',
    measuredAt: new Date().toISOString(),
    machine: { ...machine, loadavgAtEnd: loadNow() },
    setup: {
      purchases: N,
      concurrency: C,
      users: UIDS,
      product: `${PRODUCT} (non_consumable)`,
      server: 'node tools/serve-function.js --target=verifyPurchase (dist/index.js, functions framework, 127.0.0.1), one instance',
      backends: 'Firestore emulator (gcloud), Play simulator (in the benchmark process)',
      idTokens: 'Auth-emulator format (FIREBASE_AUTH_EMULATOR_HOST set)',
    },
    ...(cold ? { coldStart: cold } : {}),
    ...(warm ? { firstRequest: warm.firstRequest, warm: warm.summary } : {}),
    checks,
    passed: checks.every((c) => c.ok),
  };
  // A partial run (--only) does not overwrite the full results.
  writeResult(values.only ? RESULTS.replace(/\.json$/, `-${values.only}.json`) : RESULTS, result);
  return result.passed ? 0 : 1;
}

/** Spawn → first served request, COLD times, one instance at a time. */
async function coldStarts(env: NodeJS.ProcessEnv, count: number) {
  say(`\nCold start ×${count} (spawn → first served request, an unauthenticated POST answered 401):`);
  const runs: { readyMs: number; listeningMs: number; cpuMs: number; machineBusyPct: number; pollerCpuMs: number; peakRssMb: number }[] = [];
  for (let i = 0; i < count; i++) {
    const before = machineCpu();
    const self0 = process.cpuUsage();
    const inst = await spawnInstance(env);
    const busy = machineBusyPct(before, machineCpu());
    const self = process.cpuUsage(self0);
    const pollerCpuMs = Math.round((self.user + self.system) / 1000);
    runs.push({
      readyMs: round(inst.readyMs),
      listeningMs: round(inst.listeningMs),
      cpuMs: inst.cpuMs ?? NaN,
      machineBusyPct: busy,
      pollerCpuMs,
      peakRssMb: mb(inst.peakRss),
    });
    say(
      `  #${i + 1}: ${round(inst.readyMs)} ms (listening after ${round(inst.listeningMs)} ms; CPU ${inst.cpuMs} ms; ` +
        `machine ${busy}% busy meanwhile, ${pollerCpuMs} ms of it polling), peak RSS ${mb(inst.peakRss)} MB`,
    );
    await inst.proc.stop();
    await sleep(200);
  }
  return {
    runs,
    readyMs: { median: median(runs.map((c) => c.readyMs)), max: Math.max(...runs.map((c) => c.readyMs)) },
    cpuMs: { median: median(runs.map((c) => c.cpuMs)), max: Math.max(...runs.map((c) => c.cpuMs)) },
    peakRssMb: { median: median(runs.map((c) => c.peakRssMb)), max: Math.max(...runs.map((c) => c.peakRssMb)) },
    targets: { readyMs: 1000, peakRssMb: 120 },
  };
}

/** One warm instance: warm-up, then N first grants and the same N again, at concurrency C. */
async function warmThroughput(env: NodeJS.ProcessEnv, sim: PlaySimulator, projectId: string, N: number, C: number, UIDS: number) {
  const inst = await spawnInstance(env);
  onCleanup(() => inst.proc.stop());
  const makeJobs = async (count: number, prefix: string, uids: number): Promise<Job[]> => {
    const jobs: Job[] = [];
    for (let i = 0; i < count; i++) {
      const p = await sim.createPurchase({ type: 'product', productId: PRODUCT });
      jobs.push({ uid: `${prefix}-${i % uids}`, token: p.purchaseToken });
    }
    return jobs;
  };
  say(`\nWarm-up (new instance; the first verification exchanges the token and opens Firestore):`);
  const warmJobs = await makeJobs(2 * C, 'warm-user', C);
  const first = await runPhase('first request', inst, sim, warmJobs.slice(0, 1), 1, projectId);
  say(`  first verification: ${first.latencyMs.p50} ms, calls ${fmtCalls(first.functionLogs.callsPerVerification)}`);
  const warm = await runPhase('warm-up', inst, sim, warmJobs.slice(1), C, projectId);
  say(`  ${warm.verifications} more at concurrency ${C}: ${warm.ok} ok`);

  const jobs = await makeJobs(N, 'bench-user', UIDS);
  say(`\nWarm throughput: ${N} purchases of ${PRODUCT} over ${UIDS} users, concurrency ${C}`);
  const loadBefore = loadNow();
  const grant = await runPhase('first grant', inst, sim, jobs, C, projectId);
  const grantLines = [...inst.lines];
  say(`  first grant: ${grant.perSecond}/s, p50 ${grant.latencyMs.p50} ms, p99 ${grant.latencyMs.p99} ms`);
  const repeat = await runPhase('repeat', inst, sim, jobs, C, projectId);
  const repeatLines = [...inst.lines];
  say(`  repeat:      ${repeat.perSecond}/s, p50 ${repeat.latencyMs.p50} ms, p99 ${repeat.latencyMs.p99} ms`);
  const peakRssMb = mb(peakRssBytes(inst.proc.pid));

  const row = (cells: (string | number)[], widths: number[]) => cells.map((c, i) => String(c).padEnd(widths[i]!)).join('  ');
  const w = [34, 14, 14];
  say('\n' + row(['', 'first grant', 'repeat'], w));
  say(row(['-'.repeat(34), '-'.repeat(14), '-'.repeat(14)], w));
  const pair = (label: string, f: (p: PhaseResult) => string | number) => say(row([label, f(grant), f(repeat)], w));
  pair('verifications (ok)', (p) => `${p.verifications} (${p.ok})`);
  pair('verifications/s', (p) => p.perSecond);
  pair('latency p50 / p99 ms', (p) => `${p.latencyMs.p50} / ${p.latencyMs.p99}`);
  pair('server latency p50 / p99 ms', (p) => `${p.serverLatencyMs.p50} / ${p.serverLatencyMs.p99}`);
  pair('token exchanges (simulator)', (p) => p.simulator.tokenExchanges);
  pair('Play products.get / verification', (p) => p.simulator.playCallsPerVerification['purchases.products.get'] ?? 0);
  pair('Play acknowledge / verification', (p) => p.simulator.playCallsPerVerification['purchases.products.acknowledge'] ?? 0);
  pair('Firestore transactions / verif.', (p) => p.functionLogs.callsPerVerification['firestore:transaction'] ?? 0);
  pair('Firestore writes / verif.', (p) => p.functionLogs.callsPerVerification['firestore:write'] ?? 0);
  pair('Firestore reads / verif.', (p) => p.functionLogs.callsPerVerification['firestore:read'] ?? 0);
  pair('CPU ms/verif.: function', (p) => p.cpuMsPerVerification.function);
  pair('CPU ms/verif.: Firestore emulator', (p) => p.cpuMsPerVerification.firestoreEmulator);
  pair('CPU ms/verif.: bench + simulator', (p) => p.cpuMsPerVerification.benchAndSimulator);
  say(`\nfirst verification on a new instance: ${first.latencyMs.p50} ms (${fmtCalls(first.functionLogs.callsPerVerification)})`);
  say(`warm instance peak RSS after ${1 + warm.verifications + 2 * N} verifications: ${peakRssMb} MB`);
  say(
    `function-side calls per verification: first grant {${fmtCalls(grant.functionLogs.callsPerVerification)}}, ` +
      `repeat {${fmtCalls(repeat.functionLogs.callsPerVerification)}}`,
  );
  const checks: Check[] = [
    { what: 'warm-up verifications all 200', ok: first.ok === 1 && warm.ok === warm.verifications, detail: `${first.ok + warm.ok}/${1 + warm.verifications}` },
    ...checkPhase(grant, true, grantLines),
    ...checkPhase(repeat, false, repeatLines),
  ];
  return {
    checks,
    firstRequest: { latencyMs: first.latencyMs.p50, calls: first.functionLogs.callsPerVerification, simulator: first.simulator },
    summary: { loadavgBefore: loadBefore, firstGrant: grant, repeat, peakRssMb },
  };
}

runBench('bench:verify', main);
