import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { emulatorIdToken } from '../../test/helpers/id-tokens';
import { cpuShares, readCpuProfile, type CodeOwner } from './cpu-profile';
import { startPlaySimulator, type PlaySimulator } from '../play-simulator';
import { PLAY_PACKAGE, ROOT, functionEnv } from '../local-stack/functions';
import {
  codeState,
  groupCpuMs,
  loadNow,
  machineBusyPct,
  machineCpu,
  machineInfo,
  mb,
  median,
  onCleanup,
  peakRssBytes,
  positiveInt,
  round,
  runBench,
  say,
  sleep,
  spawnUntilAnswered,
  startFirestore,
  table,
  vitestPids,
  writeBenchFiles,
  writeResult,
  type TimedStart,
} from './lib';

/**
 * `npm run bench:cold`: what a buyer waits for when Cloud Functions starts a new instance, as ratios
 * to what cannot be avoided, all measured in one run against the same Firestore emulator and Play
 * simulator, interleaved A B A B so that the machine's drift hits both sides alike:
 *
 * - spawn → first successful verification of a new purchase: verifyPurchase's deployable bundle
 *   (build/functions/verifyPurchase/index.js, served by tools/serve-function.js) against the floor
 *   (tools/bench/floor/index.js: Node built-ins only; listen, one JWT exchanged for a token, one Play
 *   read, one Firestore commit);
 * - spawn → first answer (an unauthenticated POST): ours against a bare functions-framework function
 *   (tools/bench/floor/hello.js), both served by tools/serve-function.js;
 * - peak RSS (VmHWM) right after the first verification: ours against the floor;
 * - warm: our CPU time per verification (user + system of the process over N verifications of new
 *   purchases, raw: waiting on Play and Firestore costs no CPU), beside the floor's, and the bare
 *   functions-framework function's CPU per request (what the HTTP stack costs before any work); then
 *   the same warm run on an instance under `--cpu-prof`, whose samples split ours by code: our own
 *   (main.js, what the target is about), the Google client libraries, the framework, GC, Node.
 *
 * Prints the table and the ratios and writes tools/bench/results/cold.json.
 */

const USAGE = 'Usage: npm run bench:cold [-- --rounds 7 --warm 200 --concurrency 4 --no-code-cache --ours FILE]';
const OURS_FOLDER = 'build/functions/verifyPurchase';
const FLOOR = 'tools/bench/floor/index.js';
const HELLO = 'tools/bench/floor/hello.js';
const PRODUCT = 'remove_ads';
const CATALOG = { products: { remove_ads: { type: 'non_consumable', entitlements: ['no_ads'] } } };
const TARGETS = { verifyRatio: 3, answerRatio: 1.3, rssRatio: 1.4, warmCpuMs: 2 };

type Kind = 'oursVerify' | 'floorVerify' | 'oursAnswer' | 'helloAnswer';
interface Run {
  kind: Kind;
  round: number;
  ms: number;
  acceptedMs: number;
  status: number;
  peakRssMb: number;
  cpuMs: number | undefined;
  machineBusyPct: number;
  testRunSeen: boolean;
  calls?: Record<string, number> | undefined;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      warm: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '4' },
      /** Ours without its V8 code caches (a copy of the folder without the .cache files). */
      'no-code-cache': { type: 'boolean', default: false },
      /** Another module registering verifyPurchase instead of the deployable folder's (e.g. an older build). */
      ours: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const ROUNDS = positiveInt('rounds', values.rounds, 50);
  const WARM = positiveInt('warm', values.warm, 5000);
  const C = positiveInt('concurrency', values.concurrency, 32);
  const t0 = performance.now();
  let OURS = values.ours ?? `${OURS_FOLDER}/index.js`;
  if (values['no-code-cache'] && !values.ours) {
    // Inside the repository, so that the copy's functions framework is the one serve-function.js uses.
    const copy = join(ROOT, 'build/.cold-bench-no-code-cache');
    rmSync(copy, { recursive: true, force: true });
    cpSync(join(ROOT, OURS_FOLDER), copy, { recursive: true, filter: (src) => !src.endsWith('.cache') });
    onCleanup(async () => rmSync(copy, { recursive: true, force: true }));
    OURS = relative(ROOT, join(copy, 'index.js'));
  }
  if (!existsSync(resolve(ROOT, OURS))) throw new Error(`${OURS} does not exist: npm run build first`);

  const machine = machineInfo();
  say(`bench:cold: ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, load ${machine.loadavgAtStart.join(' ')}, calibration ${machine.calibrationMs} ms`);
  // Someone's test run on a 2-core machine distorts everything; wait for it (bounded) and say so.
  const waitedS = await waitForNoTestRun(90_000);

  const projectId = `cold-${Date.now().toString(36)}`;
  const firestore = await startFirestore();
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
  await sleep(2000); // the emulator's JVM settles after start-up

  let users = 0;
  const newPurchase = async () => ({ uid: `cold-user-${users++}`, token: (await sim.createPurchase({ type: 'product', productId: PRODUCT })).purchaseToken });
  const verifyRequest = (p: { uid: string; token: string }) => async (url: string) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${emulatorIdToken({ projectId, uid: p.uid })}` },
      body: JSON.stringify({ packageName: PLAY_PACKAGE, productId: PRODUCT, purchaseToken: p.token }),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const anonymousRequest = async (url: string) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    return { status: res.status, body: await res.text() };
  };
  const serve = (source: string, target: string) => (port: number) => ['tools/serve-function.js', `--source=${source}`, `--target=${target}`, `--port=${port}`];
  const starts: Record<Kind, (p: { uid: string; token: string }) => Promise<TimedStart>> = {
    oursVerify: (p) => spawnUntilAnswered({ name: 'verifyPurchase', args: serve(OURS, 'verifyPurchase'), env, request: verifyRequest(p) }),
    floorVerify: (p) => spawnUntilAnswered({ name: 'floor', args: (port) => [FLOOR, `--port=${port}`], env, request: verifyRequest(p) }),
    oursAnswer: () => spawnUntilAnswered({ name: 'verifyPurchase', args: serve(OURS, 'verifyPurchase'), env, request: anonymousRequest }),
    helloAnswer: () => spawnUntilAnswered({ name: 'hello', args: serve(HELLO, 'hello'), env, request: anonymousRequest }),
  };
  const expected: Record<Kind, number> = { oursVerify: 200, floorVerify: 200, oursAnswer: 401, helloAnswer: 200 };

  const measure = async (kind: Kind, round: number, keep = false): Promise<{ run: Run; start: TimedStart }> => {
    const p = await newPurchase();
    await sleep(150);
    const before = machineCpu();
    const start = await starts[kind](p);
    const busy = machineBusyPct(before, machineCpu());
    if (start.status !== expected[kind]) {
      await start.proc.stop();
      throw new Error(`${kind}: expected ${expected[kind]}, got ${start.status} ${JSON.stringify(start.body)}\n${start.proc.output()}`);
    }
    if (kind === 'oursVerify' && (start.body as { entitlements?: { no_ads?: { active?: boolean } } }).entitlements?.no_ads?.active !== true) {
      await start.proc.stop();
      throw new Error(`oursVerify: 200 without no_ads active: ${JSON.stringify(start.body)}`);
    }
    // The function's log line of that verification (its outbound calls).
    if (kind === 'oursVerify') for (let i = 0; i < 100 && !start.lines.some((l) => l.message === 'verifyPurchase'); i++) await sleep(10);
    const run: Run = {
      kind,
      round,
      ms: round1(start.ms),
      acceptedMs: round1(start.acceptedMs),
      status: start.status,
      peakRssMb: mb(start.peakRss),
      cpuMs: start.cpuMs,
      machineBusyPct: busy,
      testRunSeen: vitestPids().length > 0,
      calls: kind === 'oursVerify' ? start.lines.find((l) => l.message === 'verifyPurchase')?.calls : undefined,
    };
    if (!keep) await start.proc.stop();
    return { run, start };
  };

  const ORDER: Kind[] = ['oursVerify', 'floorVerify', 'oursAnswer', 'helloAnswer'];
  say('\nwarm-up round (not counted): disk cache, the emulator and the simulator see each kind once');
  for (const kind of ORDER) await measure(kind, 0);

  const runs: Run[] = [];
  say(`\n${ROUNDS} rounds, each: ${ORDER.join(' → ')} (A B A B)`);
  for (let r = 1; r <= ROUNDS; r++) {
    const row: string[] = [];
    for (const kind of ORDER) {
      const { run } = await measure(kind, r);
      runs.push(run);
      row.push(`${kind} ${run.ms} ms ${run.peakRssMb} MB`);
    }
    say(`  #${r}: ${row.join(', ')}`);
  }

  // Warm: one instance of each, N verifications of new purchases after its first one.
  say(`\nwarm: ${WARM} verifications of new purchases at concurrency ${C}, after each instance's first (bare ff: ${WARM} POSTs)`);
  const warmOurs = (await warmCpu('ours', (await measure('oursVerify', -1, true)).start, WARM, C, newPurchase, verifyRequest, sim)).result;
  const warmFloor = (await warmCpu('floor', (await measure('floorVerify', -1, true)).start, WARM, C, newPurchase, verifyRequest, sim)).result;
  // What the chosen HTTP stack costs per request before any work (express, body parsing, the
  // framework's per-request domain): the bare function answering the same POST.
  const warmHello = (await warmCpu('bare ff', (await measure('helloAnswer', -1, true)).start, WARM, C, async () => null, () => anonymousRequest, sim)).result;
  // Whose code that CPU is: the same warm run on an instance under V8's sampling profiler.
  const profileDir = mkdtempSync(join(tmpdir(), 'bench-cold-profile-'));
  onCleanup(async () => rmSync(profileDir, { recursive: true, force: true }));
  const spawnedAt = performance.now();
  const profiled = await spawnUntilAnswered({
    name: 'verifyPurchase (profiled)',
    args: (port) => ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...serve(OURS, 'verifyPurchase')(port)],
    env,
    request: verifyRequest(await newPurchase()),
  });
  const { countedFrom } = await warmCpu('ours, profiled', profiled, WARM, C, newPurchase, verifyRequest, sim);
  const profileFile = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!profileFile) throw new Error('the profiled instance wrote no .cpuprofile');
  // the profile starts a little after the spawn: the cut lands in the idle gap before the counted run
  const { shares } = cpuShares(readCpuProfile(join(profileDir, profileFile)), countedFrom - spawnedAt - 100);
  const warmByCode = Object.fromEntries(Object.entries(shares).map(([k, v]) => [k, round(v * warmOurs.cpuMsPerVerification, 2)])) as Record<CodeOwner, number>;
  say(`  ours, by code: ${Object.entries(warmByCode).map(([k, v]) => `${k} ${v} ms`).join(', ')} (profile shares of ${warmOurs.cpuMsPerVerification} ms)`);

  const of = (k: Kind) => runs.filter((r) => r.kind === k);
  const med = (k: Kind, f: (r: Run) => number) => round1(median(of(k).map(f)));
  const m = {
    oursVerifyMs: med('oursVerify', (r) => r.ms),
    floorVerifyMs: med('floorVerify', (r) => r.ms),
    oursAnswerMs: med('oursAnswer', (r) => r.ms),
    helloAnswerMs: med('helloAnswer', (r) => r.ms),
    oursRssMb: med('oursVerify', (r) => r.peakRssMb),
    floorRssMb: med('floorVerify', (r) => r.peakRssMb),
    oursAnswerRssMb: med('oursAnswer', (r) => r.peakRssMb),
    helloRssMb: med('helloAnswer', (r) => r.peakRssMb),
    oursVerifyCpuMs: med('oursVerify', (r) => r.cpuMs ?? NaN),
    floorVerifyCpuMs: med('floorVerify', (r) => r.cpuMs ?? NaN),
  };
  const ratios = {
    verify: round(m.oursVerifyMs / m.floorVerifyMs, 2),
    answer: round(m.oursAnswerMs / m.helloAnswerMs, 2),
    rss: round(m.oursRssMb / m.floorRssMb, 2),
  };
  const pairs = (a: Kind, b: Kind, f: (r: Run) => number) =>
    round(median(of(a).map((x, i) => f(x) / f(of(b)[i]!))), 2);
  const pairedRatios = {
    verify: pairs('oursVerify', 'floorVerify', (r) => r.ms),
    answer: pairs('oursAnswer', 'helloAnswer', (r) => r.ms),
    rss: pairs('oursVerify', 'floorVerify', (r) => r.peakRssMb),
  };
  const met = {
    verify: ratios.verify <= TARGETS.verifyRatio,
    answer: ratios.answer <= TARGETS.answerRatio,
    rss: ratios.rss <= TARGETS.rssRatio,
    warmCpu: warmByCode.ours <= TARGETS.warmCpuMs,
  };
  const mark = (ok: boolean) => (ok ? '✓' : '✗');

  say(`\nmedians of ${ROUNDS} (same run, interleaved):\n`);
  say(
    table([
      ['', 'ours', 'reference', 'ratio', 'target'],
      ['spawn → first verification (200) ms', m.oursVerifyMs, `${m.floorVerifyMs} (floor)`, `${ratios.verify} ${mark(met.verify)}`, `≤ ${TARGETS.verifyRatio}`],
      ['spawn → first answer (401) ms', m.oursAnswerMs, `${m.helloAnswerMs} (bare ff)`, `${ratios.answer} ${mark(met.answer)}`, `≤ ${TARGETS.answerRatio}`],
      ['peak RSS after first verification MB', m.oursRssMb, `${m.floorRssMb} (floor)`, `${ratios.rss} ${mark(met.rss)}`, `≤ ${TARGETS.rssRatio}`],
      ['CPU to first verification ms', m.oursVerifyCpuMs, `${m.floorVerifyCpuMs} (floor)`, round(m.oursVerifyCpuMs / m.floorVerifyCpuMs, 2), ''],
      ['peak RSS at first answer MB', m.oursAnswerRssMb, `${m.helloRssMb} (bare ff)`, round(m.oursAnswerRssMb / m.helloRssMb, 2), ''],
      ['warm CPU ms / verification, process', warmOurs.cpuMsPerVerification, `${warmFloor.cpuMsPerVerification} (floor)`, round(warmOurs.cpuMsPerVerification / warmFloor.cpuMsPerVerification, 2), ''],
      ['  of it our code (main.js)', warmByCode.ours, '', '', `≤ ${TARGETS.warmCpuMs} ${mark(met.warmCpu)}`],
      ['  Google client libraries', warmByCode.libraries, '', '', ''],
      ['  functions framework (express)', warmByCode.functionsFramework, '', '', ''],
      ['  garbage collection', warmByCode.gc, '', '', ''],
      ['  Node runtime (sockets, HTTP/2, timers)', warmByCode.runtime, '', '', ''],
      ['warm latency p50 ms', warmOurs.p50Ms, `${warmFloor.p50Ms} (floor)`, '', ''],
      ['warm CPU ms / request, bare ff', '', warmHello.cpuMsPerVerification, '', ''],
    ]),
  );
  say(`\nratios of medians: verify ${ratios.verify}, first answer ${ratios.answer}, RSS ${ratios.rss}; median of per-round ratios: ${pairedRatios.verify}, ${pairedRatios.answer}, ${pairedRatios.rss}`);
  const firstCalls = of('oursVerify')[0]?.calls;
  if (firstCalls) say(`our first verification's calls: ${JSON.stringify(firstCalls)}`);
  const disturbed = runs.filter((r) => r.testRunSeen).length;
  if (disturbed) say(`note: a vitest run shared the machine during ${disturbed} of ${runs.length} starts`);

  const result = {
    benchmark: 'cold',
    measuredAt: new Date().toISOString(),
    machine: { ...machine, loadavgAtEnd: loadNow() },
    code: codeState(),
    setup: {
      rounds: ROUNDS,
      order: ORDER,
      ours: `node tools/serve-function.js --source=${OURS} --target=verifyPurchase`,
      codeCache: !values['no-code-cache'] && !values.ours,
      floor: `node ${FLOOR}`,
      bareFunction: `node tools/serve-function.js --source=${HELLO} --target=hello`,
      backends: 'Firestore emulator (gcloud), Play simulator (in the benchmark process), 127.0.0.1',
      purchase: `${PRODUCT} (non_consumable), a new purchase and a new user per start`,
      waitedForTestRunS: waitedS,
      durationS: round((performance.now() - t0) / 1000, 0),
    },
    medians: m,
    ratios,
    pairedRatios,
    targets: TARGETS,
    met,
    warm: { ours: warmOurs, floor: warmFloor, bareFunction: warmHello, oursByCodeMs: warmByCode },
    runs,
  };
  // Only the measurement of the deployable folder as built is the result; variants are printed.
  if (values.ours || values['no-code-cache']) say('\n(a variant run: tools/bench/results/cold.json left as it was)');
  else writeResult('cold.json', result);
  return 0;
}

const round1 = (x: number) => round(x, 1);

/** CPU per request of one warm instance over n requests (each job made beforehand), all answered 200. */
async function warmCpu<Job>(
  who: string,
  start: TimedStart,
  n: number,
  concurrency: number,
  newJob: () => Promise<Job>,
  request: (job: Job) => (url: string) => Promise<{ status: number; body: unknown }>,
  sim: PlaySimulator,
) {
  try {
    const jobs: Job[] = [];
    for (let i = 0; i < n + 20; i++) jobs.push(await newJob());
    const run = async (list: typeof jobs) => {
      const latencies: number[] = [];
      let next = 0;
      let failures = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < list.length) {
            const job = list[next++]!;
            const s = performance.now();
            const r = await request(job)(start.url);
            latencies.push(performance.now() - s);
            if (r.status !== 200) failures += 1;
          }
        }),
      );
      return { latencies, failures };
    };
    await run(jobs.slice(0, 20)); // JIT warm-up, not counted
    await sim.idle();
    const cpu0 = groupCpuMs(start.proc.pid) ?? NaN;
    const t = performance.now();
    const { latencies, failures } = await run(jobs.slice(20));
    const elapsedS = (performance.now() - t) / 1000;
    const cpuMs = (groupCpuMs(start.proc.pid) ?? NaN) - cpu0;
    if (failures) throw new Error(`${who} warm: ${failures} of ${n} requests were not 200`);
    const result = {
      verifications: n,
      concurrency,
      cpuMsPerVerification: round(cpuMs / n, 2),
      perSecond: round(n / elapsedS, 1),
      p50Ms: round1(median(latencies)),
      peakRssMb: mb(peakRssBytes(start.proc.pid)),
    };
    say(`  ${who}: ${result.cpuMsPerVerification} ms CPU per request, p50 ${result.p50Ms} ms, ${result.perSecond}/s, peak RSS ${result.peakRssMb} MB`);
    return { result, countedFrom: t };
  } finally {
    await start.proc.stop();
  }
}

/** Waits (at most maxMs) until no vitest run shares the machine; returns the seconds waited. */
async function waitForNoTestRun(maxMs: number): Promise<number> {
  const t = Date.now();
  if (vitestPids().length === 0) return 0;
  say(`a vitest run is going: waiting up to ${maxMs / 1000} s for it to end…`);
  while (vitestPids().length > 0 && Date.now() - t < maxMs) await sleep(1000);
  say(vitestPids().length > 0 ? 'still going: measuring anyway (the runs say so)' : 'it ended');
  return round((Date.now() - t) / 1000, 0);
}

runBench('bench:cold', main);
