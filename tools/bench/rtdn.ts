import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { emulatorIdToken } from '../../test/helpers/id-tokens';
import { startPlaySimulator, type OutgoingNotification, type PlaySimulator } from '../play-simulator';
import { createRtdnPublisher, pushToFunction, type RtdnPublisher } from '../play-simulator/pubsub';
import { PLAY_PACKAGE, functionEnv } from '../local-stack/functions';
import {
  cpuPerItem,
  codeState,
  cpuSnapshot,
  OTHER_CPU_LIMIT_PCT,
  otherCpuPct,
  fmtCalls,
  loadNow,
  machineInfo,
  onCleanup,
  percentile,
  perItem,
  positiveInt,
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
  type Calls,
  type EventInstance,
  type TimedLine,
} from './lib';

/**
 * `npm run bench:rtdn`: Real-Time Developer Notifications per second end to end through the emulators:
 * Pub/Sub emulator topic -> push subscription -> playRtdn (tools/serve-function.js, dist/index.js) ->
 * Play simulator + Firestore emulator; beside it the same pipeline ending in a function that does
 * nothing (tools/bench/noop). Each phase publishes N renewal notifications of N distinct subscriptions
 * that users already own (verified first), all at once, and counts completions by the functions' log
 * lines (playRtdn's also by `events` documents). Phases run in ABBA order. Everything on 127.0.0.1.
 * Prints a table and writes tools/bench/results/rtdn.json; exits 1 when a notification is lost or a
 * call count is off.
 */

const USAGE = 'Usage: npm run bench:rtdn [-- --notifications 300 --rounds 2 --timeout-s 180]';
const CATALOG = { products: { premium_monthly: { type: 'subscription', entitlements: ['premium'] } } };
const PRODUCT = 'premium_monthly';
const SUB_STATE_GET = 'purchases.subscriptionsv2.get';

type Kind = 'playRtdn' | 'noop';
interface PhaseResult {
  kind: Kind;
  round: number;
  notifications: number;
  completed: number;
  elapsedS: number;
  perSecond: number;
  /** publish() called → the function's log line for that message. */
  endToEndMs: { p50: number; p99: number; max: number };
  serverLatencyMs: { p50: number; p99: number };
  outcomes: Record<string, number>;
  /** Log lines beyond one per message (Pub/Sub redeliveries) and events that threw. */
  redeliveries: number;
  retriedErrors: number;
  callsPerNotification: Calls;
  simulator: { tokenExchanges: number; playCallsPerNotification: Calls };
  eventsDocumentsAdded?: number;
  cpuMsPerNotification: Record<string, number>;
  /** Seconds of the phase during which someone's vitest run was seen (0 = undisturbed). */
  testRunSeconds: number;
  /** CPU share (all cores) used by processes not part of the benchmark during the phase. */
  otherCpuPct: number;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      notifications: { type: 'string', default: '300' },
      rounds: { type: 'string', default: '2' },
      'timeout-s': { type: 'string', default: '180' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const N = positiveInt('notifications', values.notifications, 2000);
  const ROUNDS = positiveInt('rounds', values.rounds, 5);
  const TIMEOUT_MS = positiveInt('timeout-s', values['timeout-s'], 1800) * 1000;

  const quiet = await waitForQuietMachine();
  const watch = watchForTestRuns();
  const machine = machineInfo();
  say(
    `playRtdn benchmark: ${machine.cpus} cores (${machine.cpuModel}), Node ${machine.node}, ` +
      `load ${machine.loadavgAtStart.join(' ')}, calibration ${machine.calibrationMs} ms`,
  );

  const projectId = `bench-${Date.now().toString(36)}`;
  const [firestore, pubsub] = await Promise.all([startFirestore(), startPubSub(projectId)]);
  // The simulator only collects its RTDNs: each phase publishes them itself, all at once.
  const collected: OutgoingNotification[] = [];
  const sim = await startPlaySimulator({ onNotification: (n) => void collected.push(n) });
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
  say(`Firestore emulator ${firestore.host}, Pub/Sub emulator ${pubsub.host}, Play simulator ${sim.url}, project ${projectId}`);
  process.env.FIRESTORE_EMULATOR_HOST = firestore.host; // this process reads the results
  const db = new Firestore({ projectId });
  onCleanup(() => db.terminate());

  // Setup (not measured): N subscriptions, each verified by its own user, so that each notification
  // updates an owned purchase and its user's entitlement.
  say(`\nsetup: ${N} subscriptions to ${PRODUCT}, each verified by its own user…`);
  const tokens = await ownSubscriptions(env, sim, projectId, N);
  collected.length = 0;

  const rtdn = await serveEventFunction({ target: 'playRtdn', env });
  const noop = await serveEventFunction({ target: 'noopRtdn', source: 'tools/bench/noop/index.js', env });
  const pipelines: Record<Kind, { fn: EventInstance; publisher: RtdnPublisher }> = {
    playRtdn: { fn: rtdn, publisher: await createRtdnPublisher({ projectId, topic: 'bench-rtdn', emulatorHost: pubsub.host }) },
    noop: { fn: noop, publisher: await createRtdnPublisher({ projectId, topic: 'bench-noop', emulatorHost: pubsub.host }) },
  };
  for (const [kind, p] of Object.entries(pipelines)) {
    onCleanup(() => p.publisher.close());
    // A long ack deadline: a burst queued behind a slow function is not redelivered just for waiting.
    await pushToFunction(p.publisher, { subscription: `bench-${kind}-push`, functionUrl: p.fn.url, projectId, ackDeadlineSeconds: 120 });
  }
  const groups = { function: 0, firestoreEmulator: firestore.process.pid, pubsubEmulator: pubsub.process.pid };

  let roundNo = 0;
  const phase = async (kind: Kind, count: number, warmUp = false): Promise<PhaseResult> => {
    const { fn, publisher } = pipelines[kind];
    // playRtdn: fresh renewals of `count` distinct subscriptions (unmeasured), the RTDNs the simulator
    // sends for them. No-op: notifications of the same shape and size, without changing the simulator.
    const subset = tokens.slice(0, count);
    let notes: OutgoingNotification[];
    if (kind === 'playRtdn') {
      for (const t of subset) await sim.transition(t, 'renew');
      await sim.idle();
      notes = collected.splice(0);
    } else {
      notes = subset.map((purchaseToken) => ({
        version: '1.0',
        packageName: PLAY_PACKAGE,
        eventTimeMillis: String(sim.now()),
        subscriptionNotification: { version: '1.0', notificationType: 2, purchaseToken },
      }));
    }
    if (notes.length !== count) throw new Error(`expected ${count} RTDNs from the renewals, got ${notes.length}`);
    await sleep(warmUp ? 200 : 1500); // let the machine settle
    sim.resetStats();
    fn.lines.length = 0;
    fn.retries.length = 0;
    const eventsBefore = kind === 'playRtdn' && !warmUp ? await countEvents(db) : 0;
    const cpu0 = cpuSnapshot({ ...groups, function: fn.proc.pid });
    const published = new Map<string, number>();
    const seen = new Map<string, TimedLine>();
    let done: () => void = () => undefined;
    const all = new Promise<void>((r) => (done = r));
    fn.onLine = (l) => {
      const id = String(l.messageId ?? '');
      if (!seen.has(id)) seen.set(id, l);
      if (published.size === count && [...published.keys()].every((k) => seen.has(k))) done();
    };
    const seen0 = watch.seenAt().length;
    const t0 = performance.now();
    const ids = await Promise.all(
      notes.map(async (n) => {
        const at = performance.now();
        const id = await publisher.publish(n);
        published.set(id, at);
        return id;
      }),
    );
    if ([...published.keys()].every((k) => seen.has(k))) done();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([all.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), TIMEOUT_MS)))]);
    clearTimeout(timer);
    fn.onLine = undefined;
    const completedLines = ids.map((id) => seen.get(id)).filter((l): l is TimedLine => l !== undefined);
    const lastAt = Math.max(...completedLines.map((l) => l.at), t0);
    const elapsedS = (lastAt - t0) / 1000;
    await sleep(300); // a late duplicate delivery would show here
    const cpu1 = cpuSnapshot({ ...groups, function: fn.proc.pid });
    const stats = sim.stats();
    const e2e = ids.filter((id) => seen.has(id)).map((id) => seen.get(id)!.at - published.get(id)!);
    const server = completedLines.map((l) => l.latencyMs ?? NaN).filter(Number.isFinite);
    const outcomes: Record<string, number> = {};
    for (const l of fn.lines) outcomes[String(l.outcome)] = (outcomes[String(l.outcome)] ?? 0) + 1;
    if (!finished) say(`  ! ${kind}: only ${completedLines.length}/${count} completed within ${TIMEOUT_MS / 1000} s`);
    return {
      kind,
      round: roundNo,
      notifications: count,
      completed: completedLines.length,
      elapsedS: round(elapsedS, 2),
      perSecond: round(completedLines.length / elapsedS, 1),
      endToEndMs: { p50: round(percentile(e2e, 50)), p99: round(percentile(e2e, 99)), max: round(Math.max(...e2e)) },
      serverLatencyMs: { p50: round(percentile(server, 50)), p99: round(percentile(server, 99)) },
      outcomes,
      redeliveries: fn.lines.length - completedLines.length,
      retriedErrors: fn.retries.length,
      callsPerNotification: perItem(sumCalls(completedLines), completedLines.length),
      simulator: { tokenExchanges: stats.tokenExchanges, playCallsPerNotification: perItem(stats.calls, completedLines.length) },
      ...(kind === 'playRtdn' && !warmUp ? { eventsDocumentsAdded: (await countEvents(db)) - eventsBefore } : {}),
      cpuMsPerNotification: cpuPerItem(cpu0, cpu1, completedLines.length),
      testRunSeconds: watch.seenAt().length - seen0,
      otherCpuPct: otherCpuPct(cpu0, cpu1),
    };
  };

  // The first measured playRtdn phase can still be slower than the next (JIT of the function and the
  // emulators); ABBA order and the per-phase figures in the JSON show it.
  say('\nwarm-up: 60 notifications through each pipeline (first push, token exchange, first Firestore connection)…');
  await phase('noop', 60, true);
  const warm = await phase('playRtdn', 60, true);
  say(`  playRtdn warm-up: ${warm.completed}/60, calls ${fmtCalls(warm.callsPerNotification)}`);

  const order: Kind[] = [];
  for (let r = 0; r < ROUNDS; r++) order.push(...((r % 2 === 0 ? ['noop', 'playRtdn'] : ['playRtdn', 'noop']) as Kind[]));
  const results: PhaseResult[] = [];
  const discarded: PhaseResult[] = [];
  say(`\n${N} notifications per phase, published at once; phases in order ${order.join(', ')}`);
  for (const kind of order) {
    roundNo = Math.floor(results.length / 2) + 1;
    // A phase that someone's test run shared the machine with is measured again (at most twice more).
    let r = await phase(kind, N);
    const disturbed = (x: PhaseResult) => x.testRunSeconds > 0 || x.otherCpuPct > OTHER_CPU_LIMIT_PCT;
    for (let again = 0; again < 2 && disturbed(r); again++) {
      say(`  ${kind}: someone else's work shared the machine (test run ${r.testRunSeconds} s, other processes ${r.otherCpuPct} % CPU); measuring this phase again`);
      discarded.push(r);
      await waitForQuietMachine();
      r = await phase(kind, N);
    }
    results.push(r);
    say(
      `  ${kind.padEnd(8)} ${r.completed}/${r.notifications} in ${r.elapsedS} s = ${r.perSecond}/s; ` +
        `publish→done p50 ${r.endToEndMs.p50} ms, p99 ${r.endToEndMs.p99} ms; outcomes ${JSON.stringify(r.outcomes)}` +
        `; other processes ${r.otherCpuPct} % CPU` + (r.testRunSeconds ? ` (! a vitest run shared the machine for ${r.testRunSeconds} s)` : ''),
    );
  }

  const pool = (kind: Kind) => {
    const rs = results.filter((r) => r.kind === kind);
    const completed = rs.reduce((s, r) => s + r.completed, 0);
    const elapsed = rs.reduce((s, r) => s + r.elapsedS, 0);
    const avg = (f: (r: PhaseResult) => Record<string, number>) => {
      const out: Record<string, number> = {};
      for (const r of rs) for (const [k, v] of Object.entries(f(r))) out[k] = (out[k] ?? 0) + (v * r.completed) / Math.max(1, completed);
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, round(v, 3)]));
    };
    return {
      phases: rs.length,
      notifications: rs.reduce((s, r) => s + r.notifications, 0),
      completed,
      perSecond: round(completed / elapsed, 1),
      perSecondByPhase: rs.map((r) => r.perSecond),
      endToEndP50Ms: Math.max(...rs.map((r) => r.endToEndMs.p50)),
      endToEndP99Ms: Math.max(...rs.map((r) => r.endToEndMs.p99)),
      serverP50Ms: Math.max(...rs.map((r) => r.serverLatencyMs.p50)),
      serverP99Ms: Math.max(...rs.map((r) => r.serverLatencyMs.p99)),
      redeliveries: rs.reduce((s, r) => s + r.redeliveries, 0),
      retriedErrors: rs.reduce((s, r) => s + r.retriedErrors, 0),
      callsPerNotification: avg((r) => r.callsPerNotification),
      playCallsPerNotificationSimulator: avg((r) => r.simulator.playCallsPerNotification),
      tokenExchanges: rs.reduce((s, r) => s + r.simulator.tokenExchanges, 0),
      eventsDocumentsAdded: rs.reduce((s, r) => s + (r.eventsDocumentsAdded ?? 0), 0),
      cpuMsPerNotification: avg((r) => r.cpuMsPerNotification),
    };
  };
  const ours = pool('playRtdn');
  const base = pool('noop');
  const ratio = round(ours.perSecond / base.perSecond, 3);

  const c = ours.callsPerNotification;
  const rows: (string | number)[][] = [
    ['', 'playRtdn', 'no-op function'],
    ['notifications (completed)', `${ours.notifications} (${ours.completed})`, `${base.notifications} (${base.completed})`],
    ['notifications/s (per phase)', `${ours.perSecond} (${ours.perSecondByPhase.join(', ')})`, `${base.perSecond} (${base.perSecondByPhase.join(', ')})`],
    ['share of the no-op pipeline', `${round(ratio * 100, 1)} %`, '100 %'],
    ['publish → done p50 / p99 ms (worst phase)', `${ours.endToEndP50Ms} / ${ours.endToEndP99Ms}`, `${base.endToEndP50Ms} / ${base.endToEndP99Ms}`],
    ['in-function latency p50 / p99 ms', `${ours.serverP50Ms} / ${ours.serverP99Ms}`, '-'],
    ['redeliveries / events that threw', `${ours.redeliveries} / ${ours.retriedErrors}`, `${base.redeliveries} / ${base.retriedErrors}`],
    ['Play subscriptionsv2.get / notif. (log; sim)', `${c[`play:${SUB_STATE_GET}`] ?? 0}; ${ours.playCallsPerNotificationSimulator[SUB_STATE_GET] ?? 0}`, '0'],
    ['OAuth token exchanges (whole run)', ours.tokenExchanges, 0],
    ['Firestore reads / notification', c['firestore:read'] ?? 0, 0],
    ['Firestore transactions / notification', c['firestore:transaction'] ?? 0, 0],
    ['Firestore writes (outside tx) / notif.', c['firestore:write'] ?? 0, 0],
    ['events documents added', ours.eventsDocumentsAdded, '-'],
    ['CPU ms / notif.: function', ours.cpuMsPerNotification.function ?? NaN, base.cpuMsPerNotification.function ?? NaN],
    ['CPU ms / notif.: Firestore emulator', ours.cpuMsPerNotification.firestoreEmulator ?? NaN, base.cpuMsPerNotification.firestoreEmulator ?? NaN],
    ['CPU ms / notif.: Pub/Sub emulator', ours.cpuMsPerNotification.pubsubEmulator ?? NaN, base.cpuMsPerNotification.pubsubEmulator ?? NaN],
    ['CPU ms / notif.: bench + simulator', ours.cpuMsPerNotification.benchProcess ?? NaN, base.cpuMsPerNotification.benchProcess ?? NaN],
  ];
  say('\n' + table(rows));
  say(`\nplayRtdn runs at ${round(ratio * 100, 1)} % of the rate the same emulators deliver to a function that does nothing.`);

  const checks = [
    { what: 'every notification completed (both pipelines)', ok: ours.completed === ours.notifications && base.completed === base.notifications, detail: `${ours.completed}/${ours.notifications}, ${base.completed}/${base.notifications}` },
    { what: 'one events document per playRtdn notification', ok: ours.eventsDocumentsAdded === ours.completed, detail: `${ours.eventsDocumentsAdded}/${ours.completed}` },
    { what: 'every playRtdn outcome "applied"', ok: results.filter((r) => r.kind === 'playRtdn').every((r) => (r.outcomes.applied ?? 0) === r.notifications), detail: JSON.stringify(results.filter((r) => r.kind === 'playRtdn').map((r) => r.outcomes)) },
    { what: 'exactly 1 Play subscriptionsv2.get per notification', ok: c[`play:${SUB_STATE_GET}`] === 1 && ours.playCallsPerNotificationSimulator[SUB_STATE_GET] === 1, detail: `${c[`play:${SUB_STATE_GET}`]} (log), ${ours.playCallsPerNotificationSimulator[SUB_STATE_GET]} (simulator)` },
    { what: 'no token exchange on a warm instance', ok: ours.tokenExchanges === 0, detail: String(ours.tokenExchanges) },
  ];
  const entitlementCheck = await checkEntitlements(db, sim, tokens);
  checks.push(entitlementCheck);
  say('\nchecks:');
  for (const ch of checks) say(`  ${ch.ok ? '✓' : '✗'} ${ch.what}: ${ch.detail}`);

  const result = {
    benchmark: 'playRtdn',
    measuredAt: new Date().toISOString(),
    code: codeState(),
    machine: { ...machine, loadavgAtEnd: loadNow(), waitedForQuietS: quiet.waitedS, busyPctBeforeStart: quiet.busyPct, testRunSeenDuring: watch.seenAt().length > 0 ? `${watch.seenAt().length} s (${watch.seenAt()[0]} …)` : 'no' },
    setup: {
      notificationsPerPhase: N,
      rounds: ROUNDS,
      order,
      notification: `subscriptionNotification type 2 (RENEWED) of ${N} distinct ${PRODUCT} subscriptions, each owned by its own user`,
      publishing: 'all N published at once with @google-cloud/pubsub to the Pub/Sub emulator (batching on), push subscription, ack deadline 120 s',
      pipelines: {
        playRtdn: 'node tools/serve-function.js --target=playRtdn (dist/index.js) -> Play simulator (in the benchmark process) + Firestore emulator',
        noop: 'node tools/serve-function.js --source=tools/bench/noop/index.js --target=noopRtdn (logs one line, returns)',
      },
      completion: 'first log line of the function carrying the published messageId; playRtdn also counted by events documents',
    },
    summary: { playRtdn: ours, noop: base, playRtdnShareOfNoop: ratio },
    phases: results,
    discardedPhases: discarded,
    checks,
    passed: checks.every((ch) => ch.ok),
  };
  if (discarded.length > 0) say(`\n${discarded.length} phase(s) shared the machine with someone else's work: discarded and measured again (kept in discardedPhases).`);
  const stillDisturbed = results.filter((r) => r.testRunSeconds > 0 || r.otherCpuPct > OTHER_CPU_LIMIT_PCT).length;
  if (stillDisturbed > 0) say(`! ${stillDisturbed} kept phase(s) still shared the machine with someone else's work: their figures are disturbed.`);
  writeResult('rtdn.json', result);
  return result.passed ? 0 : 1;
}

async function countEvents(db: Firestore): Promise<number> {
  const snap = await db.collection('events').count().get();
  return snap.data().count;
}

/** Verifies N new subscriptions, one user each, with a temporary verifyPurchase instance. */
async function ownSubscriptions(env: NodeJS.ProcessEnv, sim: PlaySimulator, projectId: string, n: number): Promise<string[]> {
  const inst = await spawnInstance({ target: 'verifyPurchase', env });
  try {
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) tokens.push((await sim.createPurchase({ type: 'subscription', productId: PRODUCT })).purchaseToken);
    let next = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (next < tokens.length) {
        const i = next++;
        const res = await fetch(inst.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${emulatorIdToken({ projectId, uid: `rtdn-user-${i}` })}` },
          body: JSON.stringify({ packageName: PLAY_PACKAGE, productId: PRODUCT, purchaseToken: tokens[i] }),
        });
        await res.arrayBuffer();
        if (res.status !== 200) failures.push(`${i}: ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    if (failures.length) throw new Error(`setup verifications failed: ${failures.slice(0, 5).join(', ')}`);
    return tokens;
  } finally {
    await inst.proc.stop();
  }
}

/** After all phases: each user's premium entitlement carries the expiry the simulator has now. */
async function checkEntitlements(db: Firestore, sim: PlaySimulator, tokens: string[]) {
  let wrong = 0;
  const refs = tokens.map((_, i) => db.doc(`users/rtdn-user-${i}/entitlements/premium`));
  const snaps = [];
  for (let i = 0; i < refs.length; i += 100) snaps.push(...(await db.getAll(...refs.slice(i, i + 100))));
  snaps.forEach((s, i) => {
    const truth = sim.get(tokens[i]!)!.resource as { lineItems?: { expiryTime?: string }[] };
    const expiry = Date.parse(truth.lineItems?.[0]?.expiryTime ?? '');
    const e = s.data();
    const id = createHash('sha256').update(tokens[i]!).digest('hex');
    if (!e || e.active !== true || e.purchaseId !== id || e.expiresAt?.toMillis() !== expiry) wrong += 1;
  });
  return { what: 'every owner\'s entitlement active with the simulator\'s latest expiry', ok: wrong === 0, detail: `${tokens.length - wrong}/${tokens.length}` };
}

runBench('bench:rtdn', main);
