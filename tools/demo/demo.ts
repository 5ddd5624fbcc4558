import { parseArgs } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { appAccountTokenFor } from '../../shared/app-store/app-account-token';
import { signIn } from '../local-stack/auth-users';
import { pickProducts, readCatalog } from '../local-stack/catalog-picks';
import { readStackInfo, stateDirFrom } from '../local-stack/stack-info';

/**
 * npm run demo: a scripted story against the running local stack (npm start), printed step by step
 * with the user's entitlements and balances after each step. Every step's outcome is checked; the
 * demo exits 1 at the first wrong one. Products come from the stack's catalog (--catalog of npm start).
 */
const { values: args } = parseArgs({ options: { 'state-dir': { type: 'string' } } });
const stateDir = stateDirFrom(args['state-dir']);
const found = readStackInfo(stateDir);
if (!found) {
  console.error(`The local stack is not running: start it with \`npm start\` in another terminal (no ${stateDir}/stack.json).`);
  process.exit(1);
}
const info = found;
process.env.FIRESTORE_EMULATOR_HOST = info.firestoreHost;
process.env.METADATA_SERVER_DETECTION ??= 'none';
const db = new Firestore({ projectId: info.projectId });
const PACKAGE = info.playPackage;
const picks = pickProducts(readCatalog(info.catalog));

/** An ID token in the Auth emulator's format for any uid (the functions accept them: FIREBASE_AUTH_EMULATOR_HOST is set). */
function idToken(uid: string, claims: Record<string, unknown> = {}): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: `https://securetoken.google.com/${info.projectId}`, aud: info.projectId, auth_time: now, user_id: uid, sub: uid, iat: now, exp: now + 3600, firebase: { identities: {}, sign_in_provider: 'anonymous' }, ...claims };
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

/** The admin as the console signs in: the stack's demo admin at the Auth emulator. */
const adminToken = () => signIn(info.authEmulatorHost!, info.accounts!.admin);

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
const appleSim = (path: string, body: unknown = {}) => call(new URL(`_sim/${path}`, info.appStoreSimUrl!).toString(), body);
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

async function main(): Promise<void> {
  const { subscription, consumable } = picks;
  if (!subscription || !consumable) {
    console.error(`The demo needs a subscription and a consumable in the catalog (${info.catalog}).`);
    process.exit(1);
  }
  const premium = async (uid: string) => (await db.doc(`users/${uid}/entitlements/${subscription.entitlement}`).get()).data();
  const alice = `alice-${Date.now()}`;
  const mallory = `mallory-${Date.now()}`;
  const heading = (t: string) => console.log(`\n${++step}. ${t}`);

  heading(`Alice buys ${subscription.productId} on Google Play and the app verifies it`);
  const sub = (await sim('purchases', { type: 'subscription', productId: subscription.productId, packageName: PACKAGE })).json;
  const v = await verify(alice, subscription.productId, sub.purchaseToken);
  check(v.status === 200 && v.json.entitlements[subscription.entitlement]?.active === true, `verifyPurchase 200, ${subscription.entitlement} active`);
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
    await until(`${subscription.entitlement} is ${state}, ${active ? 'active' : 'inactive'}`, async () => {
      const e = await premium(alice);
      return e?.state === state && e.active === active;
    });
    await show(alice);
  }

  heading(`Alice buys ${consumable.amount} ${consumable.credit} (${consumable.productId})`);
  const coins = (await sim('purchases', { type: 'product', productId: consumable.productId, packageName: PACKAGE })).json;
  const c = await verify(alice, consumable.productId, coins.purchaseToken);
  check(c.status === 200 && c.json.balances[consumable.credit] === consumable.amount, `balance ${consumable.amount} ${consumable.credit}`);
  await show(alice);

  heading('Mallory tries to claim Alice\'s coins with the same token');
  const stolen = await verify(mallory, consumable.productId, coins.purchaseToken);
  check(stolen.status === 409 && stolen.json.error.code === 'purchase_claimed', `refused: ${stolen.status} ${stolen.json?.error?.code}`);
  await show(mallory);

  heading('An admin refunds the coins with revoke (refundPurchase callable)');
  const r = await call(
    info.functions.refundPurchase!,
    { data: { packageName: PACKAGE, purchaseToken: coins.purchaseToken, action: 'revoke', reason: 'demo: customer asked' } },
    await adminToken(),
  );
  check(r.status === 200 && r.json.result.status === 'revoked', 'refund: revoked at Play');
  const balance = (await db.doc(`users/${alice}`).get()).data()?.balances?.[consumable.credit];
  check(balance === 0, `balance back to 0 (is ${balance})`);
  await show(alice);

  heading('The same refund again does nothing twice');
  const again = await call(
    info.functions.refundPurchase!,
    { data: { packageName: PACKAGE, purchaseToken: coins.purchaseToken, action: 'revoke', reason: 'demo: double click' } },
    await adminToken(),
  );
  check(again.json?.result?.repeated === true, 'answered with the first result (repeated: true)');

  if (!info.appStoreSimUrl || !info.functions.appStoreNotifications) {
    console.log('\n(App Store part skipped: the stack runs no App Store simulator or no appStoreNotifications.)');
  } else {
    heading(`Alice buys ${subscription.productId} on the App Store (appAccountToken = uuid5 of her uid) and the app verifies it`);
    const bought = await appleSim('purchases', { kind: 'subscription', productId: subscription.productId, appAccountToken: appAccountTokenFor(alice) });
    const tx = bought.json.purchase.originalTransactionId as string;
    check(bought.status === 201 && bought.json.notifications[0]?.delivery?.status === 200, `SUBSCRIBED delivered to appStoreNotifications (HTTP ${bought.json.notifications[0]?.delivery?.status})`);
    const jws = (await appleSim(`purchases/${tx}/sign`)).json.signedTransaction as string;
    const a = await call(info.functions.verifyPurchase!, { platform: 'app_store', signedTransaction: jws }, idToken(alice));
    check(a.status === 200 && a.json.entitlements[subscription.entitlement]?.active === true, `verifyPurchase 200, ${subscription.entitlement} active again`);
    await show(alice);
    const appleExpiry = (await premium(alice))!.expiresAt.toMillis();

    heading('It renews (App Store notification DID_RENEW)');
    const renewed = await appleSim(`purchases/${tx}/renew`);
    check(renewed.json.notifications[0]?.notificationType === 'DID_RENEW' && renewed.json.notifications[0]?.delivery?.status === 200, 'DID_RENEW delivered, HTTP 200');
    await until('expiry moved forward', async () => ((await premium(alice))?.expiresAt.toMillis() ?? 0) > appleExpiry);
    await show(alice);

    heading('Apple refunds it (App Store notification REFUND)');
    const refunded = await appleSim(`purchases/${tx}/refund`);
    check(refunded.json.notifications[0]?.notificationType === 'REFUND' && refunded.json.notifications[0]?.delivery?.status === 200, 'REFUND delivered, HTTP 200');
    await until(`${subscription.entitlement} is inactive`, async () => (await premium(alice))?.active === false);
    await show(alice);
  }

  console.log('\nDemo passed.');
  await db.terminate();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error && /ECONNREFUSED|fetch failed/.test(String(e.message) + String((e as { cause?: unknown }).cause))
    ? 'The local stack is not running: start it with `npm start` in another terminal.'
    : e);
  process.exit(1);
});
