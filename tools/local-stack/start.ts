import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { AppStoreSimulator } from '../app-store-simulator';
import { buildConsole } from '../console/build';
import { startConsoleServer } from '../console/serve';
import { startAuthEmulator } from '../emulators/auth';
import { startFirestoreEmulator, startPubSubEmulator, type RunningEmulator } from '../emulators/gcloud';
import { startStackAppStore } from './apple';
import { commands } from './commands';
import { selfCheck } from './self-check';
import { createDemoAccounts, type DemoAccount } from './auth-users';
import { pickProducts, readCatalog, type CatalogPicks } from './catalog-picks';
import { acquireLock, releaseLock, stopOwner, updateLock, type LockInfo } from './lock';
import { readStackInfo, stateDirFrom, type StackInfo } from './stack-info';
import { describeNotification, encodeNotification, startPlaySimulator, type PlaySimulator } from '../play-simulator';
import {
  DIST,
  EVENTS_TOPIC,
  PROJECT_ID,
  FUNCTIONS,
  PLAY_PACKAGE,
  RECONCILE_TOPIC,
  ROOT,
  RTDN_TOPIC,
  functionEnv,
  registeredFunctions,
  shellOverrides,
  serveFunction,
  type ServedFunction,
  type StackSettings,
} from './functions';
import { PortPlanner, PrerequisiteError, checkPrerequisites } from './prerequisites';
import { adoptChildGroups, groupAlive, killAllSync, trackGroup, untrackGroup } from './processes';

/**
 * `npm start`: the local stack on 127.0.0.1 (Firestore, Pub/Sub and Auth emulators, Play and App Store
 * simulators, every function dist/index.js registers, the support console), a table of what runs where,
 * and ready-to-paste commands; then one line `ready`. Ctrl-C stops everything it started, by process
 * group, and checks nothing is left. `--check` starts it all, runs the quick-start flow, stops, exits 0/1.
 */

const USAGE = `Usage: npm start [-- [--check] [--catalog FILE] [--force] [--state-dir DIR]]

Starts the local stack on 127.0.0.1: Firestore emulator (8080), Pub/Sub emulator (8085), Auth emulator (9099),
Play simulator (8090), App Store simulator (8091, its notifications go to appStoreNotifications), the
functions dist/index.js registers (verifyPurchase 8081, playRtdn 8082, refundPurchase 8083,
appStoreNotifications 8084, reconcilePurchases 8086) and the support console (5000). A taken port moves to
the next free one. Prints one line "ready" once everything answers. Ctrl-C stops everything.
APPLE_*, PLAY_* and IAP_* variables set in your shell override the stack's own values for the functions.
With the stack running: npm run demo, npm run reconcile, npm run watch -- --uid UID.

  --check          start everything, run the quick-start flow (Play and App Store purchases, the printed curl
                   commands, a notification each, one reconcile sweep), stop everything, exit 0 if all went well
  --catalog FILE   the product catalog (IAP_CATALOG) for the functions, and what the commands and demo buy
                   (default: IAP_CATALOG from the shell, else examples/catalog.json)
  --force          if a stack already runs from the same state directory, stop it first (SIGTERM, then wait)
  --state-dir DIR  where stack.json, stack.lock and the simulators' keys go (default .local/); one stack per directory
  --build          run the build (npm run build) once the lock is taken; npm start passes it`;

const SIM_PORT = 8090;
const APPLE_SIM_PORT = 8091;

/** The emulator ports firebase.json declares (auth; hosting for the console), with our defaults. */
function firebaseJsonPorts(): { auth: number; console: number } {
  try {
    const fb = JSON.parse(readFileSync(join(ROOT, 'firebase.json'), 'utf8')) as { emulators?: Record<string, { port?: number }> };
    return { auth: fb.emulators?.auth?.port ?? 9099, console: fb.emulators?.hosting?.port ?? 5000 };
  } catch {
    return { auth: 9099, console: 5000 };
  }
}
const PORTS = firebaseJsonPorts();

const t0 = Date.now();
/** A path for messages: relative to the repository when inside it. */
const shown = (p: string) => {
  const r = relative(ROOT, p);
  return r && !r.startsWith('..') ? r : p;
};
const secs = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Row {
  what: string;
  url: string;
  pid: string;
}

/** Everything this process started, in start order; stop() undoes it in reverse. */
export class Stack {
  firestore?: RunningEmulator;
  pubsubEmulator?: RunningEmulator;
  auth?: RunningEmulator;
  pubsub?: PubSub;
  topic?: Topic;
  sim?: PlaySimulator;
  apple?: AppStoreSimulator;
  console?: { url: string; stop(): Promise<void> };
  accounts?: { user: DemoAccount; admin: DemoAccount };
  picks: CatalogPicks;
  playPackage: string;
  /** Names of the shell variables that override the stack's values (never their values: keys). */
  overridden: string[] = [];
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

  constructor(
    readonly stateDir: string,
    readonly catalog: string,
  ) {
    this.picks = pickProducts(readCatalog(catalog));
    this.playPackage = (process.env.PLAY_PACKAGE_NAMES ?? PLAY_PACKAGE).split(',')[0]!.trim() || PLAY_PACKAGE;
  }

  groups(): { name: string; pid: number }[] {
    const g: { name: string; pid: number }[] = [];
    if (this.firestore) g.push({ name: 'Firestore emulator', pid: this.firestore.process.pid });
    if (this.pubsubEmulator) g.push({ name: 'Pub/Sub emulator', pid: this.pubsubEmulator.process.pid });
    if (this.auth) g.push({ name: 'Auth emulator', pid: this.auth.process.pid });
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

    const ports = new PortPlanner(new Set([8080, 8085, PORTS.auth, SIM_PORT, APPLE_SIM_PORT, PORTS.console, ...FUNCTIONS.map((f) => f.port)]));
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
    const authPort = await want('Auth emulator', PORTS.auth);
    const simPort = await want('Play simulator', SIM_PORT);
    const applePort = await want('App Store simulator', APPLE_SIM_PORT);
    const consolePort = await want('support console', PORTS.console);
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
    say(`  … starting Auth emulator on 127.0.0.1:${authPort} (firebase-tools, ~8 s)`);
    const authP = this.step(startAuthEmulator(PROJECT_ID, authPort)).then((e) => {
      this.auth = e;
      trackGroup('Auth emulator', e.process.pid);
      say(`  ✓ Auth emulator         ${e.host}  (${secs(started)})`);
      return e;
    });
    // All three spawned their process group synchronously: track them now, not only once they answer.
    adoptChildGroups('emulator (starting)');
    // Keep them settled before going on, so a failure of one never leaves another untracked.
    const emulators = Promise.allSettled([firestoreP, pubsubP]);
    const authSettled = Promise.allSettled([authP]);

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
    const localDir = this.stateDir;
    const keyFile = join(localDir, 'play-sim-key.json');
    // Only good against this simulator, but a private key all the same: owner-only.
    writeFileSync(keyFile, `${JSON.stringify(this.sim.serviceAccountKey, null, 2)}\n`, { mode: 0o600 });
    say(`  ✓ Play simulator        ${this.sim.url}  (key ${shown(keyFile)})`);
    const apple = await this.step(
      startStackAppStore(applePort, localDir, { bundleId: process.env.APPLE_BUNDLE_ID, appAppleId: process.env.APPLE_APP_APPLE_ID }),
    );
    this.apple = apple.sim;
    this.proceed();
    say(`  ✓ App Store simulator   ${apple.sim.url}  (test root and API key in ${shown(localDir)}/)`);
    const overrides = shellOverrides();
    this.overridden = Object.keys(overrides).sort();
    if (this.overridden.length) say(`  ! from your shell, for the functions: ${this.overridden.join(', ')}`);

    const settings: StackSettings = {
      projectId: PROJECT_ID,
      firestoreHost: `127.0.0.1:${firestorePort}`,
      pubsubHost: pubsubPort ? `127.0.0.1:${pubsubPort}` : undefined,
      playApiRootUrl: this.sim.url,
      oauthTokenUrl: this.sim.tokenUrl,
      keyFile,
      catalog: this.catalog,
      logLevel: process.env.LOG_LEVEL ?? 'INFO',
      authEmulatorHost: `127.0.0.1:${authPort}`,
      ...(pubsubPort ? { eventsTopic: EVENTS_TOPIC } : {}),
      apple: apple.env,
      overrides,
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
      await this.step(this.pubsub.createTopic(EVENTS_TOPIC));
      say(`  ✓ topic ${EVENTS_TOPIC} (ENTITLEMENT_EVENTS_TOPIC; no subscriber: read entitlementEvents, or npm run watch)`);
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
    const notifications = this.functions.find((f) => f.entry.target === 'appStoreNotifications');
    if (notifications) this.apple.setNotificationUrl(notifications.url);

    const [authResult] = await authSettled;
    this.proceed();
    if (authResult.status === 'rejected') throw authResult.reason;
    this.accounts = await this.step(createDemoAccounts(this.auth!.host, PROJECT_ID, overrides.IAP_ADMIN_CLAIM ?? 'admin'));
    // The console reads Firestore with the Firebase JS SDK: under the project's rules, as in production
    // (the functions' server client is the emulator's "owner" and bypasses them, as it does in the cloud).
    await this.step(loadRules(this.firestore!.host));
    await this.step(this.startConsole(consolePort));
    this.proceed();
    await this.healthCheck();
    this.proceed();
    for (const s of this.functions) {
      void s.proc.exited.then(({ code, signal }) => {
        if (!this.stopping) this.onUnexpectedExit(s.entry.target, `exit ${code ?? signal}\n${s.proc.output().trim().split('\n').slice(-15).join('\n')}`);
      });
    }
    for (const [name, e] of [['Firestore emulator', this.firestore], ['Pub/Sub emulator', this.pubsubEmulator], ['Auth emulator', this.auth]] as const) {
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

  private async startConsole(port: number): Promise<void> {
    const dir = join(ROOT, 'build/console');
    if (!existsSync(join(dir, 'index.html'))) await buildConsole(ROOT);
    const refund = this.functions.find((f) => f.entry.target === 'refundPurchase');
    this.console = await startConsoleServer({
      host: '127.0.0.1',
      port,
      dir,
      firebaseConfig: {
        projectId: PROJECT_ID,
        apiKey: 'local-stack',
        authEmulatorUrl: `http://${this.auth!.host}`,
        firestoreEmulatorHost: this.firestore!.host,
        // refundPurchase answers on any path of its port: `${base}/refundPurchase` reaches it.
        functionsBaseUrl: refund ? refund.url.replace(/\/$/, '') : '',
      },
    });
    say(`  ✓ support console       ${this.console.url}`);
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
    if (this.auth) checks.push(probe('Auth emulator', `http://${this.auth.host}/`, (s) => s === 200));
    if (this.apple) checks.push(probe('App Store simulator', `${this.apple.controlUrl}health`, (s) => s === 200));
    if (this.console) checks.push(probe('support console', `${this.console.url}config.json`, (s) => s === 200));
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
      rows.push({ what: `  topic ${EVENTS_TOPIC}`, url: 'entitlement events (ENTITLEMENT_EVENTS_TOPIC), no subscription', pid: '' });
    } else {
      const needing = FUNCTIONS.filter((f) => f.topic).map((f) => f.target);
      rows.push({ what: 'Pub/Sub emulator', url: `not available (only ${needing.join(' and ')} need it)`, pid: '-' });
    }
    if (this.auth) rows.push({ what: 'Auth emulator', url: `http://${this.auth.host}`, pid: String(this.auth.process.pid) });
    if (this.sim) {
      rows.push({ what: 'Play simulator', url: this.sim.url, pid: self });
      rows.push({ what: '  control API', url: `${this.sim.url}_sim/  (purchases, clock, faults, stats)`, pid: '' });
    }
    if (this.apple) {
      const to = this.functions.find((f) => f.entry.target === 'appStoreNotifications');
      rows.push({ what: 'App Store simulator', url: `${this.apple.url}/`, pid: self });
      rows.push({ what: '  control API', url: `${this.apple.controlUrl}  (purchases, transitions, notifications)`, pid: '' });
      rows.push({ what: '  notifications', url: to ? `POST → ${to.url}` : 'nowhere (appStoreNotifications not registered)', pid: '' });
    }
    if (this.console) rows.push({ what: 'support console', url: this.console.url, pid: self });
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
    await Promise.allSettled([
      this.console?.stop(),
      this.apple?.close(),
      this.sim?.close(),
      this.auth?.stop(),
      this.pubsubEmulator?.stop(),
      this.firestore?.stop(),
    ]);
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

async function loadRules(firestoreHost: string): Promise<void> {
  const rules = readFileSync(join(ROOT, 'firestore.rules'), 'utf8');
  const res = await fetch(`http://${firestoreHost}/emulator/v1/projects/${PROJECT_ID}:securityRules`, {
    method: 'PUT',
    body: JSON.stringify({ rules: { files: [{ content: rules }] } }),
  });
  if (!res.ok) throw new Error(`loading firestore.rules into the Firestore emulator failed: HTTP ${res.status} ${await res.text()}`);
}

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

/** Where everything runs, for `npm run demo`, `npm run reconcile`, `npm run watch` and other scripts (ports may have moved). */
function writeStackInfo(stack: Stack): StackInfo {
  const info: StackInfo = {
    pid: process.pid,
    projectId: PROJECT_ID,
    firestoreHost: stack.firestore!.host,
    pubsubHost: stack.pubsubEmulator?.host ?? null,
    authEmulatorHost: stack.auth?.host ?? null,
    simUrl: stack.sim!.url,
    appStoreSimUrl: stack.apple ? `${stack.apple.url}/` : null,
    consoleUrl: stack.console?.url ?? null,
    catalog: stack.catalog,
    playPackage: stack.playPackage,
    appleBundleId: stack.apple?.bundleId ?? null,
    accounts: stack.accounts ?? null,
    functions: Object.fromEntries(stack.functions.map((f) => [f.entry.target, f.url])),
  };
  writeFileSync(join(stack.stateDir, 'stack.json'), `${JSON.stringify(info, null, 2)}\n`);
  const urls: Record<string, string> = { firestore: info.firestoreHost, ...info.functions };
  if (info.authEmulatorHost) urls.auth = info.authEmulatorHost;
  if (info.consoleUrl) urls.console = info.consoleUrl;
  updateLock(stack.stateDir, urls);
  return info;
}

function printReady(stack: Stack): void {
  writeStackInfo(stack);
  const c = commands(stack);
  const { user, admin } = stack.accounts!;
  say('');
  say(`iap-functions local stack is up (${secs(t0)}), project ${PROJECT_ID}, everything on 127.0.0.1:`);
  say('');
  say(table(stack.rows()));
  for (const m of stack.moved) say(`  ! ${m}`);
  say('');
  if (stack.console) {
    say(`Support console: ${stack.console.url}  sign in as ${admin.email} / ${admin.password} (admin claim)`);
    say(`Auth emulator accounts: ${user.email} / ${user.password} (uid ${user.uid}), ${admin.email} / ${admin.password} (uid ${admin.uid}).`);
    say('');
  }
  say('Paste into a shell: sign both in at the Auth emulator (ID tokens last an hour: run those lines again),');
  say(`buy ${stack.picks.nonConsumable?.productId ?? '(no non-consumable in the catalog)'} at the Play simulator, verify it as ${user.uid}, read the entitlement the app would read:`);
  say('');
  say(c.lines.join('\n'));
  if (c.adminLines.length) {
    say('');
    say('As the admin, revoke that purchase with refundPurchase (callable protocol: {"data": …}):');
    say(c.adminLines.join('\n'));
  }
  if (c.appleLines.length) {
    say('');
    say(`On the App Store: buy ${stack.picks.subscription!.productId} at the App Store simulator, verify its jwsRepresentation, renew it (a notification):`);
    say(c.appleLines.join('\n'));
  }
  if (stack.functions.some((f) => f.entry.target === 'reconcilePurchases')) {
    say('');
    say(`One reconcile sweep (publishes {} to ${RECONCILE_TOPIC}, prints its reconcileRuns report): npm run reconcile`);
  }
  const stateArg = stack.stateDir === stateDirFrom(undefined) ? '' : ` --state-dir ${stack.stateDir}`;
  say(`Follow one user's entitlements, balances and events: npm run watch -- --uid ${user.uid}${stateArg}`);
  say('');
  say(`Function logs follow, prefixed [name]. Catalog: ${shown(stack.catalog)}, package ${stack.playPackage}.`);
  say('Ctrl-C stops everything.');
  say('ready');
}

/** The state directory's lock: 0 when ours, else the exit code (another stack runs there). */
async function takeLock(stateDir: string, force: boolean): Promise<number> {
  let got = acquireLock(stateDir);
  if (!got.ok && force) {
    say(`--force: stopping the local stack already running from ${shown(stateDir)} (pid ${got.owner.pid})…`);
    if (!(await stopOwner(got.owner))) {
      process.stderr.write(`✗ the local stack with pid ${got.owner.pid} did not stop within 30 s; stop it by hand (Ctrl-C in its terminal).\n`);
      return 3;
    }
    got = acquireLock(stateDir);
  }
  if (got.ok) return 0;
  process.stderr.write(`${alreadyRunning(got.owner, stateDir)}\n`);
  return 3;
}

function alreadyRunning(owner: LockInfo, stateDir: string): string {
  const urls = owner.urls ?? {};
  const where = Object.entries(urls).map(([k, v]) => `${k} ${v}`).join(', ');
  const dir = shown(stateDir);
  return [
    `✗ A local stack is already running (pid ${owner.pid}, since ${owner.startedAt}, state in ${dir}/)${where ? `: ${where}` : ' (still starting)'}.`,
    `  Use that one (its ports and accounts are in ${dir}/stack.json), stop it with Ctrl-C in its terminal or kill ${owner.pid},`,
    `  or run npm start -- --force to stop it and start a new one (or --state-dir DIR for a second, separate stack).`,
  ].join('\n');
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        check: { type: 'boolean', default: false },
        catalog: { type: 'string' },
        force: { type: 'boolean', default: false },
        build: { type: 'boolean', default: false },
        'state-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    say(USAGE);
    return 0;
  }
  // Paths on the command line are the user's, relative to where they ran npm (npm runs us from the root).
  const userPath = (p: string) => (isAbsolute(p) ? p : resolve(process.env.INIT_CWD ?? process.cwd(), p));
  const stateDir = values['state-dir'] ? userPath(values['state-dir']) : stateDirFrom(undefined);
  const catalogArg = values.catalog ?? process.env.IAP_CATALOG;
  const catalog = catalogArg ? userPath(catalogArg) : join(ROOT, 'examples/catalog.json');
  mkdirSync(stateDir, { recursive: true });

  const taken = await takeLock(stateDir, values.force);
  if (taken !== 0) return taken;
  process.on('exit', () => {
    // stack.json describes a running stack: gone with it (only ours: --force may have a successor).
    if (readStackInfo(stateDir)?.pid === process.pid) rmSync(join(stateDir, 'stack.json'), { force: true });
    releaseLock(stateDir);
  });
  // npm start builds only once the lock is ours: a refused second start must not rebuild dist/ and
  // build/console/ under the running stack.
  if (values.build) {
    const built = spawnSync(process.execPath, ['--import', 'tsx', 'tools/build/build.ts'], { cwd: ROOT, stdio: 'inherit' });
    if (built.status !== 0) {
      process.stderr.write(`✗ the build failed (exit ${built.status ?? built.signal})\n`);
      return 1;
    }
  }

  let stack: Stack;
  try {
    stack = new Stack(stateDir, catalog);
  } catch (e) {
    process.stderr.write(`✗ ${(e as Error).message}\n`);
    return 2;
  }
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
