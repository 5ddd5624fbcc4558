import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Firestore, type DocumentSnapshot } from '@google-cloud/firestore';
import { emulatorIdToken } from '../../test/helpers/id-tokens';
import { startPlaySimulator, type PlaySimulator, type TransitionName } from '../play-simulator';
import { createRtdnPublisher, pushToFunction } from '../play-simulator/pubsub';
import { PLAY_PACKAGE, functionEnv } from '../local-stack/functions';
import {
  cpuPerItem,
  codeState,
  cpuSnapshot,
  otherCpuPct,
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
  serveEventFunction,
  sleep,
  spawnInstance,
  startFirestore,
  startPubSub,
  sumCalls,
  table,
  waitForQuietMachine,
  watchForTestRuns,
  writeBenchFiles,
  writeResult,
  type TimedLine,
} from './lib';

/**
 * `npm run bench:load`: N concurrent clients verifying purchases (subscriptions, non-consumables,
 * consumables; some repeat verifications; some refused: a second user on a claimed token) while the
 * Play simulator makes M lifecycle transitions per second (renew, cancel, grace, hold, recover, pause,
 * resume, restart, expire, revoke, defer; refunds of one-time purchases), each published as an RTDN
 * to the Pub/Sub emulator and pushed to playRtdn, for a fixed time. Then it waits for every
 * notification to be applied and checks Firestore against the simulator's truth: one owner per
 * purchase, entitlement active/inactive as the state says, consumables credited once (and taken back
 * once when refunded). Exit 1 on any inconsistency. Everything on 127.0.0.1, bounded in time.
 * Writes tools/bench/results/load.json.
 */

const USAGE =
  'Usage: npm run bench:load [-- --clients 8 --rtdn-per-s 5 --duration-s 30 --users-per-client 4 --seed 1 --drain-timeout-s 300]';
const CATALOG = {
  products: {
    premium_monthly: { type: 'subscription', entitlements: ['premium'] },
    remove_ads: { type: 'non_consumable', entitlements: ['no_ads'] },
    coins_100: { type: 'consumable', credits: { coins: 100 } },
  },
};
type Kind = 'subscription' | 'non_consumable' | 'consumable';
const PRODUCT: Record<Kind, string> = { subscription: 'premium_monthly', non_consumable: 'remove_ads', consumable: 'coins_100' };
const ENTITLEMENT: Partial<Record<Kind, string>> = { subscription: 'premium', non_consumable: 'no_ads' };
const COINS = 100;
const ACCESS_STATES = new Set(['SUBSCRIPTION_STATE_ACTIVE', 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD', 'SUBSCRIPTION_STATE_CANCELED']);

/** Transitions the notifier may make from each subscription state (the simulator's rules). */
const NEXT: Record<string, TransitionName[]> = {
  SUBSCRIPTION_STATE_ACTIVE: ['renew', 'renew', 'cancel', 'grace', 'pause', 'defer', 'expire', 'revoke'],
  SUBSCRIPTION_STATE_IN_GRACE_PERIOD: ['recover', 'hold', 'cancel', 'expire'],
  SUBSCRIPTION_STATE_ON_HOLD: ['recover', 'cancel', 'expire'],
  SUBSCRIPTION_STATE_PAUSED: ['resume', 'cancel', 'expire'],
  SUBSCRIPTION_STATE_CANCELED: ['restart', 'expire'],
};

interface Tracked {
  token: string;
  kind: Kind;
  /** The first user whose verification answered 200. */
  owner?: string;
  /** One-time purchase refunded (and revoked) at the simulator. */
  refunded?: boolean;
  client: number;
}

type Category = 'new subscription' | 'new non-consumable' | 'new consumable' | 'repeat (owner)' | 'second user (refused)';
interface Sample {
  category: Category;
  status: number;
  code: string;
  ms: number;
  expected: boolean;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '8' },
      'rtdn-per-s': { type: 'string', default: '5' },
      'duration-s': { type: 'string', default: '30' },
      'users-per-client': { type: 'string', default: '4' },
      seed: { type: 'string', default: '1' },
      'drain-timeout-s': { type: 'string', default: '300' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const CLIENTS = positiveInt('clients', values.clients, 32);
  const RATE = positiveInt('rtdn-per-s', values['rtdn-per-s'], 50);
  const DURATION_MS = positiveInt('duration-s', values['duration-s'], 600) * 1000;
  const USERS = positiveInt('users-per-client', values['users-per-client'], 100);
  const SEED = positiveInt('seed', values.seed);
  const DRAIN_MS = positiveInt('drain-timeout-s', values['drain-timeout-s'], 1800) * 1000;

  const quiet = await waitForQuietMachine();
  const watch = watchForTestRuns();
  const machine = machineInfo();
  say(
    `load benchmark: ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, ` +
      `load ${machine.loadavgAtStart.join(' ')}, calibration ${machine.calibrationMs} ms`,
  );
  const projectId = `bench-${Date.now().toString(36)}`;
  const [firestore, pubsub] = await Promise.all([startFirestore(), startPubSub(projectId)]);
  process.env.FIRESTORE_EMULATOR_HOST = firestore.host; // this process reads Firestore for the final check
  const publisher = await createRtdnPublisher({ projectId, topic: 'play-rtdn', emulatorHost: pubsub.host });
  onCleanup(() => publisher.close());

  // Every RTDN the simulator sends (purchases and transitions) is published without blocking it.
  const publishes: Promise<void>[] = [];
  const publishedAt = new Map<string, number>();
  let publishFailures = 0;
  const sim = await startPlaySimulator({
    onNotification: (n) => {
      const at = performance.now();
      publishes.push(
        publisher.publish(n).then(
          (id) => void publishedAt.set(id, at),
          () => void (publishFailures += 1),
        ),
      );
    },
  });
  onCleanup(() => sim.close());
  const files = writeBenchFiles(sim.serviceAccountKey, CATALOG);
  const env = functionEnv({
    projectId,
    firestoreHost: firestore.host,
    pubsubHost: pubsub.host,
    playApiRootUrl: sim.url,
    oauthTokenUrl: sim.tokenUrl,
    keyFile: files.keyFile,
    catalog: files.catalog,
    logLevel: 'INFO',
  });
  const verify = await spawnInstance({ target: 'verifyPurchase', env });
  onCleanup(() => verify.proc.stop());
  const rtdn = await serveEventFunction({ target: 'playRtdn', env });
  await pushToFunction(publisher, { subscription: 'play-rtdn-push', functionUrl: rtdn.url, projectId, ackDeadlineSeconds: 300 });
  say(`Firestore emulator ${firestore.host}, Pub/Sub emulator ${pubsub.host}, Play simulator ${sim.url}, project ${projectId}`);
  say(`verifyPurchase ${verify.url}, playRtdn ${rtdn.url} (push subscription play-rtdn-push)`);

  const post = async (uid: string, t: Tracked) => {
    const s = performance.now();
    try {
      const res = await fetch(verify.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${emulatorIdToken({ projectId, uid })}` },
        body: JSON.stringify({ packageName: PLAY_PACKAGE, productId: PRODUCT[t.kind], purchaseToken: t.token }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      return { status: res.status, code: res.status === 200 ? 'ok' : (body.error?.code ?? 'unknown'), ms: performance.now() - s };
    } catch (e) {
      return { status: 0, code: `network: ${(e as Error).name}`, ms: performance.now() - s };
    }
  };

  // A short warm-up (first token exchange, first Firestore connections), not counted.
  {
    const p = await sim.createPurchase({ type: 'product', productId: PRODUCT.non_consumable });
    const w = await post('warm-up-user', { token: p.purchaseToken, kind: 'non_consumable', client: -1 });
    if (w.status !== 200) throw new Error(`warm-up verification answered ${w.status} ${w.code}`);
    await sim.idle();
    await Promise.all(publishes);
    const until = Date.now() + 15_000;
    while (Date.now() < until && ![...publishedAt.keys()].every((id) => rtdn.lines.some((l) => l.messageId === id))) await sleep(100);
  }
  const warmIds = new Set(publishedAt.keys());

  const tracked: Tracked[] = [];
  const owned: Tracked[] = [];
  const samples: Sample[] = [];
  const transitions: Record<string, number> = {};
  let transitionErrors = 0;
  /** Ticks with nothing to transition (no owned purchase yet, or only expired ones picked). */
  let idleTicks = 0;
  const random = rng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

  const cpu0 = cpuSnapshot({ verifyPurchase: verify.proc.pid, playRtdn: rtdn.proc.pid, firestoreEmulator: firestore.process.pid, pubsubEmulator: pubsub.process.pid });
  const t0 = performance.now();
  const deadline = t0 + DURATION_MS;
  say(`\nload: ${CLIENTS} clients, ${RATE} lifecycle transitions/s, ${DURATION_MS / 1000} s…`);

  const client = async (c: number) => {
    const users = Array.from({ length: USERS }, (_, k) => `load-c${c}-u${k}`);
    while (performance.now() < deadline) {
      const r = random();
      const mine = owned.filter((t) => t.client === c);
      const others = owned.filter((t) => t.client !== c);
      if (r < 0.7 || mine.length === 0) {
        const x = random();
        const kind: Kind = x < 0.4 ? 'subscription' : x < 0.7 ? 'non_consumable' : 'consumable';
        const p = await sim.createPurchase(
          kind === 'subscription' ? { type: 'subscription', productId: PRODUCT[kind] } : { type: 'product', productId: PRODUCT[kind] },
        );
        const t: Tracked = { token: p.purchaseToken, kind, client: c };
        tracked.push(t);
        const uid = pick(users);
        const res = await post(uid, t);
        if (res.status === 200) {
          t.owner = uid;
          owned.push(t);
        }
        const category: Category = kind === 'subscription' ? 'new subscription' : kind === 'non_consumable' ? 'new non-consumable' : 'new consumable';
        samples.push({ category, ...res, expected: res.status === 200 });
      } else if (r < 0.9 || others.length === 0) {
        const t = pick(mine);
        const res = await post(t.owner!, t);
        // A refunded one-time purchase answers 410 purchase_canceled; everything else 200.
        const expected = res.status === 200 || (t.refunded === true && res.code === 'purchase_canceled');
        samples.push({ category: 'repeat (owner)', ...res, expected });
      } else {
        const t = pick(others);
        const res = await post(pick(users), t);
        samples.push({ category: 'second user (refused)', ...res, expected: res.status === 409 && res.code === 'purchase_claimed' });
      }
    }
  };

  const notifier = async () => {
    const interval = 1000 / RATE;
    let tick = t0;
    ticks: while (performance.now() < deadline) {
      tick += interval;
      const wait = tick - performance.now();
      if (wait > 0) await sleep(wait);
      if (performance.now() >= deadline) break;
      const subs = owned.filter((t) => t.kind === 'subscription');
      const oneTime = owned.filter((t) => t.kind !== 'subscription' && !t.refunded);
      try {
        if (random() < 0.2 && oneTime.length > 0) {
          const t = pick(oneTime);
          await sim.transition(t.token, 'refund', { revoke: true });
          t.refunded = true;
          transitions[`refund ${t.kind}`] = (transitions[`refund ${t.kind}`] ?? 0) + 1;
          continue;
        }
        for (let attempt = 0; attempt < 5 && subs.length > 0; attempt++) {
          const t = pick(subs);
          const state = String((sim.get(t.token)?.resource as { subscriptionState?: string }).subscriptionState);
          const options = NEXT[state];
          if (!options) continue; // expired: nothing left to do with it
          const name = pick(options);
          if (name === 'defer') await sim.transition(t.token, 'defer', { durationMs: 7 * 86_400_000 });
          else await sim.transition(t.token, name);
          transitions[name] = (transitions[name] ?? 0) + 1;
          continue ticks;
        }
        idleTicks += 1;
      } catch {
        transitionErrors += 1;
      }
    }
  };

  await Promise.all([...Array.from({ length: CLIENTS }, (_, c) => client(c)), notifier()]);
  const loadS = (performance.now() - t0) / 1000;
  const cpu1 = cpuSnapshot({ verifyPurchase: verify.proc.pid, playRtdn: rtdn.proc.pid, firestoreEmulator: firestore.process.pid, pubsubEmulator: pubsub.process.pid });

  // Drain: every RTDN published must be applied (bounded wait).
  say(`load phase over after ${round(loadS, 1)} s; waiting for the remaining notifications…`);
  await sim.idle();
  await Promise.all(publishes);
  const drain0 = performance.now();
  const done = () => {
    const seen = new Set(rtdn.lines.map((l) => String(l.messageId)));
    return [...publishedAt.keys()].filter((id) => !seen.has(id)).length;
  };
  while (done() > 0 && performance.now() - drain0 < DRAIN_MS) await sleep(250);
  const drainS = (performance.now() - drain0) / 1000;
  const unprocessed = done();

  // Figures.
  const measured = samples;
  const lat = (xs: Sample[]) => ({ p50: round(percentile(xs.map((s) => s.ms), 50)), p99: round(percentile(xs.map((s) => s.ms), 99)) });
  const byCode: Record<string, number> = {};
  for (const s of measured) byCode[s.status === 200 ? '200' : `${s.status} ${s.code}`] = (byCode[`${s.status === 200 ? '200' : `${s.status} ${s.code}`}`] ?? 0) + 1;
  const categories = [...new Set(measured.map((s) => s.category))].map((category) => {
    const xs = measured.filter((s) => s.category === category);
    const codes: Record<string, number> = {};
    for (const s of xs) codes[s.status === 200 ? '200' : `${s.status} ${s.code}`] = (codes[s.status === 200 ? '200' : `${s.status} ${s.code}`] ?? 0) + 1;
    return { category, requests: xs.length, ...lat(xs), codes, unexpected: xs.filter((s) => !s.expected).length };
  });
  const firstLine = new Map<string, TimedLine>();
  for (const l of rtdn.lines) if (!firstLine.has(String(l.messageId))) firstLine.set(String(l.messageId), l);
  const runIds = [...publishedAt.keys()].filter((id) => !warmIds.has(id));
  const applied = runIds.map((id) => firstLine.get(id)).filter((l): l is TimedLine => l !== undefined);
  const lag = runIds.filter((id) => firstLine.has(id)).map((id) => firstLine.get(id)!.at - publishedAt.get(id)!);
  const outcomes: Record<string, number> = {};
  for (const l of applied) outcomes[String(l.outcome)] = (outcomes[String(l.outcome)] ?? 0) + 1;
  const redeliveries = rtdn.lines.length - firstLine.size;
  const transitionCount = Object.values(transitions).reduce((a, b) => a + b, 0);

  say('\nverifications:');
  say(
    table([
      ['category', 'requests', 'p50 ms', 'p99 ms', 'answers', 'unexpected'],
      ...categories.map((c) => [c.category, c.requests, c.p50, c.p99, Object.entries(c.codes).map(([k, v]) => `${k}: ${v}`).join(', '), c.unexpected]),
      ['all', measured.length, lat(measured).p50, lat(measured).p99, Object.entries(byCode).map(([k, v]) => `${k}: ${v}`).join(', '), measured.filter((s) => !s.expected).length],
    ]),
  );
  const verPerS = round(measured.length / loadS, 1);
  say(`  ${verPerS} verifications/s over ${round(loadS, 1)} s (${CLIENTS} clients)`);
  say('\nnotifications:');
  say(
    `  lifecycle transitions: ${transitionCount} (${round(transitionCount / (DURATION_MS / 1000), 1)}/s; target ${RATE}/s; ${idleTicks} ticks with nothing to do yet), ` +
      `failed ${transitionErrors}: ${JSON.stringify(transitions)}`,
  );
  say(`  RTDNs published during the run: ${runIds.length} (purchases and transitions), publish failures ${publishFailures}`);
  say(`  applied: ${applied.length}, not applied after a ${round(drainS, 1)} s drain: ${unprocessed}; outcomes ${JSON.stringify(outcomes)}`);
  say(`  publish → applied p50 ${round(percentile(lag, 50))} ms, p99 ${round(percentile(lag, 99))} ms; redeliveries ${redeliveries}, events that threw ${rtdn.retries.length}`);
  say(`  playRtdn calls per notification: ${JSON.stringify(perItem(sumCalls(applied), applied.length))}`);

  say('\nconsistency check against the simulator…');
  const consistency = await checkConsistency(new Firestore({ projectId }), sim, tracked);
  const foreignGranted = measured.filter((s) => s.category === 'second user (refused)' && s.status === 200).length;
  if (foreignGranted > 0) consistency.problems.unshift(`${foreignGranted} second-user verifications answered 200`);
  if (unprocessed > 0) consistency.problems.unshift(`${unprocessed} notifications not applied after ${round(drainS, 1)} s`);
  const consistent = consistency.problems.length === 0;
  say(`  purchases checked ${consistency.purchases}, owners ${consistency.users}; ${consistent ? '✓ consistent' : `✗ ${consistency.problems.length} problems`}`);
  for (const p of consistency.problems.slice(0, 20)) say(`    - ${p}`);

  const result = {
    benchmark: 'load: verifyPurchase + playRtdn',
    measuredAt: new Date().toISOString(),
    code: codeState(),
    machine: { ...machine, loadavgAtEnd: loadNow(), waitedForQuietS: quiet.waitedS, busyPctBeforeStart: quiet.busyPct, testRunSeenDuring: watch.seenAt().length > 0 ? `${watch.seenAt().length} s (${watch.seenAt()[0]} …)` : 'no' },
    setup: {
      clients: CLIENTS,
      usersPerClient: USERS,
      transitionsPerSecond: RATE,
      durationS: DURATION_MS / 1000,
      seed: SEED,
      mix: '70 % new purchases (40 % subscriptions, 30 % non-consumables, 30 % consumables), 20 % repeat by the owner, 10 % a second user on a claimed token',
      notifier:
        '80 % subscription transitions chosen among those valid in the current state (renew, cancel, grace, hold, recover, pause, resume, restart, expire, revoke, defer), 20 % refund+revoke of a one-time purchase; every RTDN the simulator sends (purchases too) is published to the Pub/Sub emulator, pushed to playRtdn',
      servers: 'verifyPurchase and playRtdn: one instance each, node tools/serve-function.js (dist/index.js), 127.0.0.1',
    },
    verifications: {
      total: measured.length,
      perSecond: verPerS,
      latencyMs: lat(measured),
      byCode,
      unexpected: measured.filter((s) => !s.expected).length,
      categories,
    },
    notifications: {
      transitions: transitionCount,
      transitionsPerSecond: round(transitionCount / (DURATION_MS / 1000), 1),
      idleTicks,
      transitionErrors,
      transitionsByName: transitions,
      published: runIds.length,
      publishFailures,
      applied: applied.length,
      unprocessedAfterDrain: unprocessed,
      drainS: round(drainS, 1),
      outcomes,
      publishToAppliedMs: { p50: round(percentile(lag, 50)), p99: round(percentile(lag, 99)), max: round(Math.max(...lag, 0)) },
      redeliveries,
      eventsThatThrew: rtdn.retries.length,
      callsPerNotification: perItem(sumCalls(applied), applied.length),
    },
    cpuMsPerSecondOfLoad: cpuPerItem(cpu0, cpu1, loadS),
    otherProcessesCpuPct: otherCpuPct(cpu0, cpu1),
    consistency: { ...consistency, consistent },
    passed: consistent,
  };
  say(`\nother processes (not this benchmark) used ${otherCpuPct(cpu0, cpu1)} % of the CPU during the load phase`);
  if (watch.seenAt().length > 0) say(`! a vitest run shared the machine during ${watch.seenAt().length} s of this run: its figures are disturbed.`);
  writeResult('load.json', result);
  return consistent ? 0 : 1;
}

/** Firestore against the simulator's truth, for every purchase the run created. */
async function checkConsistency(db: Firestore, sim: PlaySimulator, tracked: Tracked[]) {
  const problems: string[] = [];
  const now = Date.now();
  const get = async (paths: string[]): Promise<Map<string, DocumentSnapshot>> => {
    const out = new Map<string, DocumentSnapshot>();
    for (let i = 0; i < paths.length; i += 200) {
      const snaps = await db.getAll(...paths.slice(i, i + 200).map((p) => db.doc(p)));
      for (const s of snaps) out.set(s.ref.path, s);
    }
    return out;
  };
  const purchases = await get(tracked.map((t) => `purchases/${sha256(t.token)}`));
  const owners = [...new Set(tracked.flatMap((t) => (t.owner ? [t.owner] : [])))];
  const users = await get(owners.map((u) => `users/${u}`));
  const entitlementPaths = owners.flatMap((u) => Object.values(ENTITLEMENT).map((e) => `users/${u}/entitlements/${e}`));
  const entitlements = await get(entitlementPaths);

  /** Per owner: expected coins, and whether any source should make each entitlement active. */
  const expected = new Map<string, { coins: number; active: Record<string, boolean>; hasCoins: boolean }>();
  for (const t of tracked) {
    const id = sha256(t.token);
    const short = `${t.kind} ${id.slice(0, 10)}`;
    const doc = purchases.get(`purchases/${id}`)?.data();
    const truth = sim.get(t.token)!.resource as {
      subscriptionState?: string;
      lineItems?: { expiryTime?: string }[];
      purchaseState?: number;
    };
    if (!t.owner) {
      // Never verified with success: it may be known from an RTDN, but nobody owns it.
      if (doc && doc.uid !== null) problems.push(`${short}: no verification succeeded, yet owned by ${doc.uid}`);
      continue;
    }
    if (!doc) {
      problems.push(`${short}: verified for ${t.owner} but no purchases document`);
      continue;
    }
    if (doc.uid !== t.owner) problems.push(`${short}: owner ${doc.uid}, expected ${t.owner}`);
    const e = expected.get(t.owner) ?? { coins: 0, active: {}, hasCoins: false };
    expected.set(t.owner, e);
    if (t.kind === 'consumable') {
      e.hasCoins = true;
      const refunded = truth.purchaseState === 1;
      e.coins += refunded ? 0 : COINS;
      if (doc.credited?.coins !== COINS) problems.push(`${short}: credited ${JSON.stringify(doc.credited)}, expected {coins: ${COINS}} once`);
      if (refunded && doc.creditsReversed?.coins !== COINS) problems.push(`${short}: refunded at Play but credits not taken back (${JSON.stringify(doc.creditsReversed)})`);
      if (!refunded && doc.creditsReversed) problems.push(`${short}: credits taken back but not refunded at Play`);
      continue;
    }
    let active: boolean;
    if (t.kind === 'subscription') {
      const state = truth.subscriptionState ?? '';
      const expiry = Date.parse(truth.lineItems?.[0]?.expiryTime ?? '');
      active = ACCESS_STATES.has(state) && expiry > now;
      const want = state.replace('SUBSCRIPTION_STATE_', '').toLowerCase();
      if (!doc.revoked && doc.state !== want) problems.push(`${short}: state ${doc.state}, Play says ${want}`);
      if (!doc.revoked && Number.isFinite(expiry) && doc.expiresAt?.toMillis() !== expiry) {
        problems.push(`${short}: expiresAt ${doc.expiresAt?.toDate().toISOString()}, Play says ${new Date(expiry).toISOString()}`);
      }
    } else {
      active = truth.purchaseState === 0;
    }
    if (doc.active !== active) problems.push(`${short}: active ${doc.active}, Play's state says ${active}`);
    const ent = ENTITLEMENT[t.kind]!;
    const view = entitlements.get(`users/${t.owner}/entitlements/${ent}`)?.data();
    const source = view?.sources?.[id];
    if (!source) problems.push(`${short}: no source in users/${t.owner}/entitlements/${ent}`);
    else if (source.active !== active) problems.push(`${short}: entitlement source active ${source.active}, expected ${active}`);
    e.active[ent] = (e.active[ent] ?? false) || active;
  }
  for (const [uid, e] of expected) {
    const balances = (users.get(`users/${uid}`)?.data()?.balances ?? {}) as Record<string, number>;
    if (e.hasCoins && balances.coins !== e.coins) problems.push(`users/${uid}: coins ${balances.coins}, expected ${e.coins}`);
    for (const [ent, want] of Object.entries(e.active)) {
      const view = entitlements.get(`users/${uid}/entitlements/${ent}`)?.data();
      const got = view ? view.active === true && (view.expiresAt === null || view.expiresAt.toMillis() > now) : false;
      if (got !== want) problems.push(`users/${uid}/entitlements/${ent}: active ${got}, expected ${want}`);
    }
  }
  await db.terminate();
  return { purchases: tracked.length, verifiedPurchases: tracked.filter((t) => t.owner).length, users: owners.length, problems };
}

runBench('bench:load', main);
