import { parseArgs } from 'node:util';
import { Firestore, type DocumentData, type Timestamp } from '@google-cloud/firestore';
import type { EntitlementEventMessage } from '../../shared/model/entitlement-events';
import { readStackInfo, stateDirFrom } from './stack-info';

/**
 * `npm run watch -- --uid UID`: one user's entitlements, balances and entitlement events, one line per
 * change, live from the running stack's Firestore emulator (hosts from STATE_DIR/stack.json), until Ctrl-C.
 */
const USAGE = `Usage: npm run watch -- --uid UID [--state-dir DIR]

Prints the user's current entitlements and balances, then one line per change: an entitlement added,
changed or removed (users/UID/entitlements), balances changed (users/UID), an entitlement event
(entitlementEvents). Reads the running npm start's Firestore emulator. Ctrl-C stops.`;

const say = (line: string) => process.stdout.write(`${line}\n`);
const time = () => new Date().toISOString().slice(11, 23);
const iso = (t: unknown) => (t && typeof (t as Timestamp).toDate === 'function' ? (t as Timestamp).toDate().toISOString() : t === null || t === undefined ? null : String(t));

function entitlementLine(id: string, e: DocumentData): string {
  const until = iso(e.expiresAt);
  return `entitlement ${id}: ${e.active ? 'ACTIVE' : 'inactive'} (${e.state ?? '?'}, ${e.productId ?? '?'}${until ? `, until ${until}` : ''})`;
}

function eventLine(d: DocumentData): string {
  let m: Partial<EntitlementEventMessage> = {};
  try {
    m = JSON.parse(String(d.data)) as EntitlementEventMessage;
  } catch {
    /* an unreadable event still gets its line */
  }
  const what = m.credits ? `credits ${JSON.stringify(m.credits)}` : `[${(m.entitlements ?? []).join(', ')}] ${m.active ? 'active' : 'inactive'}`;
  return `event #${d.sequence} ${d.type}: ${m.platform ?? '?'} ${m.productId ?? '?'}, ${what}, ${m.previousState ?? '-'} → ${m.state ?? '?'}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { uid: { type: 'string' }, 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return say(USAGE), 0;
  const uid = values.uid?.trim();
  if (!uid || uid.includes('/')) {
    process.stderr.write(`${uid ? `--uid: not a uid: ${uid}` : '--uid UID is required'}\n\n${USAGE}\n`);
    return 2;
  }
  const stateDir = stateDirFrom(values['state-dir']);
  const info = readStackInfo(stateDir);
  const notRunning = 'The local stack is not running: start it with `npm start` in another terminal.';
  if (!info) return process.stderr.write(`${notRunning} (no ${stateDir}/stack.json)\n`), 1;
  const alive = await fetch(`http://${info.firestoreHost}/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
  if (!alive) return process.stderr.write(`${notRunning} (nothing answers at ${info.firestoreHost}, from ${stateDir}/stack.json)\n`), 1;

  process.env.FIRESTORE_EMULATOR_HOST = info.firestoreHost;
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const db = new Firestore({ projectId: info.projectId });
  say(`Watching users/${uid} in project ${info.projectId} (Firestore emulator ${info.firestoreHost}); Ctrl-C stops.`);

  let failed: (e: Error) => void = () => undefined;
  const failure = new Promise<Error>((r) => (failed = r));
  const onError = (e: Error) => failed(e);
  let firstEntitlements = true;
  const stops = [
    db.collection(`users/${uid}/entitlements`).onSnapshot((snap) => {
      if (firstEntitlements && snap.empty) say(`${time()} entitlements: none yet`);
      for (const ch of snap.docChanges()) {
        const line = ch.type === 'removed' ? `entitlement ${ch.doc.id}: removed` : entitlementLine(ch.doc.id, ch.doc.data());
        say(`${time()} ${line}`);
      }
      firstEntitlements = false;
    }, onError),
    (() => {
      let last: string | undefined;
      return db.doc(`users/${uid}`).onSnapshot((snap) => {
        const balances = JSON.stringify(snap.data()?.balances ?? {});
        if (balances !== last) say(`${time()} balances ${balances}`);
        last = balances;
      }, onError);
    })(),
    (() => {
      let first = true;
      return db
        .collection('entitlementEvents')
        .where('uid', '==', uid)
        .onSnapshot((snap) => {
          if (first) {
            // History stays in Firestore; only its size and the latest one here.
            const latest = snap.docs.map((d) => d.data()).sort((a, b) => Number(a.sequence) - Number(b.sequence)).at(-1);
            say(`${time()} events: ${snap.size} so far${latest ? `, latest ${eventLine(latest)}` : ''}`);
            first = false;
            return;
          }
          const added = snap.docChanges().filter((c) => c.type === 'added').map((c) => c.doc.data());
          for (const d of added.sort((a, b) => Number(a.sequence) - Number(b.sequence))) say(`${time()} ${eventLine(d)}`);
        }, onError);
    })(),
  ];

  const stopped = new Promise<string>((r) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => r(sig));
  });
  const outcome = await Promise.race([stopped, failure]);
  for (const stop of stops) stop();
  await db.terminate();
  if (outcome instanceof Error) {
    process.stderr.write(`watch stopped: ${outcome.message}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
    process.exit(1);
  },
);
