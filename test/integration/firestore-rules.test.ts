import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
  type RulesTestEnvironment,
} from '@firebase/rules-unit-testing';
import { collection, doc, getDoc, getDocs, setDoc, deleteDoc } from 'firebase/firestore';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';

/** firestore.rules against the Firestore emulator: allowed and denied cases both. */
let env: RulesTestEnvironment;

beforeAll(async () => {
  const [host, port] = inject('firestoreEmulatorHost').split(':') as [string, string];
  env = await initializeTestEnvironment({
    projectId: `demo-rules-${randomBytes(3).toString('hex')}`,
    firestore: { host, port: Number(port), rules: readFileSync(resolve(__dirname, '../../firestore.rules'), 'utf8') },
  });
  await env.withSecurityRulesDisabled(async (ctx) => {
    const db = ctx.firestore();
    await setDoc(doc(db, 'users/alice'), { balances: { coins: 100 } });
    await setDoc(doc(db, 'users/alice/entitlements/premium'), { active: true, productId: 'premium_monthly' });
    await setDoc(doc(db, 'users/bob/entitlements/premium'), { active: false });
    await setDoc(doc(db, 'purchases/abc'), { uid: 'alice', productId: 'premium_monthly' });
    await setDoc(doc(db, 'auditLog/1'), { action: 'revoke' });
    await setDoc(doc(db, 'refundLedger/1'), { status: 'done' });
    await setDoc(doc(db, 'events/rtdn:1'), { type: 'subscription:2' });
    await setDoc(doc(db, 'deadLetters/1'), { reason: 'x' });
    await setDoc(doc(db, 'reconcileRuns/run-1'), { startedAt: new Date(), finishedAt: new Date(), counts: {}, playCalls: 0, errors: [] });
    await setDoc(doc(db, 'reconcileState/cursor'), { at: 'x' });
  });
});
afterAll(async () => {
  await env?.cleanup();
});

describe('firestore.rules', () => {
  it('a user reads their own user document, entitlements and balances', async () => {
    const db = env.authenticatedContext('alice').firestore();
    await assertSucceeds(getDoc(doc(db, 'users/alice')));
    await assertSucceeds(getDoc(doc(db, 'users/alice/entitlements/premium')));
    await assertSucceeds(getDocs(collection(db, 'users/alice/entitlements')));
  });

  it("a user reads nobody else's data, and nothing server-only", async () => {
    const db = env.authenticatedContext('alice').firestore();
    await assertFails(getDoc(doc(db, 'users/bob')));
    await assertFails(getDoc(doc(db, 'users/bob/entitlements/premium')));
    await assertFails(getDocs(collection(db, 'users/bob/entitlements')));
    await assertFails(getDocs(collection(db, 'users')));
    for (const path of ['purchases/abc', 'auditLog/1', 'refundLedger/1', 'events/rtdn:1', 'deadLetters/1']) {
      await assertFails(getDoc(doc(db, path)));
    }
  });

  it('nobody writes anything from a client, not even their own entitlements or balances', async () => {
    const alice = env.authenticatedContext('alice').firestore();
    await assertFails(setDoc(doc(alice, 'users/alice'), { balances: { coins: 1_000_000 } }));
    await assertFails(setDoc(doc(alice, 'users/alice/entitlements/premium'), { active: true }));
    await assertFails(deleteDoc(doc(alice, 'users/alice/entitlements/premium')));
    await assertFails(setDoc(doc(alice, 'purchases/new'), { uid: 'alice' }));
    const admin = env.authenticatedContext('root', { admin: true }).firestore();
    await assertFails(setDoc(doc(admin, 'auditLog/2'), { forged: true }));
    await assertFails(setDoc(doc(admin, 'users/bob/entitlements/premium'), { active: true }));
  });

  it('admins read the audit log and the refund ledger; non-admins do not', async () => {
    const admin = env.authenticatedContext('root', { admin: true }).firestore();
    await assertSucceeds(getDocs(collection(admin, 'auditLog')));
    await assertSucceeds(getDoc(doc(admin, 'refundLedger/1')));
    const notAdmin = env.authenticatedContext('mallory', { admin: 'true' }).firestore();
    await assertFails(getDocs(collection(notAdmin, 'auditLog')));
  });

  it('admins read the reconcile run reports; users, look-alike admins and the unauthenticated do not', async () => {
    const admin = env.authenticatedContext('root', { admin: true }).firestore();
    await assertSucceeds(getDoc(doc(admin, 'reconcileRuns/run-1')));
    await assertSucceeds(getDocs(collection(admin, 'reconcileRuns')));
    // the sweep's own bookkeeping stays server-only
    await assertFails(getDoc(doc(admin, 'reconcileState/cursor')));
    for (const db of [
      env.authenticatedContext('alice').firestore(),
      env.authenticatedContext('mallory', { admin: 'true' }).firestore(),
      env.unauthenticatedContext().firestore(),
    ]) {
      await assertFails(getDoc(doc(db, 'reconcileRuns/run-1')));
      await assertFails(getDocs(collection(db, 'reconcileRuns')));
    }
  });

  it('nobody writes a reconcile run report from a client, not even an admin', async () => {
    for (const db of [env.authenticatedContext('root', { admin: true }).firestore(), env.authenticatedContext('alice').firestore()]) {
      await assertFails(setDoc(doc(db, 'reconcileRuns/forged'), { startedAt: new Date(), counts: {} }));
      await assertFails(setDoc(doc(db, 'reconcileRuns/run-1'), { errors: [] }));
      await assertFails(deleteDoc(doc(db, 'reconcileRuns/run-1')));
    }
  });

  it('unauthenticated clients read nothing', async () => {
    const db = env.unauthenticatedContext().firestore();
    await assertFails(getDoc(doc(db, 'users/alice/entitlements/premium')));
    await assertFails(getDoc(doc(db, 'purchases/abc')));
  });
});

describe('firestore.indexes.json', () => {
  it("has the reconcile sweep's composite indexes", () => {
    const { indexes } = JSON.parse(readFileSync(resolve(__dirname, '../../firestore.indexes.json'), 'utf8')) as {
      indexes: { collectionGroup: string; queryScope: string; fields: { fieldPath: string; order: string }[] }[];
    };
    const shapes = indexes.map((i) => `${i.collectionGroup}(${i.fields.map((f) => `${f.fieldPath} ${f.order}`).join(', ')}) ${i.queryScope}`);
    expect(shapes).toEqual(
      expect.arrayContaining([
        'purchases(active ASCENDING, expiresAt ASCENDING) COLLECTION',
        'purchases(needsFinish ASCENDING, createdAt ASCENDING) COLLECTION',
        'deadLetters(replayable ASCENDING, receivedAt ASCENDING) COLLECTION',
      ]),
    );
  });
});
