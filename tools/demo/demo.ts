import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';

/**
 * npm run demo: a scripted story against the running local stack (npm start), printed step by step
 * with the user's entitlements and balances after each step. Every step's outcome is checked; the
 * demo exits 1 at the first wrong one.
 */
const ROOT = join(__dirname, '../..');
interface StackInfo {
  projectId: string;
  firestoreHost: string;
  simUrl: string;
  functions: Record<string, string>;
}

function stackInfo(): StackInfo {
  const file = join(ROOT, '.local/stack.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as StackInfo;
  return {
    projectId: 'demo-iap',
    firestoreHost: '127.0.0.1:8080',
    simUrl: 'http://127.0.0.1:8090/',
    functions: { verifyPurchase: 'http://127.0.0.1:8081/', refundPurchase: 'http://127.0.0.1:8083/' },
  };
}

const info = stackInfo();
process.env.FIRESTORE_EMULATOR_HOST = info.firestoreHost;
process.env.METADATA_SERVER_DETECTION ??= 'none';
const db = new Firestore({ projectId: info.projectId });
const PACKAGE = 'com.example.app';

/** An ID token in the Auth emulator's format (the stack sets FIREBASE_AUTH_EMULATOR_HOST). */
function idToken(uid: string, claims: Record<string, unknown> = {}): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: `https://securetoken.google.com/${info.projectId}`, aud: info.projectId, auth_time: now, user_id: uid, sub: uid, iat: now, exp: now + 3600, firebase: { identities: {}, sign_in_provider: 'anonymous' }, ...claims };
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

async function call(url: string, body: unknown, token?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const sim = (path: string, body: unknown = {}) => call(new URL(`_sim/${path}`, info.simUrl).toString(), body);
const verify = (uid: string, productId: string, purchaseToken: string) =>
  call(info.functions.verifyPurchase!, { packageName: PACKAGE, productId, purchaseToken }, idToken(uid));

let step = 0;
function check(ok: boolean, what: string): void {
  if (!ok) {
    console.error(`  ✗ ${what}`);
    process.exit(1);
  }
  console.log(`  ✓ ${what}`);
}

async function show(uid: string): Promise<void> {
  const ents = await db.collection(`users/${uid}/entitlements`).get();
  const user = (await db.doc(`users/${uid}`).get()).data();
  for (const d of ents.docs) {
    const e = d.data();
    console.log(`    ${d.id}: ${e.active ? 'ACTIVE' : 'inactive'} (${e.state}, ${e.productId}${e.expiresAt ? `, until ${e.expiresAt.toDate().toISOString()}` : ''})`);
  }
  if (user?.balances) console.log(`    balances: ${JSON.stringify(user.balances)}`);
  if (ents.empty && !user?.balances) console.log('    (nothing)');
}

/** RTDNs travel simulator -> Pub/Sub -> playRtdn -> Firestore: wait until the entitlement shows the change. */
async function until(what: string, test: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await test()) return check(true, what);
    await new Promise((r) => setTimeout(r, 200));
  }
  check(false, `${what} (not within ${timeoutMs / 1000} s)`);
}

const premium = async (uid: string) => (await db.doc(`users/${uid}/entitlements/premium`).get()).data();

async function main(): Promise<void> {
  const alice = `alice-${Date.now()}`;
  const mallory = `mallory-${Date.now()}`;
  const heading = (t: string) => console.log(`\n${++step}. ${t}`);

  heading('Alice buys premium_monthly and the app verifies it');
  const sub = (await sim('purchases', { type: 'subscription', productId: 'premium_monthly', packageName: PACKAGE })).json;
  const v = await verify(alice, 'premium_monthly', sub.purchaseToken);
  check(v.status === 200 && v.json.entitlements.premium?.active === true, 'verifyPurchase 200, premium active');
  await show(alice);
  const firstExpiry = (await premium(alice))!.expiresAt.toMillis();

  heading('The subscription renews (RTDN SUBSCRIPTION_RENEWED)');
  await sim(`purchases/${sub.purchaseToken}/renew`);
  await until('expiry moved forward', async () => ((await premium(alice))?.expiresAt.toMillis() ?? 0) > firstExpiry);
  await show(alice);

  for (const [transition, state, active, title] of [
    ['grace', 'in_grace_period', true, 'A payment fails: grace period (access kept)'],
    ['recover', 'active', true, 'The payment is fixed: recovered'],
    ['cancel', 'canceled', true, 'Alice cancels: access until the paid period ends'],
    ['expire', 'expired', false, 'The period ends: expired'],
  ] as const) {
    heading(title);
    await sim(`purchases/${sub.purchaseToken}/${transition}`);
    await until(`premium is ${state}, ${active ? 'active' : 'inactive'}`, async () => {
      const e = await premium(alice);
      return e?.state === state && e.active === active;
    });
    await show(alice);
  }

  heading('Alice buys 100 coins');
  const coins = (await sim('purchases', { type: 'product', productId: 'coins_100', packageName: PACKAGE })).json;
  const c = await verify(alice, 'coins_100', coins.purchaseToken);
  check(c.status === 200 && c.json.balances.coins === 100, 'balance 100 coins');
  await show(alice);

  heading('Mallory tries to claim Alice\'s coins with the same token');
  const stolen = await verify(mallory, 'coins_100', coins.purchaseToken);
  check(stolen.status === 409 && stolen.json.error.code === 'purchase_claimed', `refused: ${stolen.status} ${stolen.json?.error?.code}`);
  await show(mallory);

  heading('An admin refunds the coins with revoke (refundPurchase callable)');
  const r = await call(
    info.functions.refundPurchase!,
    { data: { packageName: PACKAGE, purchaseToken: coins.purchaseToken, action: 'revoke', reason: 'demo: customer asked' } },
    idToken('demo-admin', { admin: true }),
  );
  check(r.status === 200 && r.json.result.status === 'revoked', 'refund: revoked at Play');
  const balance = (await db.doc(`users/${alice}`).get()).data()?.balances?.coins;
  check(balance === 0, `balance back to 0 (is ${balance})`);
  await show(alice);

  heading('The same refund again does nothing twice');
  const again = await call(
    info.functions.refundPurchase!,
    { data: { packageName: PACKAGE, purchaseToken: coins.purchaseToken, action: 'revoke', reason: 'demo: double click' } },
    idToken('demo-admin', { admin: true }),
  );
  check(again.json?.result?.repeated === true, 'answered with the first result (repeated: true)');

  console.log('\nDemo passed.');
  await db.terminate();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error && /ECONNREFUSED|fetch failed/.test(String(e.message) + String((e as { cause?: unknown }).cause))
    ? 'The local stack is not running: start it with `npm start` in another terminal.'
    : e);
  process.exit(1);
});
