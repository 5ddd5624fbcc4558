import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { emulatorIdToken } from '../../test/helpers/id-tokens';
import { startFirestoreEmulator, startPubSubEmulator, type RunningEmulator } from '../emulators/gcloud';
import { describeNotification, encodeNotification, startPlaySimulator, type PlaySimulator } from '../play-simulator';
import { reconcileOnce, type StackHosts } from '../reconcile/reconcile';
import {
  DIST,
  FUNCTIONS,
  PLAY_PACKAGE,
  RECONCILE_TOPIC,
  ROOT,
  RTDN_TOPIC,
  functionEnv,
  registeredFunctions,
  serveFunction,
  type ServedFunction,
  type StackSettings,
} from './functions';
import { PortPlanner, PrerequisiteError, checkPrerequisites } from './prerequisites';
import { adoptChildGroups, groupAlive, killAllSync, trackGroup, untrackGroup } from './processes';

/**
 * `npm start`: the local stack on 127.0.0.1 (Firestore emulator, Pub/Sub emulator, Play simulator,
 * every function dist/index.js registers), a table of what runs where, and ready-to-paste commands.
 * Ctrl-C stops everything it started, by process group, and checks nothing is left.
 * `npm start -- --check` starts it all, runs the quick-start flow, stops, and exits 0/1.
 */

const USAGE = `Usage: npm start [-- --check]

Starts the local stack on 127.0.0.1: Firestore emulator (8080), Pub/Sub emulator (8085), Play simulator (8090),
and the functions dist/index.js registers (verifyPurchase 8081, playRtdn 8082, refundPurchase 8083,
appStoreNotifications 8084, reconcilePurchases 8086). A taken port moves to the next free one. Ctrl-C stops
everything. With the stack running, \`npm run reconcile\` triggers one reconcile sweep.

  --check   start everything, create and verify a purchase (HTTP and the printed curl commands),
            trigger one reconcile sweep (if registered), stop everything, exit 0 if all went well, 1 otherwise`;

const PROJECT_ID = 'demo-iap';
const SIM_PORT = 8090;
const TOKEN_LIFETIME_S = 7 * 24 * 3600;

const t0 = Date.now();
const secs = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Row {
  what: string;
  url: string;
  pid: string;
}

/** Everything this process started, in start order; stop() undoes it in reverse. */
class Stack {
  firestore?: RunningEmulator;
  pubsubEmulator?: RunningEmulator;
  pubsub?: PubSub;
  topic?: Topic;
  sim?: PlaySimulator;
  functions: ServedFunction[] = [];
  notRegistered: string[] = [];
  moved: string[] = [];
  settings?: StackSettings;
  /** Topic -> push endpoint of the function it delivers to (a topic without one is not listed). */
  pushEndpoints = new Map<string, string>();
  /** Function output is echoed (prefixed) once the stack is up. */
  echo = false;
  /** Observers of every function's output lines (the self check waits on them). */
  lineWatchers = new Set<(target: string, line: string) => void>();
  stopping = false;
  /** Start operations under way: stop() waits for them, so nothing started late is left behind. */
  private pending: Promise<unknown>[] = [];
  onUnexpectedExit: (what: string, detail: string) => void = () => undefined;

  groups(): { name: string; pid: number }[] {
    const g: { name: string; pid: number }[] = [];
    if (this.firestore) g.push({ name: 'Firestore emulator', pid: this.firestore.process.pid });
    if (this.pubsubEmulator) g.push({ name: 'Pub/Sub emulator', pid: this.pubsubEmulator.process.pid });
    for (const f of this.functions) g.push({ name: f.entry.target, pid: f.proc.pid });
    return g;
  }

  private step<T>(p: Promise<T>): Promise<T> {
    this.pending.push(p.catch(() => undefined));
    return p;
  }

  /** Between start steps: give up once a stop began (Ctrl-C while starting). */
  private proceed(): void {
    if (this.stopping) throw new StoppedWhileStarting();
  }

  async start(): Promise<void> {
    if (!existsSync(DIST)) throw new PrerequisiteError('dist/index.js is missing: run npm run build (npm start does it first).');
    const pre = checkPrerequisites();
    say(`  prerequisites: Java ${pre.javaVersion}, Cloud SDK at ${pre.sdkRoot}${pre.pubsubEmulator ? '' : ' (no Pub/Sub emulator)'}`);

    const ports = new PortPlanner(new Set([8080, 8085, SIM_PORT, ...FUNCTIONS.map((f) => f.port)]));
    const want = async (what: string, preferred: number) => {
      const p = await ports.pick(preferred);
      if (p !== preferred) {
        const note = `${what}: port ${preferred} is taken, using ${p}`;
        this.moved.push(note);
        say(`  ! ${note}`);
      }
      return p;
    };
    const firestorePort = await want('Firestore emulator', 8080);
    const pubsubPort = pre.pubsubEmulator ? await want('Pub/Sub emulator', 8085) : undefined;
    const simPort = await want('Play simulator', SIM_PORT);
    const functionPorts = new Map<string, number>();
    for (const f of FUNCTIONS) functionPorts.set(f.target, await want(f.target, f.port));

    // The emulators take a second or two each: start them together, the simulator meanwhile.
    const started = Date.now();
    say(`  … starting Firestore emulator on 127.0.0.1:${firestorePort}${pubsubPort ? `, Pub/Sub emulator on 127.0.0.1:${pubsubPort}` : ''}`);
    const firestoreP = this.step(startFirestoreEmulator(firestorePort)).then((e) => {
      this.firestore = e;
      trackGroup('Firestore emulator', e.process.pid);
      say(`  ✓ Firestore emulator    ${e.host}  (${secs(started)})`);
      return e;
    });
    const pubsubP = pubsubPort
      ? this.step(startPubSubEmulator(PROJECT_ID, pubsubPort)).then((e) => {
          this.pubsubEmulator = e;
          trackGroup('Pub/Sub emulator', e.process.pid);
          say(`  ✓ Pub/Sub emulator      ${e.host}  (${secs(started)})`);
          return e;
        })
      : Promise.resolve(undefined);
    // Both spawned their process group synchronously: track them now, not only once they answer.
    adoptChildGroups('emulator (starting)');
    // Keep both settled before going on, so a failure of one never leaves the other untracked.
    const emulators = Promise.allSettled([firestoreP, pubsubP]);

    this.sim = await this.step(startPlaySimulator({
      port: simPort,
      onNotification: async (n) => {
        const data = Buffer.from(encodeNotification(n));
        if (this.topic && !this.stopping) {
          const id = await this.topic.publishMessage({ data });
          if (this.echo) say(`[play-sim] RTDN published to ${RTDN_TOPIC} (message ${id}): ${describeNotification(n).slice(0, 200)}`);
        } else if (this.echo) {
          say(`[play-sim] RTDN (no Pub/Sub running): ${describeNotification(n).slice(0, 200)}`);
        }
      },
    }));
    this.proceed();
    const localDir = join(ROOT, '.local');
    mkdirSync(localDir, { recursive: true });
    const keyFile = join(localDir, 'play-sim-key.json');
    // Only good against this simulator, but a private key all the same: owner-only.
    writeFileSync(keyFile, `${JSON.stringify(this.sim.serviceAccountKey, null, 2)}\n`, { mode: 0o600 });
    say(`  ✓ Play simulator        ${this.sim.url}  (key ${relative(ROOT, keyFile)})`);

    const settings: StackSettings = {
      projectId: PROJECT_ID,
      firestoreHost: `127.0.0.1:${firestorePort}`,
      pubsubHost: pubsubPort ? `127.0.0.1:${pubsubPort}` : undefined,
      playApiRootUrl: this.sim.url,
      oauthTokenUrl: this.sim.tokenUrl,
      keyFile,
      catalog: join(ROOT, 'examples/catalog.json'),
      logLevel: 'INFO',
    };
    this.settings = settings;
    const env = functionEnv(settings);

    // What dist/index.js registers decides which functions run (and whether Pub/Sub is required).
    const registeredP = registeredFunctions(env);
    const [registered, emulatorResults] = await Promise.all([registeredP.catch((e: unknown) => e as Error), emulators]);
    this.proceed();
    for (const r of emulatorResults) if (r.status === 'rejected') throw r.reason;
    if (registered instanceof Error) throw registered;
    const toServe = FUNCTIONS.filter((f) => registered.includes(f.target));
    this.notRegistered = FUNCTIONS.filter((f) => !registered.includes(f.target)).map((f) => f.target);
    say(`  ✓ dist/index.js registers: ${toServe.map((f) => f.target).join(', ') || '(nothing known)'}`);
    const pushed = toServe.find((f) => f.topic);
    if (pushed && !this.pubsubEmulator) throw new PrerequisiteError(pre.pubsubMissing ?? 'The Pub/Sub emulator is not running.');

    if (this.pubsubEmulator) {
      process.env.PUBSUB_EMULATOR_HOST = this.pubsubEmulator.host;
      process.env.METADATA_SERVER_DETECTION = 'none';
      const { PubSub: PubSubClient } = await import('@google-cloud/pubsub');
      this.pubsub = new PubSubClient({ projectId: PROJECT_ID });
      // Every topic exists even when its function is not registered: publishers (the simulator,
      // npm run reconcile) then succeed, and the message is dropped as in production without a subscriber.
      for (const f of FUNCTIONS) {
        if (!f.topic) continue;
        const [topic] = await this.step(this.pubsub.createTopic(f.topic));
        if (f.topic === RTDN_TOPIC) this.topic = topic;
        if (toServe.includes(f)) {
          // The functions framework turns a push to /projects/P/topics/T into a messagePublished CloudEvent.
          const pushEndpoint = `http://127.0.0.1:${functionPorts.get(f.target)}/projects/${PROJECT_ID}/topics/${f.topic}`;
          await this.step(topic.createSubscription(`${f.topic}-push`, { pushConfig: { pushEndpoint } }));
          this.pushEndpoints.set(f.topic, pushEndpoint);
        }
        this.proceed();
        const endpoint = this.pushEndpoints.get(f.topic);
        say(`  ✓ topic ${f.topic}${endpoint ? `, push subscription → ${endpoint}` : ` (no push subscription: ${f.target} is not registered)`}`);
      }
    }

    const fnStarted = Date.now();
    const served = await Promise.allSettled(
      toServe.map((f) =>
        this.step(serveFunction(f, functionPorts.get(f.target)!, env, (line, stream) => {
          for (const w of this.lineWatchers) w(f.target, line);
          if (this.echo) (stream === 'stderr' ? process.stderr : process.stdout).write(`[${f.target}] ${line}\n`);
        })).then((s) => {
          this.functions.push(s);
          say(`  ✓ ${f.target.padEnd(22)}${s.url}  (${secs(fnStarted)})`);
          return s;
        }),
      ),
    );
    this.proceed();
    for (const r of served) if (r.status === 'rejected') throw r.reason;
    await this.healthCheck();
    this.proceed();
    for (const s of this.functions) {
      void s.proc.exited.then(({ code, signal }) => {
        if (!this.stopping) this.onUnexpectedExit(s.entry.target, `exit ${code ?? signal}\n${s.proc.output().trim().split('\n').slice(-15).join('\n')}`);
      });
    }
    for (const [name, e] of [['Firestore emulator', this.firestore], ['Pub/Sub emulator', this.pubsubEmulator]] as const) {
      if (!e) continue;
      const pid = e.process.pid;
      const watch = setInterval(() => {
        if (this.stopping) return clearInterval(watch);
        if (!groupAlive(pid)) {
          clearInterval(watch);
          this.onUnexpectedExit(name, e.process.output().trim().split('\n').slice(-15).join('\n'));
        }
      }, 1000);
      watch.unref();
    }
  }

  /** Every part answers: emulators `GET /`, simulator health, HTTP functions answer a GET. */
  async healthCheck(): Promise<void> {
    const probe = async (what: string, url: string, ok: (status: number) => boolean) => {
      const deadline = Date.now() + 15_000;
      let last = '';
      while (Date.now() < deadline) {
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          if (ok(res.status)) return;
          last = `HTTP ${res.status}`;
        } catch (e) {
          last = (e as Error).message;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`${what} is not healthy at ${url}: ${last}`);
    };
    const checks: Promise<void>[] = [];
    if (this.firestore) checks.push(probe('Firestore emulator', `http://${this.firestore.host}/`, (s) => s === 200));
    if (this.pubsubEmulator) checks.push(probe('Pub/Sub emulator', `http://${this.pubsubEmulator.host}/`, (s) => s === 200));
    if (this.sim) checks.push(probe('Play simulator', `${this.sim.url}_sim/health`, (s) => s === 200));
    // Functions printed "serving" from their listen callback; a TCP connect confirms it without a
    // request (a request would be handled, logged, and for an event function, processed).
    for (const f of this.functions) checks.push(connects(f.entry.target, f.port));
    await Promise.all(checks);
  }

  rows(): Row[] {
    const rows: Row[] = [];
    const self = `${process.pid} (this process)`;
    if (this.firestore) rows.push({ what: 'Firestore emulator', url: `http://${this.firestore.host}`, pid: String(this.firestore.process.pid) });
    if (this.pubsubEmulator) {
      rows.push({ what: 'Pub/Sub emulator', url: `http://${this.pubsubEmulator.host}`, pid: String(this.pubsubEmulator.process.pid) });
      for (const f of FUNCTIONS) {
        if (!f.topic) continue;
        const endpoint = this.pushEndpoints.get(f.topic);
        rows.push({ what: `  topic ${f.topic}`, url: endpoint ? `push → ${endpoint}` : `no subscription (${f.target} not registered)`, pid: '' });
      }
    } else {
      const needing = FUNCTIONS.filter((f) => f.topic).map((f) => f.target);
      rows.push({ what: 'Pub/Sub emulator', url: `not available (only ${needing.join(' and ')} need it)`, pid: '-' });
    }
    if (this.sim) {
      rows.push({ what: 'Play simulator', url: this.sim.url, pid: self });
      rows.push({ what: '  control API', url: `${this.sim.url}_sim/  (purchases, clock, faults, stats)`, pid: '' });
    }
    for (const f of FUNCTIONS) {
      const s = this.functions.find((x) => x.entry === f);
      rows.push(
        s
          ? { what: `${f.target} (${f.kind})`, url: s.url, pid: String(s.proc.pid) }
          : { what: `${f.target} (${f.kind})`, url: 'not registered in dist/index.js: not started', pid: '-' },
      );
    }
    return rows;
  }

  /** Stops everything in reverse order, by process group; returns the groups still alive afterwards. */
  async stop(): Promise<string[]> {
    this.stopping = true;
    this.echo = false;
    await Promise.allSettled(this.pending);
    const groups = this.groups();
    await Promise.allSettled(this.functions.map((f) => f.proc.stop()));
    if (this.pubsub) await this.pubsub.close().catch(() => undefined);
    await Promise.allSettled([this.sim?.close(), this.pubsubEmulator?.stop(), this.firestore?.stop()]);
    // A killed JVM takes a moment to disappear from the process table.
    const gone = async (ms: number) => {
      const end = Date.now() + ms;
      while (groups.some((g) => groupAlive(g.pid)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      return groups.filter((g) => groupAlive(g.pid));
    };
    let alive = await gone(5000);
    // One more, harder try for anything left, then report it.
    for (const g of alive) {
      try {
        process.kill(-g.pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    if (alive.length) alive = await gone(3000);
    for (const g of groups) if (!alive.includes(g)) untrackGroup(g.pid);
    return alive.map((g) => `${g.name} (process group ${g.pid})`);
  }
}

class StoppedWhileStarting extends Error {}

function connects(what: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`${what} does not accept connections on 127.0.0.1:${port}: ${why}`));
    };
    socket.once('timeout', () => fail('timeout'));
    socket.once('error', (e) => fail(e.message));
  });
}

/**
 * The processes that launched us (tsx, npm's shell, npm, …) up to init. \`kill <npm pid>\` makes npm
 * exit without passing the signal down: when an ancestor disappears, we stop too instead of
 * leaving the stack running unattended. Linux (/proc) only; elsewhere nothing is watched.
 */
function ancestors(): number[] {
  const chain: number[] = [];
  let pid = process.ppid;
  while (pid > 1 && chain.length < 32) {
    chain.push(pid);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return chain;
}

function watchAncestors(onGone: (pid: number) => void): void {
  const chain = ancestors();
  const timer = setInterval(() => {
    for (const pid of chain) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ESRCH') {
          clearInterval(timer);
          onGone(pid);
          return;
        }
      }
    }
  }, 1000);
  timer.unref();
}

function table(rows: Row[]): string {
  const w1 = Math.max(4, ...rows.map((r) => r.what.length));
  const w2 = Math.max(3, ...rows.map((r) => r.url.length));
  const line = (a: string, b: string, c: string) => `  ${a.padEnd(w1)}  ${b.padEnd(w2)}  ${c}`.trimEnd();
  return [line('what', 'URL', 'pid'), line('-'.repeat(w1), '-'.repeat(w2), '---'), ...rows.map((r) => line(r.what, r.url, r.pid))].join('\n');
}

interface Commands {
  idToken: string;
  adminToken: string;
  /** Shell lines: set the tokens, create a purchase, verify it, read the entitlement from Firestore. */
  lines: string[];
  /** Then, as the admin: revoke that purchase with refundPurchase (when registered). */
  adminLines: string[];
}

function commands(stack: Stack): Commands {
  const verify = stack.functions.find((f) => f.entry.target === 'verifyPurchase');
  const idToken = emulatorIdToken({ projectId: PROJECT_ID, uid: 'demo-user', expiresInSeconds: TOKEN_LIFETIME_S });
  const adminToken = emulatorIdToken({
    projectId: PROJECT_ID,
    uid: 'demo-admin',
    claims: { admin: true },
    expiresInSeconds: TOKEN_LIFETIME_S,
  });
  const sim = stack.sim!.url;
  const lines = [
    `ID_TOKEN='${idToken}'`,
    `ADMIN_TOKEN='${adminToken}'`,
    `PURCHASE_TOKEN=$(curl -sf -X POST ${sim}_sim/purchases -H 'content-type: application/json' \\`,
    `  -d '{"type":"product","productId":"remove_ads"}' | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).purchaseToken')`,
  ];
  if (verify) {
    lines.push(
      `curl -s -X POST ${verify.url} -H "authorization: Bearer $ID_TOKEN" -H 'content-type: application/json' \\`,
      `  -d "{\\"packageName\\":\\"${PLAY_PACKAGE}\\",\\"productId\\":\\"remove_ads\\",\\"purchaseToken\\":\\"$PURCHASE_TOKEN\\"}"; echo`,
    );
  }
  if (stack.firestore) {
    lines.push(
      `curl -s -H 'authorization: Bearer owner' 'http://${stack.firestore.host}/v1/projects/${PROJECT_ID}/databases/(default)/documents/users/demo-user/entitlements/no_ads'`,
    );
  }
  const refund = stack.functions.find((f) => f.entry.target === 'refundPurchase');
  const adminLines = refund
    ? [
        `curl -s -X POST ${refund.url} -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \\`,
        `  -d "{\\"data\\":{\\"packageName\\":\\"${PLAY_PACKAGE}\\",\\"purchaseToken\\":\\"$PURCHASE_TOKEN\\",\\"action\\":\\"revoke\\",\\"reason\\":\\"local stack demo\\"}}"; echo`,
      ]
    : [];
  return { idToken, adminToken, lines, adminLines };
}

function runSummary(id: string, run: Json): string {
  const errors = Array.isArray(run.errors) ? run.errors.length : run.errors;
  return `reconcileRuns/${id}: ${run.status ?? ''}${run.finishedAt ? '' : ' (not finished)'}, playCalls ${run.playCalls}, errors ${errors}`;
}

function stackHosts(stack: Stack): StackHosts {
  return { projectId: PROJECT_ID, pubsubHost: stack.pubsubEmulator!.host, firestoreHost: stack.firestore!.host };
}

/** Where everything runs, for `npm run demo`, `npm run reconcile` and other scripts (ports may have moved). */
function writeStackInfo(stack: Stack): void {
  const info = {
    projectId: PROJECT_ID,
    firestoreHost: stack.firestore?.host,
    pubsubHost: stack.pubsubEmulator?.host ?? null,
    simUrl: stack.sim?.url,
    functions: Object.fromEntries(stack.functions.map((f) => [f.entry.target, f.url])),
  };
  writeFileSync(join(ROOT, '.local/stack.json'), `${JSON.stringify(info, null, 2)}\n`);
}

function printReady(stack: Stack): void {
  writeStackInfo(stack);
  const c = commands(stack);
  say('');
  say(`iap-functions local stack is up (${secs(t0)}), project ${PROJECT_ID}, everything on 127.0.0.1:`);
  say('');
  say(table(stack.rows()));
  for (const m of stack.moved) say(`  ! ${m}`);
  say('');
  say(`Emulator-format ID tokens (valid ${TOKEN_LIFETIME_S / 86400} days; accepted because FIREBASE_AUTH_EMULATOR_HOST is set):`);
  say('demo-user and demo-admin (claim admin: true). Paste into a shell: create a purchase at the Play');
  say('simulator, verify it as demo-user, read the entitlement the app would read from Firestore.');
  say('');
  say(c.lines.join('\n'));
  if (c.adminLines.length) {
    say('');
    say('As the admin, revoke that purchase with refundPurchase (callable protocol: {"data": …}):');
    say(c.adminLines.join('\n'));
  }
  if (stack.functions.some((f) => f.entry.target === 'reconcilePurchases')) {
    say('');
    say(`One reconcile sweep (publishes {} to ${RECONCILE_TOPIC}, prints its reconcileRuns report): npm run reconcile`);
  }
  say('');
  say(`Function logs follow, prefixed [name]. Catalog: examples/catalog.json, package ${PLAY_PACKAGE}.`);
  say('Ctrl-C stops everything.');
  say('');
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The quick-start flow, programmatically and through the printed commands. */
async function selfCheck(stack: Stack): Promise<boolean> {
  const results: { name: string; ok: boolean; detail: string }[] = [];
  const record = (name: string, ok: boolean, detail: string) => {
    results.push({ name, ok, detail });
    say(`  ${ok ? '✓' : '✗'} ${name}${detail ? `: ${detail}` : ''}`);
  };
  const verify = stack.functions.find((f) => f.entry.target === 'verifyPurchase');
  if (!verify) {
    record('verifyPurchase is served', false, 'dist/index.js does not register it');
    return false;
  }
  const c = commands(stack);
  try {
    const created = await fetch(`${stack.sim!.url}_sim/purchases`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'product', productId: 'remove_ads' }),
    });
    const purchase = (await created.json()) as Json;
    record('create a purchase at the Play simulator', created.status === 201 && typeof purchase.purchaseToken === 'string', `HTTP ${created.status}`);

    const res = await fetch(verify.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.idToken}` },
      body: JSON.stringify({ packageName: PLAY_PACKAGE, productId: 'remove_ads', purchaseToken: purchase.purchaseToken }),
    });
    const body = (await res.json()) as Json;
    record(
      'verify it as demo-user',
      res.status === 200 && body.entitlements?.no_ads?.active === true && body.purchase?.acknowledged === true,
      `HTTP ${res.status}, no_ads active: ${body.entitlements?.no_ads?.active}, acknowledged: ${body.purchase?.acknowledged}`,
    );
    const again = await fetch(verify.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.adminToken}` },
      body: JSON.stringify({ packageName: PLAY_PACKAGE, productId: 'remove_ads', purchaseToken: purchase.purchaseToken }),
    });
    const againBody = (await again.json()) as Json;
    record('the same token for another user', again.status === 409, `HTTP ${again.status} ${againBody.error?.code ?? ''}`);
    const unauth = await fetch(verify.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await unauth.arrayBuffer();
    record('no ID token', unauth.status === 401, `HTTP ${unauth.status}`);

    const doc = await fetch(
      `http://${stack.firestore!.host}/v1/projects/${PROJECT_ID}/databases/(default)/documents/users/demo-user/entitlements/no_ads`,
      { headers: { authorization: 'Bearer owner' } },
    );
    const docBody = (await doc.json()) as Json;
    record('entitlement in Firestore', doc.status === 200 && docBody.fields?.active?.booleanValue === true, `HTTP ${doc.status}`);

    // The printed commands, as a user pastes them (needs curl).
    const hasCurl = spawnSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' }).status === 0;
    if (hasCurl) {
      // Asynchronously: the Play simulator answering these curls runs in this process.
      const marker = '--- admin ---';
      const script = ['set -e', ...c.lines, ...(c.adminLines.length ? [`echo '${marker}'`, ...c.adminLines] : [])].join('\n');
      const run = await runShell(script, 30_000);
      const [main = '', admin = ''] = run.stdout.split(marker);
      const out = main.trim().split('\n');
      const parse = (text: string): Json | undefined => {
        try {
          return JSON.parse(text) as Json;
        } catch {
          return undefined;
        }
      };
      const verified = parse(out[0] ?? '');
      const entitlement = parse(out.slice(1).join('\n'));
      record(
        'the printed curl commands (create, verify, read)',
        run.status === 0 && verified?.entitlements?.no_ads?.active === true && entitlement?.fields?.active?.booleanValue === true,
        run.status === 0
          ? `verify answered ${verified ? `entitlements.no_ads.active=${verified.entitlements?.no_ads?.active}` : out[0]}`
          : `exit ${run.status}: ${run.stderr.trim()}`,
      );
      if (c.adminLines.length) {
        const answer = parse(admin.trim());
        record(
          'the printed admin curl (refundPurchase revoke)',
          run.status === 0 && answer !== undefined && 'result' in answer,
          admin.trim().slice(0, 160) || `exit ${run.status}: ${run.stderr.trim()}`,
        );
      }
    } else {
      say('  - the printed curl commands: skipped (no curl)');
    }
    if (stack.functions.some((f) => f.entry.target === 'playRtdn')) {
      // Refund with revoke at the simulator (a plain refund sends no RTDN, as at Play) -> void RTDN
      // published to the topic -> pushed to playRtdn, which logs it.
      const seen = new Promise<string>((resolve) => {
        const w = (target: string, line: string) => {
          if (target === 'playRtdn' && /"message":"playRtdn/.test(line)) {
            stack.lineWatchers.delete(w);
            resolve(line);
          }
        };
        stack.lineWatchers.add(w);
        setTimeout(() => {
          stack.lineWatchers.delete(w);
          resolve('');
        }, 15_000).unref();
      });
      const refund = await fetch(`${stack.sim!.url}_sim/purchases/${encodeURIComponent(purchase.purchaseToken)}/refund`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ revoke: true }),
      });
      await refund.arrayBuffer();
      const line = await seen;
      let outcome = '';
      try {
        const j = JSON.parse(line) as Json;
        outcome = `${j.message}${j.outcome ? `: ${JSON.stringify(j.outcome)}` : ''}${j.code ? ` (${j.code})` : ''}`;
      } catch {
        /* no line */
      }
      record('refund RTDN reaches playRtdn through Pub/Sub push', refund.status === 200 && line !== '', line ? outcome.slice(0, 160) : 'no playRtdn log line within 15 s');
    }
    if (stack.functions.some((f) => f.entry.target === 'reconcilePurchases')) {
      // What npm run reconcile does: {} on the topic -> pushed to reconcilePurchases -> its run report.
      const out = await reconcileOnce(stackHosts(stack));
      record(
        'a reconcile sweep through Pub/Sub push writes its reconcileRuns report',
        out.finished,
        out.run ? runSummary(out.run.id, out.run.data) : 'no report within 30 s',
      );
    }
    const stats = stack.sim!.stats();
    // verify and the RTDN each read the one-time purchase, with products.get or productsv2
    const reads = (stats.calls['purchases.products.get'] ?? 0) + (stats.calls['purchases.productsv2.getproductpurchasev2'] ?? 0);
    record('Play calls seen by the simulator', reads >= 2, JSON.stringify(stats.calls));
  } catch (e) {
    record('quick-start flow', false, (e as Error).message);
  }
  return results.every((r) => r.ok);
}

function runShell(script: string, timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { check: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const stack = new Stack();
  process.on('exit', killAllSync);
  // A closed terminal or pipe must not crash us before we stopped what we started.
  for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined);

  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((r) => (finish = r));
  let shuttingDown: Promise<number> | undefined;
  const shutdown = (why: string, code: number): Promise<number> => {
    shuttingDown ??= (async () => {
      say(`\n${why}: stopping everything…`);
      const left = await stack.stop();
      if (left.length) {
        say(`✗ still running after stop (killed with SIGKILL, check by hand): ${left.join(', ')}`);
        code = 1;
      } else {
        const n = stack.groups().length;
        say(n ? `✓ stopped ${n} process group(s)${stack.sim ? ' and the Play simulator' : ''}; nothing left running.` : '✓ nothing left running.');
      }
      finish(code);
      return code;
    })();
    return shuttingDown;
  };
  // Wrappers (npm, a shell) may pass the same Ctrl-C on again: only a signal well after the first one
  // means "stop waiting" and kills everything at once.
  let firstSignalAt = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (firstSignalAt && Date.now() - firstSignalAt > 1500) {
        say('second signal: killing everything now');
        killAllSync();
        process.exit(1);
      }
      firstSignalAt ||= Date.now();
      void shutdown(sig, values.check ? 1 : 0);
    });
  }
  watchAncestors((pid) => void shutdown(`the launching process ${pid} exited`, 1));
  stack.onUnexpectedExit = (what, detail) => {
    process.stderr.write(`\n✗ ${what} stopped unexpectedly: ${detail}\n`);
    void shutdown(`${what} died`, 1);
  };

  say(`Starting the iap-functions local stack${values.check ? ' (self check)' : ''}…`);
  try {
    await stack.start();
  } catch (e) {
    if (shuttingDown) return finished;
    const msg = e instanceof PrerequisiteError ? e.message : `could not start the stack: ${(e as Error).message}`;
    process.stderr.write(`\n✗ ${msg}\n`);
    return shutdown('start failed', e instanceof PrerequisiteError ? 2 : 1);
  }
  if (shuttingDown) return finished;

  if (values.check) {
    say(table(stack.rows()));
    say('\nSelf check (the quick-start flow):');
    const ok = await selfCheck(stack);
    const code = await shutdown(ok ? 'self check passed' : 'self check FAILED', ok ? 0 : 1);
    say(code === 0 ? 'self check: OK' : 'self check: FAILED');
    return code;
  }
  printReady(stack);
  stack.echo = true;
  return finished;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
    killAllSync();
    process.exit(1);
  },
);
