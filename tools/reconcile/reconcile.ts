import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Firestore } from '@google-cloud/firestore';
import { RECONCILE_TOPIC, ROOT } from '../local-stack/functions';

/**
 * npm run reconcile: one reconcile sweep on the running local stack (npm start). Publishes `{}` to
 * iap-reconcile on its Pub/Sub emulator, as the Cloud Scheduler job does in production; the push
 * subscription delivers it to reconcilePurchases. Then prints the run's report (reconcileRuns/{runId})
 * once it is finished. Exit 0 when a finished report appeared, 1 otherwise.
 */
const RUNS = 'reconcileRuns';

export interface StackHosts {
  projectId: string;
  pubsubHost: string;
  firestoreHost: string;
}

export interface RunReport {
  id: string;
  data: Record<string, unknown>;
}

export interface ReconcileOutcome {
  messageId: string;
  /** The newest report started after the publish, finished or not (undefined: none appeared). */
  run?: RunReport;
  finished: boolean;
}

/** Timestamps as ISO strings, so a report prints (and compares) as plain JSON. */
export function plain(v: unknown): unknown {
  if (v && typeof v === 'object' && typeof (v as { toDate?: unknown }).toDate === 'function') return (v as { toDate(): Date }).toDate().toISOString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function millis(v: unknown): number {
  const p = plain(v);
  return typeof p === 'number' ? p : typeof p === 'string' ? Date.parse(p) : NaN;
}

async function publishEmpty(h: StackHosts): Promise<string> {
  // The emulator's REST API: no gRPC client to start (and to keep this process alive) for one message.
  const url = `http://${h.pubsubHost}/v1/projects/${h.projectId}/topics/${RECONCILE_TOPIC}:publish`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ data: Buffer.from('{}').toString('base64') }] }),
    signal: AbortSignal.timeout(5000),
  });
  const body = await res.text();
  if (res.status === 404) throw new Error(`topic ${RECONCILE_TOPIC} does not exist on the Pub/Sub emulator at ${h.pubsubHost}: restart npm start`);
  if (!res.ok) throw new Error(`publishing to ${RECONCILE_TOPIC} failed: HTTP ${res.status} ${body.slice(0, 200)}`);
  return (JSON.parse(body) as { messageIds: string[] }).messageIds[0]!;
}

async function newestRun(db: Firestore): Promise<RunReport | undefined> {
  const snap = await db.collection(RUNS).orderBy('startedAt', 'desc').limit(1).get();
  const d = snap.docs[0];
  return d && { id: d.id, data: d.data() };
}

/**
 * Publishes one `{}` and waits for the report of the run it started: the newest by startedAt, started
 * after the publish (run ids are the function's business, so they are not compared), with finishedAt.
 */
export async function reconcileOnce(h: StackHosts, timeoutMs = 30_000, onPublished?: (messageId: string) => void): Promise<ReconcileOutcome> {
  const { Firestore: FirestoreClient } = await import('@google-cloud/firestore');
  // ssl: false is the client's emulator mode (owner credentials, no Google account needed)
  const db = new FirestoreClient({ projectId: h.projectId, host: h.firestoreHost, ssl: false });
  try {
    // 1 s of slack: the function's clock is this machine's, but its timestamps may be truncated
    const since = Date.now() - 1000;
    const messageId = await publishEmpty(h);
    onPublished?.(messageId);
    const deadline = Date.now() + timeoutMs;
    let run: RunReport | undefined;
    for (;;) {
      const newest = await newestRun(db);
      if (newest && millis(newest.data.startedAt) >= since) {
        run = newest;
        if (newest.data.finishedAt != null) return { messageId, run, finished: true };
      }
      if (Date.now() >= deadline) return { messageId, run, finished: false };
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await db.terminate();
  }
}

interface StackInfo {
  projectId: string;
  firestoreHost?: string;
  pubsubHost: string | null;
  functions: Record<string, string>;
}

function fail(message: string): never {
  process.stderr.write(`✗ ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION ??= 'none'; // no Google credentials to look for on a laptop
  const file = join(ROOT, '.local/stack.json');
  const notRunning = 'The local stack is not running: start it with `npm start` (in another terminal), then run `npm run reconcile` again.';
  if (!existsSync(file)) fail(notRunning);
  const info = JSON.parse(readFileSync(file, 'utf8')) as StackInfo;
  if (!info.pubsubHost || !info.firestoreHost) fail('The running local stack has no Pub/Sub emulator (install it: bash tools/install-prerequisites.sh), so nothing can trigger a sweep.');
  // .local/stack.json outlives the stack: make sure something answers there.
  const alive = await fetch(`http://${info.pubsubHost}/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
  if (!alive) fail(`${notRunning} (nothing answers at ${info.pubsubHost}, from .local/stack.json)`);
  if (!info.functions.reconcilePurchases) {
    fail('The running local stack does not serve reconcilePurchases (dist/index.js did not register it when it started): npm run build, then restart npm start.');
  }
  const hosts = { projectId: info.projectId, pubsubHost: info.pubsubHost, firestoreHost: info.firestoreHost };
  console.log(`Publishing {} to ${RECONCILE_TOPIC} on the Pub/Sub emulator at ${info.pubsubHost} (project ${info.projectId})…`);
  const out = await reconcileOnce(hosts, 30_000, (id) =>
    console.log(`  message ${id} published; waiting for its ${RUNS}/{runId} report in the Firestore emulator at ${info.firestoreHost}…`),
  ).catch((e: unknown) => fail((e as Error).message));
  if (!out.run) fail(`No ${RUNS} report appeared within 30 s: see the [reconcilePurchases] lines in npm start's output.`);
  console.log(`\n${RUNS}/${out.run.id}${out.finished ? '' : ' (not finished within 30 s)'}:`);
  console.log(JSON.stringify(plain(out.run.data), null, 2));
  if (!out.finished) process.exit(1);
}

if (require.main === module) void main();
