import { parseArgs } from 'node:util';
import { deleteApp, initializeApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, signInWithEmailAndPassword } from 'firebase/auth';
import { connectFirestoreEmulator, getFirestore } from 'firebase/firestore';
import { accountHash, hasAccess, verifyPurchase, watchEntitlements, type Entitlement } from '../../examples/clients/web';
import { pickProducts, readCatalog } from '../local-stack/catalog-picks';
import { readStackInfo, stateDirFrom } from '../local-stack/stack-info';

/**
 * `npm run client`: the web client sample (examples/clients/web) as an app would run it, against the
 * running `npm start`: sign in as the demo user at the Auth emulator (Firebase JS SDK), listen to
 * users/{uid}/entitlements, buy a product at the Play simulator bound to the user's account hash, send
 * the token through the sample's verifyPurchase, and print each snapshot until the entitlement is active.
 */
const USAGE = 'usage: npm run client -- [--product PRODUCT_ID] [--state-dir DIR] [--follow]';
const { values: args } = (() => {
  try {
    return parseArgs({ options: { product: { type: 'string' }, 'state-dir': { type: 'string' }, follow: { type: 'boolean' }, help: { type: 'boolean' } } });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
})();
if (args.help) {
  console.log(`${USAGE}\n  --follow  keep printing changes after the grant (Ctrl-C stops)`);
  process.exit(0);
}

const fail = (message: string): never => {
  console.error(message);
  process.exit(1);
};

const info = readStackInfo(stateDirFrom(args['state-dir'])) ?? fail('No running stack (no stack.json): start it with `npm start` first.');
if (!info.authEmulatorHost || !info.accounts) fail('The stack runs without the Auth emulator: the web client signs in there.');
const catalog = readCatalog(info.catalog);
const productId = args.product ?? pickProducts(catalog).nonConsumable?.productId ?? fail(`No non-consumable in ${info.catalog}: pass --product.`);
const product = catalog.products[productId] ?? fail(`${productId} is not in the stack's catalog (${info.catalog}).`);
const entitlementId = 'entitlements' in product ? product.entitlements[0]! : fail(`${productId} grants no entitlement (a consumable): pick a subscription or a non-consumable.`);
const playType = product.type === 'subscription' ? 'subscription' : 'product';

function print(all: Record<string, Entitlement>): void {
  const lines = Object.values(all).map((e) => `  ${e.id}: ${hasAccess(e) ? 'ACTIVE' : 'inactive'} (${e.state}, ${e.productId}${e.expiresAt ? `, until ${e.expiresAt.toISOString()}` : ''})`);
  console.log(['entitlements (onSnapshot):', ...(lines.length ? lines : ['  none'])].join('\n'));
}

async function main(): Promise<void> {
  const app = initializeApp({ projectId: info.projectId, apiKey: 'local-stack' }, 'web-client');
  const auth = getAuth(app);
  connectAuthEmulator(auth, `http://${info.authEmulatorHost}`, { disableWarnings: true });
  const db = getFirestore(app);
  const [host, port] = info.firestoreHost.split(':') as [string, string];
  connectFirestoreEmulator(db, host, Number(port));

  const { email, password } = info.accounts!.user;
  const { user } = await signInWithEmailAndPassword(auth, email, password);
  console.log(`signed in as ${email} (uid ${user.uid}) at the Auth emulator`);

  let granted!: () => void;
  const active = new Promise<void>((r) => (granted = r));
  const stop = watchEntitlements(db, user.uid, (all) => {
    print(all);
    if (all[entitlementId] && hasAccess(all[entitlementId])) granted();
  }, (e) => fail(`entitlements listener failed: ${e.message}`));

  const res = await fetch(new URL('_sim/purchases', info.simUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: playType, packageName: info.playPackage, productId, obfuscatedExternalAccountId: await accountHash(user.uid) }),
  });
  if (!res.ok) fail(`Play simulator: buying ${productId} failed: HTTP ${res.status} ${await res.text()}`);
  const { purchaseToken } = (await res.json()) as { purchaseToken: string };
  console.log(`bought ${productId} at the Play simulator (bound to sha256(uid))`);

  const outcome = await verifyPurchase(info.functions.verifyPurchase!, user, { packageName: info.playPackage, productId, purchaseToken });
  console.log(`verifyPurchase: ${outcome.kind}${outcome.kind === 'verified' ? `, ${entitlementId} ${outcome.result.entitlements[entitlementId]?.active ? 'active' : 'inactive'}` : ` (${outcome.message})`}`);
  if (outcome.kind !== 'verified') fail('not verified');

  const timeout = setTimeout(() => fail(`${entitlementId} did not become active in the listener within 20 s`), 20_000);
  await active;
  clearTimeout(timeout);
  console.log(`${entitlementId} unlocked from the listener`);
  if (args.follow) return; // keeps listening; Ctrl-C stops
  stop();
  await deleteApp(app);
  process.exit(0);
}

main().catch((e: unknown) => fail(`web client: ${(e as Error).message ?? String(e)}`));
