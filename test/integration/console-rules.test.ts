import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { assertFails, assertSucceeds, initializeTestEnvironment, type RulesTestEnvironment } from '@firebase/rules-unit-testing';
import { collection, deleteDoc, doc, getDoc, getDocs, setDoc } from 'firebase/firestore';
import { afterAll, beforeAll, describe, it, inject } from 'vitest';

/** firestore.rules: what the support console reads as an admin, and what stays server-only. */
let env: RulesTestEnvironment;

const CONSOLE_DOCS = ['users/alice', 'users/alice/entitlements/premium', 'purchases/abc', 'events/rtdn:1', 'deadLetters/1', 'adminNotices/n1', 'auditLog/1', 'refundLedger/1'];
const SERVER_ONLY = ['purchaseTokens/abc', 'refundReviewTokens/t1', 'reconcileState/cursor'];

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
  it("an admin reads any user's document and entitlements, purchases, events, dead letters, notices, audit and ledger", async () => {
    const admin = env.authenticatedContext('root', { admin: true }).firestore();
    for (const path of CONSOLE_DOCS) await assertSucceeds(getDoc(doc(admin, path)));
    for (const c of ['users/alice/entitlements', 'purchases', 'events', 'deadLetters', 'adminNotices']) {
      await assertSucceeds(getDocs(collection(admin, c)));
    }
  });

  it('an admin reads no server-only collection, lists no users and writes nothing', async () => {
    const admin = env.authenticatedContext('root', { admin: true }).firestore();
    for (const path of SERVER_ONLY) await assertFails(getDoc(doc(admin, path)));
    await assertFails(getDocs(collection(admin, 'purchaseTokens')));
    await assertFails(getDocs(collection(admin, 'users')));
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
    }
    // alice still reads her own, and only her own
    const alice = env.authenticatedContext('alice').firestore();
    await assertSucceeds(getDoc(doc(alice, 'users/alice/entitlements/premium')));
    await assertFails(getDoc(doc(alice, 'purchases/abc')));
  });
});
