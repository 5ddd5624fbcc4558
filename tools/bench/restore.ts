import { isDeepStrictEqual, parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Firestore } from '@google-cloud/firestore';
import { CatalogSchema } from '../../shared/catalog';
import { emulatorIdToken } from '../../test/helpers/id-tokens';
import { startPlaySimulator, type CreatePurchaseInput, type PlaySimulator } from '../play-simulator';
import { PLAY_PACKAGE, ROOT, functionEnv } from '../local-stack/functions';
import {
  codeState,
  fmtCalls,
  loadNow,
  machineInfo,
  onCleanup,
  percentile,
  perItem,
  positiveInt,
  rng,
  round,
  runBench,
  say,
  sleep,
  spawnInstance,
  startFirestore,
  sumCalls,
  table,
  waitFor,
  writeBenchFiles,
  writeResult,
  type Instance,
} from './lib';
import { groupCpuMs } from '../local-stack/processes';
import { buildVerified, EntitlementDocs, writeInBatches, type WriteOp } from './seed';

/**
 * `npm run bench:restore`: a reinstall wave. N users (default 2,000) each own 3 purchases (a monthly
 * subscription, a non-consumable, and a consumable or a yearly subscription), mostly current, some in
 * states that must be read from Play: near expiry (within the 1 h margin), in grace, revoked; some
 * canceled but still paid (trusted). Every purchase is verified again by its owner at concurrency 16,
 * first by an instance with PLAY_TRUST_STORED_STATE=true (the default), then by one with it false,
 * same Firestore emulator, same Play simulator, same run. Prints Play calls per verification, throughput
 * and p50/p99 of each, and checks that every stored-state answer equals the Play-read one.
 */
const USAGE = 'Usage: npm run bench:restore [-- --users 2000 --concurrency 16 --seed 1]';
const MINUTE = 60_000;
const { values } = parseArgs({
  options: { users: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '16' }, seed: { type: 'string', default: '1' }, help: { type: 'boolean', default: false } },
});
if (values.help) {
  say(USAGE);
  process.exit(0);
}
const USERS = positiveInt('--users', values.users, 100_000);
const C = positiveInt('--concurrency', values.concurrency, 256);

/** How a purchase stands when the wave comes; `special` ones are set up at Play and verified for real first. */
type Kind = 'current' | 'canceled' | 'nearExpiry' | 'grace' | 'revoked';
interface Job {
  uid: string;
  productId: string;
  token: string;
  kind: Kind;
}

const PRODUCTS: Record<string, CreatePurchaseInput> = {
  premium_monthly: { type: 'subscription', productId: 'premium_monthly', basePlanId: 'monthly' },
  premium_yearly: { type: 'subscription', productId: 'premium_yearly', basePlanId: 'yearly', periodMs: 365 * 86_400_000 },
  remove_ads: { type: 'product', productId: 'remove_ads' },
  coins_100: { type: 'product', productId: 'coins_100' },
};

/** The answer as an app reads it; `source` (where it came from) is the one field allowed to differ. */
const answerOf = (status: number, body: Record<string, unknown>) => {
  const { source: _source, ...rest } = body;
  return { status, body: rest };
};
type Answer = ReturnType<typeof answerOf>;

interface Phase {
  mode: 'trusted' | 'play';
  verifications: number;
  elapsedS: number;
  perSecond: number;
  latencyMs: { p50: number; p99: number };
  statuses: Record<string, number>;
  fromStore: number;
  playCalls: number;
  playCallsPerVerification: number;
  functionCallsPerVerification: Record<string, number>;
  /** CPU ms per verification: the function's process, the Firestore emulator (JVM), this process (load + Play simulator). */
  cpuMsPerVerification: { function: number; firestoreEmulator: number; benchAndSimulator: number };
}

let firestorePid = -1;

async function wave(mode: Phase['mode'], inst: Instance, sim: PlaySimulator, jobs: Job[], projectId: string, answers: Map<string, Answer>): Promise<Phase> {
  await sim.idle();
  sim.resetStats();
  inst.lines.length = 0;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let fromStore = 0;
  let next = 0;
  const cpu0 = { f: groupCpuMs(inst.proc.pid) ?? NaN, e: groupCpuMs(firestorePid) ?? NaN, b: process.cpuUsage() };
  const t0 = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const started = performance.now();
      const res = await fetch(inst.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${emulatorIdToken({ projectId, uid: job.uid })}` },
        body: JSON.stringify({ packageName: PLAY_PACKAGE, productId: job.productId, purchaseToken: job.token }),
      });
      const body = (await res.json()) as Record<string, unknown>;
      latencies.push(performance.now() - started);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (body.source === 'store') fromStore++;
      answers.set(job.token, answerOf(res.status, body));
    }
  };
  await Promise.all(Array.from({ length: C }, worker));
  const elapsedS = (performance.now() - t0) / 1000;
  const bench = process.cpuUsage(cpu0.b);
  const cpuMsPerVerification = {
    function: round(((groupCpuMs(inst.proc.pid) ?? NaN) - cpu0.f) / jobs.length, 2),
    firestoreEmulator: round(((groupCpuMs(firestorePid) ?? NaN) - cpu0.e) / jobs.length, 2),
    benchAndSimulator: round((bench.user + bench.system) / 1000 / jobs.length, 2),
  };
  await waitFor(() => inst.lines.length >= jobs.length, 10_000);
  const playCalls = Object.values(sim.stats().calls).reduce((a, b) => a + b, 0);
  return {
    mode,
    verifications: jobs.length,
    elapsedS: round(elapsedS, 2),
    perSecond: round(jobs.length / elapsedS, 1),
    latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
    statuses,
    fromStore,
    playCalls,
    playCallsPerVerification: round(playCalls / jobs.length, 4),
    functionCallsPerVerification: perItem(sumCalls(inst.lines), jobs.length),
    cpuMsPerVerification,
  };
}

async function main(): Promise<number> {
  const machine = machineInfo();
  say(`restore benchmark: ${USERS} users x 3 purchases, concurrency ${C}; ${machine.cpus} cores, Node ${machine.node}, load ${machine.loadavgAtStart.join(' ')}`);
  const random = rng(Number(values.seed));
  const catalog = CatalogSchema.parse(JSON.parse(readFileSync(join(ROOT, 'examples/catalog.json'), 'utf8')));
  const projectId = `bench-restore-${Date.now().toString(36)}`;
  const firestore = await startFirestore();
  firestorePid = firestore.process.pid;
  const sim = await startPlaySimulator(); // no notifications: nothing changes during the wave
  onCleanup(() => sim.close());
  const { keyFile, catalog: catalogFile } = writeBenchFiles(sim.serviceAccountKey, catalog);
  const base = functionEnv({ projectId, firestoreHost: firestore.host, playApiRootUrl: sim.url, oauthTokenUrl: sim.tokenUrl, keyFile, catalog: catalogFile, logLevel: 'INFO' });
  const spawn = async (trust: boolean) => {
    const inst = await spawnInstance({ target: 'verifyPurchase', env: { ...base, PLAY_TRUST_STORED_STATE: String(trust) } });
    onCleanup(() => inst.proc.stop());
    return inst;
  };
  const [trusted, play] = [await spawn(true), await spawn(false)];

  // Seeding: current purchases built as verifyPurchase stores them (batched); the others set up at
  // Play and verified for real by the Play-reading instance, as their first verification was.
  const tSeed = performance.now();
  const jobs: Job[] = [];
  const special: Job[] = [];
  const ops: WriteOp[] = [];
  const ents = new EntitlementDocs();
  const coins = new Map<string, number>();
  const pick = <T>(mix: [T, number][]): T => {
    let x = random();
    for (const [v, p] of mix) if ((x -= p) < 0) return v;
    return mix[mix.length - 1]![0];
  };
  for (let u = 0; u < USERS; u++) {
    const uid = `restore-${u}`;
    const slots: [string, Kind][] = [
      ['premium_monthly', pick<Kind>([['current', 0.92], ['canceled', 0.04], ['nearExpiry', 0.02], ['grace', 0.02]])],
      ['remove_ads', pick<Kind>([['current', 0.97], ['revoked', 0.03]])],
      [random() < 0.5 ? 'coins_100' : 'premium_yearly', 'current'],
    ];
    for (const [productId, kind] of slots) {
      const input = { ...PRODUCTS[productId]!, packageName: PLAY_PACKAGE, ...(kind === 'nearExpiry' ? { periodMs: 30 * MINUTE } : {}) };
      const view = await sim.createPurchase(input);
      const job = { uid, productId, token: view.purchaseToken, kind };
      jobs.push(job);
      if (kind === 'current') {
        const at = new Date(sim.now());
        const built = buildVerified(catalog, view, uid, at);
        await sim.transition(view.purchaseToken, catalog.products[productId]!.type === 'consumable' ? 'consume' : 'acknowledge');
        ops.push(...built.ops);
        ents.add(uid, built.record, at);
        if (built.credit?.coins) coins.set(uid, (coins.get(uid) ?? 0) + built.credit.coins);
      } else {
        if (kind === 'revoked') await sim.transition(view.purchaseToken, 'refund', { revoke: true });
        special.push(job);
      }
    }
  }
  const now = new Date(sim.now());
  for (const [uid, n] of coins) ops.push({ ref: `users/${uid}`, data: { balances: { coins: n }, updatedAt: now }, merge: true });
  process.env.FIRESTORE_EMULATOR_HOST = firestore.host;
  const db = new Firestore({ projectId, ignoreUndefinedProperties: true });
  onCleanup(() => db.terminate());
  await writeInBatches(db, [...ops, ...ents.ops()]);
  const first = new Map<string, Answer>();
  await wave('play', play, sim, special, projectId, first);
  for (const job of special) {
    if (job.kind === 'canceled') await sim.transition(job.token, 'cancel');
    if (job.kind === 'grace') await sim.transition(job.token, 'grace');
  }
  // what RTDN would have told the store about the cancel and grace: verified again, reading Play
  await wave('play', play, sim, special.filter((j) => j.kind === 'canceled' || j.kind === 'grace'), projectId, first);
  const firstStatuses = [...first.values()].map((a) => a.status);
  say(`seeded ${jobs.length} purchases (${special.length} through verifyPurchase: ${firstStatuses.filter((s) => s === 200).length} x 200, ${firstStatuses.filter((s) => s !== 200).length} other) in ${round((performance.now() - tSeed) / 1000)} s`);

  // The wave, trusted first, then the same purchases reading Play.
  await sleep(1000);
  shuffle(jobs, random);
  const trustedAnswers = new Map<string, Answer>();
  const playAnswers = new Map<string, Answer>();
  const a = await wave('trusted', trusted, sim, jobs, projectId, trustedAnswers);
  const b = await wave('play', play, sim, jobs, projectId, playAnswers);

  const mismatches = jobs.filter((j) => !isDeepStrictEqual(trustedAnswers.get(j.token), playAnswers.get(j.token)));
  const byKind: Record<string, string> = {};
  for (const kind of ['current', 'canceled', 'nearExpiry', 'grace', 'revoked'] as Kind[]) {
    const of = jobs.filter((j) => j.kind === kind);
    byKind[kind] = `${of.length} (${of.filter((j) => trustedAnswers.get(j.token)?.status === 200).length} x 200)`;
  }

  say('');
  say(
    table([
      ['PLAY_TRUST_STORED_STATE', 'verifications', 'per second', 'p50 ms', 'p99 ms', 'from Firestore', 'Play calls / verification', 'statuses'],
      ...[a, b].map((p) => [
        p.mode === 'trusted' ? 'true (default)' : 'false',
        p.verifications,
        p.perSecond,
        p.latencyMs.p50,
        p.latencyMs.p99,
        p.fromStore,
        p.playCallsPerVerification,
        Object.entries(p.statuses).map(([s, n]) => `${n} x ${s}`).join(', '),
      ]),
    ]),
  );
  say(`\nper verification, from the function's log lines: trusted ${fmtCalls(a.functionCallsPerVerification)}; play ${fmtCalls(b.functionCallsPerVerification)}`);
  say(`CPU ms per verification (function / Firestore emulator / load + simulator): trusted ${Object.values(a.cpuMsPerVerification).join(' / ')}; play ${Object.values(b.cpuMsPerVerification).join(' / ')}`);
  say(`purchases by state: ${Object.entries(byKind).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const ratio = round(a.perSecond / b.perSecond, 2);
  const checks = [
    { what: 'Play calls per verification <= 0.05', ok: a.playCallsPerVerification <= 0.05, detail: `${a.playCallsPerVerification} (${a.playCalls} calls)` },
    { what: 'throughput >= 2x the Play-reading run', ok: ratio >= 2, detail: `${ratio}x (${a.perSecond}/s vs ${b.perSecond}/s)` },
    { what: 'every answer equals the Play-read answer (source aside)', ok: mismatches.length === 0, detail: `${mismatches.length} differ${mismatches[0] ? `, e.g. ${mismatches[0].kind} ${mismatches[0].productId}: ${JSON.stringify(trustedAnswers.get(mismatches[0].token))} vs ${JSON.stringify(playAnswers.get(mismatches[0].token))}` : ''}` },
    { what: 'current and canceled purchases answered 200 by both', ok: jobs.filter((j) => j.kind === 'current' || j.kind === 'canceled').every((j) => playAnswers.get(j.token)?.status === 200), detail: '' },
  ];
  say('\nchecks:');
  for (const c of checks) say(`  ${c.ok ? '✓' : '✗'} ${c.what}: ${c.detail}`);
  writeResult('restore.json', {
    benchmark: 'restore',
    measuredAt: new Date().toISOString(),
    code: codeState(),
    machine: { ...machine, loadavgAtEnd: loadNow() },
    setup: { users: USERS, purchasesPerUser: 3, concurrency: C, purchasesByState: byKind, server: 'two verifyPurchase instances (tools/serve-function.js), one Firestore emulator, the Play simulator in this process' },
    trusted: a,
    play: b,
    throughputRatio: ratio,
    checks,
    passed: checks.every((c) => c.ok),
  });
  return checks.every((c) => c.ok) ? 0 : 1;
}

function shuffle<T>(xs: T[], random: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
}

runBench('bench:restore', main);
