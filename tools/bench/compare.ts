import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { emulatorIdToken } from '../../test/helpers/id-tokens';
import { startPlaySimulator, type PlaySimulator } from '../play-simulator';
import { PLAY_PACKAGE, ROOT, functionEnv } from '../local-stack/functions';
import { renderCompareChart, type ChartPanel } from './chart';
import {
  cpuPerItem,
  codeState,
  cpuSnapshot,
  OTHER_CPU_LIMIT_PCT,
  otherCpuPct,
  loadNow,
  machineBusyPct,
  machineCpu,
  machineInfo,
  mb,
  median,
  onCleanup,
  peakRssBytes,
  percentile,
  perItem,
  positiveInt,
  round,
  runBench,
  say,
  sleep,
  spawnInstance,
  startFirestore,
  sumCalls,
  table,
  waitFor,
  waitForQuietMachine,
  watchForTestRuns,
  writeBenchFiles,
  writeResult,
  RESULTS_DIR,
  type Calls,
  type Instance,
  type SpawnOptions,
} from './lib';

/**
 * `npm run bench:compare`: our verifyPurchase beside a naive baseline written the way the common
 * tutorials write it (tools/bench/baseline: a new service-account JWT and token exchange per request,
 * a new Play client per request, plain Firestore writes). Both are served by tools/serve-function.js
 * (functions framework, 127.0.0.1) against the same Play simulator (in this process) and the same
 * Firestore emulator, in one run: cold starts interleaved, warm phases in ABBA order. Prints a table,
 * writes tools/bench/results/compare.json and the chart docs/bench/compare.svg.
 */

const USAGE =
  'Usage: npm run bench:compare [-- --purchases 200 --concurrency 8 --cold-starts 5 --rounds 2 --uids 40 --google-delay-ms 50 | --chart-only]';
const PRODUCT = 'remove_ads';
const CATALOG = {
  products: {
    premium_monthly: { type: 'subscription', entitlements: ['premium'] },
    remove_ads: { type: 'non_consumable', entitlements: ['no_ads'] },
    coins_100: { type: 'consumable', credits: { coins: 100 } },
  },
};
const CHART = join(ROOT, 'docs/bench/compare.svg');

type Impl = 'ours' | 'baseline';
const IMPLS: Record<Impl, { label: string; spawn: Omit<SpawnOptions, 'env'> }> = {
  ours: { label: 'ours (verifyPurchase)', spawn: { target: 'verifyPurchase' } },
  baseline: {
    label: 'tutorial-style baseline',
    spawn: { target: 'verifyPurchaseBaseline', source: 'tools/bench/baseline/index.js' },
  },
};
const TOKEN = 'oauth:token';

interface Phase {
  impl: Impl;
  /** Delay the simulator adds to every call to "Google" (token endpoint and Play API). */
  googleDelayMs: number;
  kind: 'first grant' | 'repeat';
  verifications: number;
  ok: number;
  failures: Record<string, number>;
  elapsedS: number;
  latencies: number[];
  tokenExchanges: number;
  playCalls: Calls;
  logCalls: Calls;
  logLines: number;
  cpuMsPerVerification: Record<string, number>;
  /** Seconds of the phase during which someone's vitest run was seen (0 = undisturbed). */
  testRunSeconds: number;
  /** CPU share (all cores) used by processes not part of the benchmark during the phase. */
  otherCpuPct: number;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      purchases: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '8' },
      'cold-starts': { type: 'string', default: '5' },
      rounds: { type: 'string', default: '2' },
      uids: { type: 'string', default: '40' },
      'google-delay-ms': { type: 'string', default: '50' },
      'chart-only': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  if (values['chart-only']) {
    writeChart(JSON.parse(readFileSync(join(RESULTS_DIR, 'compare.json'), 'utf8')) as ChartSource);
    return 0;
  }
  const N = positiveInt('purchases', values.purchases, 5000);
  const C = positiveInt('concurrency', values.concurrency, 32);
  const COLD = positiveInt('cold-starts', values['cold-starts'], 20);
  const ROUNDS = positiveInt('rounds', values.rounds, 6);
  const UIDS = positiveInt('uids', values.uids, 10_000);
  const DELAY = Number(values['google-delay-ms']);
  if (!Number.isInteger(DELAY) || DELAY < 0 || DELAY > 2000) throw new Error(`--google-delay-ms must be an integer in 0..2000. ${USAGE}`);
  const DELAYS = DELAY > 0 ? [0, DELAY] : [0];

  const quiet = await waitForQuietMachine();
  const watch = watchForTestRuns();
  const machine = machineInfo();
  say(
    `verifyPurchase vs tutorial-style baseline: ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, ` +
      `load ${machine.loadavgAtStart.join(' ')}, calibration ${machine.calibrationMs} ms`,
  );
  const projectId = `bench-${Date.now().toString(36)}`;
  const firestore = await startFirestore();
  process.env.FIRESTORE_EMULATOR_HOST = firestore.host; // this process reads balances for the probes
  const sim = await startPlaySimulator();
  onCleanup(() => sim.close());
  const files = writeBenchFiles(sim.serviceAccountKey, CATALOG);
  const env = functionEnv({
    projectId,
    firestoreHost: firestore.host,
    playApiRootUrl: sim.url,
    oauthTokenUrl: sim.tokenUrl,
    keyFile: files.keyFile,
    catalog: files.catalog,
    logLevel: 'INFO',
  });
  say(`Firestore emulator ${firestore.host}, Play simulator ${sim.url}, project ${projectId}`);
  await sleep(2000); // let the emulator's JVM settle after start-up

  // Cold starts, interleaved so that a drift of the VM's speed hits both alike.
  say(`\ncold start ×${COLD} each (spawn → first served request, an unauthenticated POST answered 401), interleaved:`);
  const cold: Record<Impl, { readyMs: number; cpuMs: number; peakRssMb: number; machineBusyPct: number }[]> = { ours: [], baseline: [] };
  for (let i = 0, redone = 0; i < COLD; i++) {
    const seen0 = watch.seenAt().length;
    const kept = { ours: cold.ours.length, baseline: cold.baseline.length };
    for (const impl of (i % 2 === 0 ? ['ours', 'baseline'] : ['baseline', 'ours']) as Impl[]) {
      const before = machineCpu();
      const inst = await spawnInstance({ ...IMPLS[impl].spawn, env });
      const run = { readyMs: round(inst.readyMs), cpuMs: inst.cpuMs ?? NaN, peakRssMb: mb(inst.peakRss), machineBusyPct: machineBusyPct(before, machineCpu()) };
      cold[impl].push(run);
      say(`  #${i + 1} ${impl.padEnd(8)} ${run.readyMs} ms, CPU ${run.cpuMs} ms, peak RSS ${run.peakRssMb} MB`);
      await inst.proc.stop();
      await sleep(200);
    }
    if (watch.seenAt().length > seen0 && redone < COLD) {
      // Someone's test run shared the machine: this pair is measured again once it is over.
      say('  a vitest run shared the machine: measuring this pair again once it is over');
      cold.ours.length = kept.ours;
      cold.baseline.length = kept.baseline;
      redone += 1;
      i -= 1;
      await waitForQuietMachine();
    }
  }

  // Warm: one instance of each, warmed up, then ABBA rounds of N first grants and the same N again.
  const inst: Record<Impl, Instance> = {
    ours: await spawnInstance({ ...IMPLS.ours.spawn, env }),
    baseline: await spawnInstance({ ...IMPLS.baseline.spawn, env }),
  };
  for (const i of Object.values(inst)) onCleanup(() => i.proc.stop());
  const groups = { function: 0, firestoreEmulator: firestore.process.pid };
  const makeJobs = async (count: number, prefix: string, uids: number) => {
    const jobs: { uid: string; token: string }[] = [];
    for (let i = 0; i < count; i++) jobs.push({ uid: `${prefix}-${i % uids}`, token: (await sim.createPurchase({ type: 'product', productId: PRODUCT })).purchaseToken });
    return jobs;
  };
  let googleDelayMs = 0;
  const runPhase = async (impl: Impl, kind: Phase['kind'], jobs: { uid: string; token: string }[], concurrency: number): Promise<Phase> => {
    const target = inst[impl];
    await sim.idle();
    sim.resetStats();
    target.lines.length = 0;
    const latencies: number[] = [];
    const failures: Record<string, number> = {};
    let ok = 0;
    let next = 0;
    const cpu0 = cpuSnapshot({ ...groups, function: target.proc.pid });
    const seen0 = watch.seenAt().length;
    const t0 = performance.now();
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        const s = performance.now();
        let key: string;
        try {
          const res = await fetch(target.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${emulatorIdToken({ projectId, uid: job.uid })}` },
            body: JSON.stringify({ packageName: PLAY_PACKAGE, productId: PRODUCT, purchaseToken: job.token }),
          });
          const body = (await res.json()) as { error?: unknown };
          key = res.status === 200 ? 'ok' : `${res.status} ${JSON.stringify(body.error ?? '')}`;
        } catch (e) {
          key = `network ${(e as Error).message}`;
        }
        latencies.push(performance.now() - s);
        if (key === 'ok') ok += 1;
        else failures[key] = (failures[key] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsedS = (performance.now() - t0) / 1000;
    const cpu1 = cpuSnapshot({ ...groups, function: target.proc.pid });
    await waitFor(() => target.lines.length >= jobs.length, 10_000);
    await sim.idle();
    const stats = sim.stats();
    return {
      impl,
      googleDelayMs,
      kind,
      verifications: jobs.length,
      ok,
      failures,
      elapsedS,
      latencies,
      tokenExchanges: stats.tokenExchanges,
      playCalls: stats.calls,
      logCalls: sumCalls(target.lines),
      logLines: target.lines.length,
      cpuMsPerVerification: cpuPerItem(cpu0, cpu1, jobs.length),
      testRunSeconds: watch.seenAt().length - seen0,
      otherCpuPct: otherCpuPct(cpu0, cpu1),
    };
  };

  // The warm-up also warms the Firestore emulator's JVM for transactions: with a short one, whichever
  // implementation ran first measured the emulator's JIT (ours was 40 % slower in its first phase).
  const WARM = Math.max(2 * C, 150);
  say(`\nwarm-up: ${WARM} verifications (first grant, then again) on each new instance`);
  for (const impl of ['ours', 'baseline'] as Impl[]) {
    const jobs = await makeJobs(WARM, `warm-${impl}`, C);
    for (const kind of ['first grant', 'repeat'] as const) {
      const w = await runPhase(impl, kind, jobs, C);
      if (w.ok !== w.verifications) throw new Error(`${impl} warm-up: ${w.ok}/${w.verifications} ok ${JSON.stringify(w.failures)}`);
    }
  }
  const phases: Phase[] = [];
  const disturbed = (p: Phase) => p.testRunSeconds > 0 || p.otherCpuPct > OTHER_CPU_LIMIT_PCT;
  const discarded: Phase[] = [];
  for (const delay of DELAYS) {
    if (delay > 0) {
      // Every later call to the token endpoint and the Play API waits `delay` ms first (a stand-in for
      // the network round trip to Google that loopback does not have; an assumption, not a measurement).
      sim.injectFaults({ count: 10_000_000, target: 'all', mode: 'delay', delayMs: delay });
    }
    googleDelayMs = delay;
    say(
      `\nwarm, ${delay ? `+${delay} ms on every call to the token endpoint and the Play API` : 'loopback (no added delay)'}: ` +
        `${ROUNDS} rounds (ABBA) of ${N} ${PRODUCT} purchases over ${UIDS} users, concurrency ${C}: first grant, then the same again`,
    );
    for (let r = 0; r < ROUNDS; r++) {
      for (const impl of (r % 2 === 0 ? ['ours', 'baseline'] : ['baseline', 'ours']) as Impl[]) {
        // A pair of phases that someone's test run shared the machine with is measured again (at most twice more).
        for (let attempt = 0; attempt < 3; attempt++) {
          const jobs = await makeJobs(N, `d${delay}-r${r}-${impl}-${attempt}`, UIDS);
          const pair: Phase[] = [];
          for (const kind of ['first grant', 'repeat'] as const) {
            await sleep(500);
            const p = await runPhase(impl, kind, jobs, C);
            pair.push(p);
            say(
              `  round ${r + 1} ${impl.padEnd(8)} ${kind.padEnd(11)} ${p.ok}/${p.verifications} ok, ${round(p.ok / p.elapsedS, 1)}/s, ` +
                `p50 ${round(percentile(p.latencies, 50))} ms, p99 ${round(percentile(p.latencies, 99))} ms` +
                `; other processes ${p.otherCpuPct} % CPU` + (p.testRunSeconds ? ` (! a vitest run shared the machine for ${p.testRunSeconds} s)` : ''),
            );
          }
          if (attempt < 2 && pair.some(disturbed)) {
            say("  someone else's work shared the machine: measuring this pair again");
            discarded.push(...pair);
            await waitForQuietMachine();
            continue;
          }
          phases.push(...pair);
          break;
        }
      }
    }
  }
  const warmRss: Record<Impl, number> = { ours: mb(peakRssBytes(inst.ours.proc.pid)), baseline: mb(peakRssBytes(inst.baseline.proc.pid)) };

  // What the naive one gets wrong (not a performance figure; printed so nobody copies it).
  const probes = await correctnessProbes(inst, sim, projectId);

  const summarize = (impl: Impl, kind: Phase['kind'], delay = 0) => {
    const ps = phases.filter((p) => p.impl === impl && p.kind === kind && p.googleDelayMs === delay);
    if (ps.length === 0) return undefined;
    const n = ps.reduce((s, p) => s + p.verifications, 0);
    const ok = ps.reduce((s, p) => s + p.ok, 0);
    const elapsed = ps.reduce((s, p) => s + p.elapsedS, 0);
    const lat = ps.flatMap((p) => p.latencies);
    const add = (f: (p: Phase) => Calls) => {
      const out: Calls = {};
      for (const p of ps) for (const [k, v] of Object.entries(f(p))) out[k] = (out[k] ?? 0) + v;
      return out;
    };
    const cpu: Record<string, number> = {};
    for (const p of ps) for (const [k, v] of Object.entries(p.cpuMsPerVerification)) cpu[k] = round((cpu[k] ?? 0) + v / ps.length, 2);
    const failures: Record<string, number> = {};
    for (const p of ps) for (const [k, v] of Object.entries(p.failures)) failures[k] = (failures[k] ?? 0) + v;
    const playCalls = add((p) => p.playCalls);
    return {
      verifications: n,
      ok,
      failures,
      perSecond: round(ok / elapsed, 1),
      perSecondByRound: ps.map((p) => round(p.ok / p.elapsedS, 1)),
      latencyMs: { p50: round(percentile(lat, 50)), p90: round(percentile(lat, 90)), p99: round(percentile(lat, 99)), max: round(Math.max(...lat)) },
      tokenExchangesPerVerification: round(ps.reduce((s, p) => s + p.tokenExchanges, 0) / n, 3),
      playCallsPerVerification: perItem(playCalls, n),
      playCallsTotalPerVerification: round(Object.values(playCalls).reduce((a, b) => a + b, 0) / n, 3),
      functionCallsPerVerification: perItem(add((p) => p.logCalls), n),
      logLines: ps.reduce((s, p) => s + p.logLines, 0),
      cpuMsPerVerification: cpu,
    };
  };
  const coldSummary = (impl: Impl) => ({
    runs: cold[impl],
    readyMs: { median: median(cold[impl].map((c) => c.readyMs)), max: Math.max(...cold[impl].map((c) => c.readyMs)) },
    cpuMs: { median: median(cold[impl].map((c) => c.cpuMs)) },
    peakRssMb: { median: median(cold[impl].map((c) => c.peakRssMb)), max: Math.max(...cold[impl].map((c) => c.peakRssMb)) },
  });
  const S = {
    ours: {
      cold: coldSummary('ours'),
      firstGrant: summarize('ours', 'first grant')!,
      repeat: summarize('ours', 'repeat')!,
      delayed: DELAY > 0 ? { googleDelayMs: DELAY, firstGrant: summarize('ours', 'first grant', DELAY)!, repeat: summarize('ours', 'repeat', DELAY)! } : undefined,
      warmPeakRssMb: warmRss.ours,
    },
    baseline: {
      cold: coldSummary('baseline'),
      firstGrant: summarize('baseline', 'first grant')!,
      repeat: summarize('baseline', 'repeat')!,
      delayed: DELAY > 0 ? { googleDelayMs: DELAY, firstGrant: summarize('baseline', 'first grant', DELAY)!, repeat: summarize('baseline', 'repeat', DELAY)! } : undefined,
      warmPeakRssMb: warmRss.baseline,
    },
  };

  const o = S.ours;
  const b = S.baseline;
  const fsOps = (c: Calls) =>
    ['firestore:transaction', 'firestore:write', 'firestore:read']
      .filter((k) => c[k])
      .map((k) => `${c[k]} ${k.split(':')[1]}`)
      .join(' + ') || '0';
  const rows: (string | number)[][] = [
    ['', 'ours', 'baseline', 'ours vs baseline'],
    ['cold start, median ms', o.cold.readyMs.median, b.cold.readyMs.median, ratio(o.cold.readyMs.median, b.cold.readyMs.median)],
    ['CPU to first response, median ms', o.cold.cpuMs.median, b.cold.cpuMs.median, ratio(o.cold.cpuMs.median, b.cold.cpuMs.median)],
    ['peak RSS at first response, median MB', o.cold.peakRssMb.median, b.cold.peakRssMb.median, ratio(o.cold.peakRssMb.median, b.cold.peakRssMb.median)],
    ['first grant: verifications/s', o.firstGrant.perSecond, b.firstGrant.perSecond, ratio(o.firstGrant.perSecond, b.firstGrant.perSecond)],
    ['first grant: p50 / p99 ms', `${o.firstGrant.latencyMs.p50} / ${o.firstGrant.latencyMs.p99}`, `${b.firstGrant.latencyMs.p50} / ${b.firstGrant.latencyMs.p99}`, `${ratio(o.firstGrant.latencyMs.p50, b.firstGrant.latencyMs.p50)} / ${ratio(o.firstGrant.latencyMs.p99, b.firstGrant.latencyMs.p99)}`],
    ['repeat: verifications/s', o.repeat.perSecond, b.repeat.perSecond, ratio(o.repeat.perSecond, b.repeat.perSecond)],
    ['repeat: p50 / p99 ms', `${o.repeat.latencyMs.p50} / ${o.repeat.latencyMs.p99}`, `${b.repeat.latencyMs.p50} / ${b.repeat.latencyMs.p99}`, `${ratio(o.repeat.latencyMs.p50, b.repeat.latencyMs.p50)} / ${ratio(o.repeat.latencyMs.p99, b.repeat.latencyMs.p99)}`],
    ...(o.delayed && b.delayed
      ? [
          [`+${DELAY} ms per Google call: first grant /s`, o.delayed.firstGrant.perSecond, b.delayed.firstGrant.perSecond, ratio(o.delayed.firstGrant.perSecond, b.delayed.firstGrant.perSecond)],
          [`+${DELAY} ms per Google call: first grant p50 / p99 ms`, `${o.delayed.firstGrant.latencyMs.p50} / ${o.delayed.firstGrant.latencyMs.p99}`, `${b.delayed.firstGrant.latencyMs.p50} / ${b.delayed.firstGrant.latencyMs.p99}`, `${ratio(o.delayed.firstGrant.latencyMs.p50, b.delayed.firstGrant.latencyMs.p50)} / ${ratio(o.delayed.firstGrant.latencyMs.p99, b.delayed.firstGrant.latencyMs.p99)}`],
          [`+${DELAY} ms per Google call: repeat /s`, o.delayed.repeat.perSecond, b.delayed.repeat.perSecond, ratio(o.delayed.repeat.perSecond, b.delayed.repeat.perSecond)],
          [`+${DELAY} ms per Google call: repeat p50 / p99 ms`, `${o.delayed.repeat.latencyMs.p50} / ${o.delayed.repeat.latencyMs.p99}`, `${b.delayed.repeat.latencyMs.p50} / ${b.delayed.repeat.latencyMs.p99}`, `${ratio(o.delayed.repeat.latencyMs.p50, b.delayed.repeat.latencyMs.p50)} / ${ratio(o.delayed.repeat.latencyMs.p99, b.delayed.repeat.latencyMs.p99)}`],
        ]
      : []),
    ['token exchanges / verification', o.firstGrant.tokenExchangesPerVerification, b.firstGrant.tokenExchangesPerVerification, ''],
    ['Play calls / verification (first grant)', o.firstGrant.playCallsTotalPerVerification, b.firstGrant.playCallsTotalPerVerification, ''],
    ['Play calls / verification (repeat)', o.repeat.playCallsTotalPerVerification, b.repeat.playCallsTotalPerVerification, ''],
    ['Firestore / verification (first grant)', fsOps(o.firstGrant.functionCallsPerVerification), fsOps(b.firstGrant.functionCallsPerVerification), ''],
    ['CPU ms / verification: function (first grant)', o.firstGrant.cpuMsPerVerification.function ?? NaN, b.firstGrant.cpuMsPerVerification.function ?? NaN, ''],
    ['CPU ms / verif.: Firestore emulator (first grant)', o.firstGrant.cpuMsPerVerification.firestoreEmulator ?? NaN, b.firstGrant.cpuMsPerVerification.firestoreEmulator ?? NaN, ''],
    ['CPU ms / verif.: simulator + bench (first grant)', o.firstGrant.cpuMsPerVerification.benchProcess ?? NaN, b.firstGrant.cpuMsPerVerification.benchProcess ?? NaN, ''],
    ['peak RSS after the warm phases, MB', o.warmPeakRssMb, b.warmPeakRssMb, ratio(o.warmPeakRssMb, b.warmPeakRssMb)],
    ['second user on a claimed token', probes.ours.claimedBySecondUser, probes.baseline.claimedBySecondUser, ''],
    ['coins after verifying 1 consumable twice', probes.ours.coinsAfterTwoVerifications, probes.baseline.coinsAfterTwoVerifications, ''],
  ];
  say('\n' + table(rows));

  const checks = [
    { what: 'every verification 200 (both, all phases)', ok: phases.every((p) => p.ok === p.verifications), detail: phases.map((p) => `${p.impl} ${p.kind} ${p.ok}/${p.verifications}`).join('; ') },
    { what: 'ours: 0 token exchanges when warm', ok: phases.filter((p) => p.impl === 'ours').every((p) => p.tokenExchanges === 0), detail: String(o.firstGrant.tokenExchangesPerVerification) },
    { what: 'same Play calls per verification (both: products.get, + acknowledge on a first grant)', ok: o.firstGrant.playCallsTotalPerVerification === 2 && b.firstGrant.playCallsTotalPerVerification === 2 && o.repeat.playCallsTotalPerVerification === 1 && b.repeat.playCallsTotalPerVerification === 1, detail: `${o.firstGrant.playCallsTotalPerVerification}/${o.repeat.playCallsTotalPerVerification} vs ${b.firstGrant.playCallsTotalPerVerification}/${b.repeat.playCallsTotalPerVerification}` },
    { what: 'baseline: 1 token exchange per verification (simulator and its log)', ok: b.firstGrant.tokenExchangesPerVerification === 1 && b.repeat.tokenExchangesPerVerification === 1 && b.firstGrant.functionCallsPerVerification[TOKEN] === 1, detail: `${b.firstGrant.tokenExchangesPerVerification}, ${b.repeat.tokenExchangesPerVerification}` },
  ];
  say('\nchecks:');
  for (const ch of checks) say(`  ${ch.ok ? '✓' : '✗'} ${ch.what}: ${ch.detail}`);

  const measuredAt = new Date().toISOString();
  const result = {
    benchmark: 'verifyPurchase vs tutorial-style baseline',
    measuredAt,
    code: codeState(),
    machine: { ...machine, loadavgAtEnd: loadNow(), waitedForQuietS: quiet.waitedS, busyPctBeforeStart: quiet.busyPct, testRunSeenDuring: watch.seenAt().length > 0 ? `${watch.seenAt().length} s (${watch.seenAt()[0]} …)` : 'no' },
    setup: {
      purchasesPerPhase: N,
      concurrency: C,
      users: UIDS,
      rounds: ROUNDS,
      coldStarts: COLD,
      googleDelayMs: DELAY,
      googleDelayNote:
        'Loopback has no network: a token exchange costs the baseline almost nothing here. The second pass adds this delay to every call to ' +
        'the token endpoint and the Play API (simulator delay faults), as a stand-in for the round trip to Google from a function; ' +
        'the value is an assumption, not a measurement. Firestore calls get no delay.',
      product: `${PRODUCT} (non_consumable)`,
      ours: 'node tools/serve-function.js --target=verifyPurchase (dist/index.js)',
      baseline:
        'node tools/serve-function.js --source=tools/bench/baseline/index.js --target=verifyPurchaseBaseline: new google-auth-library JWT + authorize() ' +
        '(token exchange) and a new @googleapis/androidpublisher client per request, no caching, 2 plain Firestore writes (no transaction)',
      baselineCaveat:
        'Tutorials import the full `googleapis` package; it is not installed here (and must not be added), so the baseline imports ' +
        '@googleapis/androidpublisher, the same generated client for one API. Its cold start and memory are therefore those of the small client: ' +
        'the real tutorial code would start slower and use more memory than measured here.',
      backends: 'Firestore emulator (gcloud), Play simulator (in the benchmark process), both on 127.0.0.1',
    },
    summary: S,
    correctnessProbes: probes,
    phases: phases.map(({ latencies, ...p }) => ({
      ...p,
      elapsedS: round(p.elapsedS, 2),
      perSecond: round(p.ok / p.elapsedS, 1),
      latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
    })),
    discardedPhases: discarded.map(({ latencies, ...p }) => ({ ...p, elapsedS: round(p.elapsedS, 2), perSecond: round(p.ok / p.elapsedS, 1) })),
    checks,
    passed: checks.every((ch) => ch.ok),
  };
  if (discarded.length > 0) say(`\n${discarded.length} phase(s) shared the machine with someone else's work: discarded and measured again (kept in discardedPhases).`);
  if (phases.some(disturbed)) say(`! ${phases.filter(disturbed).length} kept phase(s) still shared the machine with someone else's work: their figures are disturbed.`);
  writeResult('compare.json', result);

  writeChart(result);
  return result.passed ? 0 : 1;
}

type Summary = {
  cold: { readyMs: { median: number }; peakRssMb: { median: number } };
  firstGrant: { perSecond: number; latencyMs: { p50: number; p99: number }; tokenExchangesPerVerification: number; playCallsTotalPerVerification: number };
  delayed?: { googleDelayMs: number; firstGrant: { perSecond: number; latencyMs: { p50: number; p99: number } } };
};
interface ChartSource {
  measuredAt: string;
  machine: { cpus: number; cpuModel: string; node: string };
  setup: { concurrency: number; rounds: number; purchasesPerPhase: number };
  summary: { ours: Summary; baseline: Summary };
}

/** docs/bench/compare.svg from a result (also `-- --chart-only`, from tools/bench/results/compare.json). */
function writeChart(r: ChartSource): void {
  const o = r.summary.ours;
  const b = r.summary.baseline;
  const d = o.delayed?.googleDelayMs;
  const panels: ChartPanel[] = [
    { title: 'Cold start, median (ms)', better: 'lower', ours: o.cold.readyMs.median, baseline: b.cold.readyMs.median, unit: 'ms' },
    { title: 'Peak RSS at first response, median (MB)', better: 'lower', ours: o.cold.peakRssMb.median, baseline: b.cold.peakRssMb.median, unit: 'MB' },
    { title: 'Verifications/s, first grant, loopback', better: 'higher', ours: o.firstGrant.perSecond, baseline: b.firstGrant.perSecond, unit: '/s' },
    ...(o.delayed && b.delayed
      ? [{ title: `Verifications/s, first grant, +${d} ms per Google call`, better: 'higher' as const, ours: o.delayed.firstGrant.perSecond, baseline: b.delayed.firstGrant.perSecond, unit: '/s' }]
      : []),
    { title: 'Latency p50, first grant, loopback (ms)', better: 'lower', ours: o.firstGrant.latencyMs.p50, baseline: b.firstGrant.latencyMs.p50, unit: 'ms' },
    ...(o.delayed && b.delayed
      ? [{ title: `Latency p50, first grant, +${d} ms per Google call (ms)`, better: 'lower' as const, ours: o.delayed.firstGrant.latencyMs.p50, baseline: b.delayed.firstGrant.latencyMs.p50, unit: 'ms' }]
      : []),
    { title: 'Latency p99, first grant, loopback (ms)', better: 'lower', ours: o.firstGrant.latencyMs.p99, baseline: b.firstGrant.latencyMs.p99, unit: 'ms' },
    ...(o.delayed && b.delayed
      ? [{ title: `Latency p99, first grant, +${d} ms per Google call (ms)`, better: 'lower' as const, ours: o.delayed.firstGrant.latencyMs.p99, baseline: b.delayed.firstGrant.latencyMs.p99, unit: 'ms' }]
      : []),
    { title: 'OAuth token exchanges per verification', better: 'lower', ours: o.firstGrant.tokenExchangesPerVerification, baseline: b.firstGrant.tokenExchangesPerVerification, unit: '' },
    { title: 'Play API calls per verification, first grant', better: 'lower', ours: o.firstGrant.playCallsTotalPerVerification, baseline: b.firstGrant.playCallsTotalPerVerification, unit: '' },
  ];
  const m = r.machine;
  const svg = renderCompareChart({
    title: 'verifyPurchase: ours vs a tutorial-style baseline',
    subtitle:
      `${m.cpus} cores (${m.cpuModel}), Node ${m.node}, ${r.measuredAt.slice(0, 10)}; Firestore emulator + Play simulator on 127.0.0.1; ` +
      `${r.setup.concurrency} in flight, ${r.setup.rounds}×${r.setup.purchasesPerPhase} purchases per pass`,
    labels: { ours: 'ours', baseline: 'baseline: new JWT + token exchange per request, @googleapis/androidpublisher (googleapis not installed), plain writes' },
    panels,
  });
  mkdirSync(join(ROOT, 'docs/bench'), { recursive: true });
  writeFileSync(CHART, svg);
  say(`wrote ${relative(ROOT, CHART)}`);
}

const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${round(a / b, 2)}×` : '');

/** Two behaviours, one request each, on fresh purchases: what the naive version gets wrong. */
async function correctnessProbes(inst: Record<Impl, Instance>, sim: PlaySimulator, projectId: string) {
  const out = {} as Record<Impl, { claimedBySecondUser: string; coinsAfterTwoVerifications: number | string }>;
  for (const impl of ['ours', 'baseline'] as Impl[]) {
    const post = async (uid: string, productId: string, purchaseToken: string) => {
      const res = await fetch(inst[impl].url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${emulatorIdToken({ projectId, uid })}` },
        body: JSON.stringify({ packageName: PLAY_PACKAGE, productId, purchaseToken }),
      });
      return { status: res.status, body: (await res.json()) as { balances?: Record<string, number>; error?: { code?: string } | string } };
    };
    const nc = (await sim.createPurchase({ type: 'product', productId: PRODUCT })).purchaseToken;
    await post(`probe-${impl}-owner`, PRODUCT, nc);
    const second = await post(`probe-${impl}-other`, PRODUCT, nc);
    const code = typeof second.body.error === 'string' ? second.body.error : second.body.error?.code;
    const coins = (await sim.createPurchase({ type: 'product', productId: 'coins_100' })).purchaseToken;
    const uid = `probe-${impl}-coins`;
    await post(uid, 'coins_100', coins);
    await post(uid, 'coins_100', coins);
    out[impl] = { claimedBySecondUser: second.status === 200 ? '200 (granted)' : `${second.status} ${code ?? ''}`.trim(), coinsAfterTwoVerifications: await coinsOf(projectId, uid) };
  }
  return out;
}

let db: Firestore | undefined;
/** users/{uid} coins: ours keeps balances.coins, the baseline a top-level coins field. */
async function coinsOf(projectId: string, uid: string): Promise<number | string> {
  if (!db) {
    db = new Firestore({ projectId });
    onCleanup(() => db!.terminate());
  }
  const data = (await db.doc(`users/${uid}`).get()).data() ?? {};
  return (data.balances as Record<string, number> | undefined)?.coins ?? (data.coins as number | undefined) ?? 'none';
}

runBench('bench:compare', main);
