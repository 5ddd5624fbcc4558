import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { assertFails, assertSucceeds, initializeTestEnvironment, type RulesTestEnvironment } from '@firebase/rules-unit-testing';
import { collection, deleteDoc, doc, getDoc, getDocs, limit, orderBy, query, setDoc, where } from 'firebase/firestore';
import { afterAll, beforeAll, describe, it, inject } from 'vitest';

/** firestore.rules: what the support console reads as an admin, and what stays server-only. */
let env: RulesTestEnvironment;

/** One document of each collection the console reads (console/src/data.ts), and the collections it queries. */
const CONSOLE_DOCS = [
  'users/alice',
  'users/alice/entitlements/premium',
  'purchases/abc',
  'events/rtdn:1',
  'entitlementEvents/e1',
  'refundLedger/1',
  'auditLog/1',
  'deadLetters/1',
  'adminNotices/n1',
  'reconcileRuns/r1',
];
const CONSOLE_COLLECTIONS = ['users/alice/entitlements', 'purchases', 'events', 'entitlementEvents', 'refundLedger', 'auditLog', 'deadLetters', 'adminNotices', 'reconcileRuns'];
/** Server-only, and what the console does not show (a made-up subcollection and collection included). */
const SERVER_ONLY = ['purchaseTokens/abc', 'refundReviewTokens/t1', 'reconcileState/cursor', 'users/alice/private/x', 'somethingElse/1'];

beforeAll(async () => {
  const [host, port] = inject('firestoreEmulatorHost').split(':') as [string, string];
  env = await initializeTestEnvironment({
    projectId: `demo-console-rules-${randomBytes(3).toString('hex')}`,
    firestore: { host, port: Number(port), rules: readFileSync(resolve(__dirname, '../../firestore.rules'), 'utf8') },
  });
  await env.withSecurityRulesDisabled(async (ctx) => {
    const db = ctx.firestore();
    for (const path of [...CONSOLE_DOCS, ...SERVER_ONLY]) await setDoc(doc(db, path), { x: 1 });
  });
});
afterAll(async () => {
  await env?.cleanup();
});

describe('firestore.rules for the support console', () => {
  it("an admin reads each collection the console shows, and runs its queries", async () => {
    const admin = env.authenticatedContext('root', { admin: true }).firestore();
    for (const path of CONSOLE_DOCS) await assertSucceeds(getDoc(doc(admin, path)));
    for (const c of CONSOLE_COLLECTIONS) await assertSucceeds(getDocs(collection(admin, c)));
    // the console's own queries (one equality filter, or an indexed order)
    await assertSucceeds(getDocs(query(collection(admin, 'entitlementEvents'), where('uid', '==', 'alice'), orderBy('sequence', 'desc'), limit(200))));
    await assertSucceeds(getDocs(query(collection(admin, 'refundLedger'), where('request.purchaseId', '==', 'abc'))));
    await assertSucceeds(getDocs(query(collection(admin, 'adminNotices'), where('kind', '==', 'play_pending_refund_review'), where('status', '==', 'open'))));
  });

  it('an admin reads no server-only collection, lists no users and writes nothing', async () => {
    const admin = env.authenticatedContext('root', { admin: true }).firestore();
    for (const path of SERVER_ONLY) await assertFails(getDoc(doc(admin, path)));
    for (const c of ['purchaseTokens', 'refundReviewTokens', 'reconcileState', 'users', 'users/alice/private']) await assertFails(getDocs(collection(admin, c)));
    for (const path of CONSOLE_DOCS) {
      await assertFails(setDoc(doc(admin, path), { forged: true }));
      await assertFails(deleteDoc(doc(admin, path)));
    }
  });

  it('users, look-alike admins and the unauthenticated read none of the console data', async () => {
    for (const db of [
      env.authenticatedContext('bob').firestore(),
      env.authenticatedContext('mallory', { admin: 'true' }).firestore(),
      env.unauthenticatedContext().firestore(),
    ]) {
      for (const path of CONSOLE_DOCS) await assertFails(getDoc(doc(db, path)));
      for (const c of CONSOLE_COLLECTIONS) await assertFails(getDocs(collection(db, c)));
      for (const path of CONSOLE_DOCS) await assertFails(setDoc(doc(db, path), { forged: true }));
    }
    // alice still reads her own, and only her own
    const alice = env.authenticatedContext('alice').firestore();
    await assertSucceeds(getDoc(doc(alice, 'users/alice/entitlements/premium')));
    await assertFails(getDoc(doc(alice, 'purchases/abc')));
    await assertFails(getDocs(query(collection(alice, 'entitlementEvents'), where('uid', '==', 'alice'))));
    await assertFails(getDoc(doc(alice, 'users/alice/private/x')));
  });
});
