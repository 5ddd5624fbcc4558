import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildConsole } from '../../tools/console/build';
import { startConsoleServer } from '../../tools/console/serve';
import { setCustomClaims, startAuthEmulator } from '../../tools/emulators/auth';
import type { RunningEmulator } from '../../tools/emulators/gcloud';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * The support console in headless Chromium against the real parts: the page (built with esbuild,
 * served by startConsoleServer) signs in at the Auth emulator, reads the Firestore emulator under
 * firestore.rules, and calls refundPurchase (served on 127.0.0.1, Play simulator behind it, RTDNs
 * through Pub/Sub to playRtdn, entitlement events on). Screenshots go to .local/.
 */
const ROOT = resolve(__dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const projectId = `demo-console-${randomBytes(3).toString('hex')}`;
const password = 'console-test-pw';
let auth: RunningEmulator;
let s: FunctionsStack;
let refundServer: Server;
let consoleSite: { url: string; stop(): Promise<void> };
let browser: Browser;
let buildDir: string;

const sha256 = (x: string) => createHash('sha256').update(x).digest('hex');

/** An email/password account at the Auth emulator; its uid. */
async function account(email: string, claims?: Record<string, unknown>): Promise<string> {
  const res = await fetch(`http://${auth.host}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=fake-api-key`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, returnSecureToken: true }),
  });
  expect(res.status).toBe(200);
  const { localId } = (await res.json()) as { localId: string };
  if (claims) await setCustomClaims(auth.host, projectId, localId, claims);
  return localId;
}

beforeAll(async () => {
  expect(readFileSync(CHROMIUM).length, `${CHROMIUM} (Debian's chromium package) is needed`).toBeGreaterThan(0);
  auth = await startAuthEmulator(projectId);
  const pubsubHost = inject('pubsubEmulatorHost');
  s = await startFunctionsStack({
    projectId,
    rtdn: true,
    env: { FIREBASE_AUTH_EMULATOR_HOST: auth.host, ENTITLEMENT_EVENTS_TOPIC: 'entitlement-events', PUBSUB_EMULATOR_HOST: pubsubHost },
  });
  const pubsub = new PubSub({ projectId });
  await pubsub.createTopic('entitlement-events');
  await pubsub.close();
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  refundServer = getTestServer('refundPurchase');
  await new Promise<void>((r) => refundServer.listen(0, '127.0.0.1', r));
  const rules = readFileSync(join(ROOT, 'firestore.rules'), 'utf8');
  const put = await fetch(`http://${inject('firestoreEmulatorHost')}/emulator/v1/projects/${projectId}:securityRules`, {
    method: 'PUT',
    body: JSON.stringify({ rules: { files: [{ content: rules }] } }),
  });
  expect(put.status, await put.text()).toBe(200);

  buildDir = await buildConsole(ROOT, mkdtempSync(join(tmpdir(), 'console-build-')));
  consoleSite = await startConsoleServer({
    host: '127.0.0.1',
    port: 0,
    dir: buildDir,
    firebaseConfig: {
      projectId,
      apiKey: 'fake-api-key',
      authEmulatorUrl: `http://${auth.host}`,
      firestoreEmulatorHost: inject('firestoreEmulatorHost'),
      functionsBaseUrl: `http://127.0.0.1:${(refundServer.address() as AddressInfo).port}`,
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await consoleSite?.stop();
  if (refundServer) await new Promise<void>((r) => refundServer.close(() => r()));
  await s?.close();
  await auth?.stop();
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

/** A fresh browser context (no shared sign-in), the console open and signed in as `email`. */
async function signedIn(email: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(consoleSite.url);
  await page.getByTestId('email').fill(email);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('sign-in').getByRole('button').click();
  await page.locator('[data-testid="search"], [data-testid="not-admin"]').waitFor(); // the claim checked
  expect(errors).toEqual([]);
  return page;
}

async function search(page: Page, kind: 'uid' | 'token' | 'order', value: string): Promise<void> {
  await page.getByTestId('search-kind').selectOption(kind);
  await page.getByTestId('search-input').fill(value);
  await page.getByTestId('search').getByRole('button', { name: 'Search' }).click();
}

/** The customer buys (Play simulator) and verifies (verifyPurchase): a purchase owned by `uid`. */
async function bought(uid: string, type: 'subscription' | 'product', productId: string, bound = true) {
  const binding = bound ? { obfuscatedExternalAccountId: sha256(uid) } : {};
  const p = await s.sim.createPurchase({ type, packageName: PACKAGE, productId, ...binding } as never);
  const res = await s.post({ packageName: PACKAGE, productId, purchaseToken: p.purchaseToken }, { uid });
  expect(res.status, res.text).toBe(200);
  return p;
}

function screenshot(page: Page, name: string): Promise<Buffer> {
  mkdirSync(join(ROOT, '.local'), { recursive: true });
  return page.screenshot({ path: join(ROOT, '.local', name), fullPage: true });
}

describe('support console in a browser', () => {
  it('an admin finds the user, sees the entitlement active and why, revokes the purchase (confirmed), and sees it go inactive', async () => {
    await account('support@example.com', { admin: true });
    const customer = `demo-customer-${randomBytes(3).toString('hex')}`;
    const p = await bought(customer, 'subscription', 'premium_monthly');
    const purchaseId = sha256(p.purchaseToken);
    await bought(customer, 'product', 'coins_100');

    const page = await signedIn('support@example.com');
    await search(page, 'uid', customer);
    await expect.poll(() => page.getByTestId('balances').textContent(), { timeout: 15_000 }).toMatch(/coins\d+/);
    await expect.poll(() => page.getByTestId('entitlement-premium').textContent(), { timeout: 15_000 }).toBe('active');
    const why = page.getByTestId('entitlements').locator(`a[href="#purchase/${purchaseId}"]`);
    expect(await why.locator('..').textContent()).toContain('premium_monthly: active, granting, until');
    await page.getByTestId('purchases').locator(`a[href="#purchase/${purchaseId}"]`).waitFor();
    await expect.poll(() => page.getByTestId('timeline').locator('tr').count(), { timeout: 15_000 }).toBeGreaterThan(1);
    expect(await page.getByTestId('timeline').textContent()).toContain('INITIAL_PURCHASE');

    // the purchase: store state and owner, then revoke it
    await why.click();
    await page.getByTestId('purchase-title').waitFor();
    expect(await page.getByTestId('purchase-facts').textContent()).toContain(customer);
    await page.getByTestId('action-revoke').click();
    const dialog = page.getByTestId('confirm-dialog');
    await page.getByTestId('action-token').fill('not-this-purchases-token');
    await page.getByTestId('action-reason').fill('chargeback reported by the bank');
    await page.getByTestId('confirm').click();
    await expect.poll(() => page.getByTestId('dialog-error').textContent(), { timeout: 10_000 }).toContain('not this purchase');
    expect(s.sim.stats().calls['purchases.subscriptionsv2.revoke'] ?? 0, 'nothing sent for a wrong token').toBe(0);
    await page.getByTestId('action-token').fill(p.purchaseToken);
    await page.getByTestId('confirm').click();
    await dialog.waitFor({ state: 'detached' });
    const result = page.getByTestId('action-result');
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toContain('"status": "revoked"');
    expect(await result.textContent()).toContain('Done');
    expect((await s.db.doc(`users/${customer}/entitlements/premium`).get()).data()).toMatchObject({ active: false, state: 'revoked' });
    await expect.poll(() => page.getByTestId('audit').textContent(), { timeout: 10_000 }).toContain('chargeback reported by the bank');
    expect(await page.getByTestId('ledger').textContent()).toContain('done');

    // a second revoke: Play refuses (the subscription has ended), the page says so and the refusal is audited
    await page.getByTestId('action-revoke').click();
    await page.getByTestId('action-token').fill(p.purchaseToken);
    await page.getByTestId('action-reason').fill('clicked again');
    await page.getByTestId('confirm').click();
    await expect.poll(() => page.getByTestId('audit').textContent(), { timeout: 20_000 }).toContain('clicked again');
    expect(await page.getByTestId('action-result').textContent()).toMatch(/^Refused or failed — functions\/failed-precondition: .*"code": "failed_precondition"/s);
    expect(await page.getByTestId('audit').textContent()).toContain('refused');
    await screenshot(page, 'console-purchase.png');

    // back on the user's page: inactive, the revocation on the timeline
    await page.getByTestId('purchase-facts').getByRole('link', { name: customer }).click();
    await expect.poll(() => page.getByTestId('entitlement-premium').textContent(), { timeout: 15_000 }).toBe('inactive');
    await expect.poll(() => page.getByTestId('timeline').textContent(), { timeout: 15_000 }).toContain('revoked');
    const png = await screenshot(page, 'console-screenshot.png');
    expect(png.length).toBeGreaterThan(10_000);
    if (process.env.CONSOLE_SCREENSHOT_TO_DOCS === 'true') copyFileSync(join(ROOT, '.local/console-screenshot.png'), join(ROOT, 'docs/console.png'));
    await page.context().close();
  }, 120_000);

  it('search by purchase token (hashed in the page) and by order id finds the purchase; the token fills the action dialog', async () => {
    const customer = `demo-customer-${randomBytes(3).toString('hex')}`;
    const p = await bought(customer, 'product', 'remove_ads');
    const purchaseId = sha256(p.purchaseToken);
    const page = await signedIn('support@example.com');
    const requests: string[] = [];
    page.on('request', (r) => requests.push(`${r.url()} ${r.postData() ?? ''}`));

    await search(page, 'token', p.purchaseToken);
    await expect.poll(() => page.getByTestId('purchase-title').textContent(), { timeout: 10_000 }).toBe(`Purchase ${purchaseId}`);
    expect(requests.join('\n'), 'the token never leaves the page').not.toContain(p.purchaseToken);
    await page.getByTestId('action-refund').click();
    expect(await page.getByTestId('action-token').inputValue()).toBe(p.purchaseToken);
    await page.getByTestId('confirm-dialog').getByRole('button', { name: 'Cancel' }).click();

    await search(page, 'uid', customer); // away from the purchase, so that its title shows the next search's answer
    await page.getByTestId('user-title').waitFor();
    await search(page, 'order', p.orderId!);
    await expect.poll(() => page.getByTestId('purchase-title').textContent(), { timeout: 10_000 }).toBe(`Purchase ${purchaseId}`);
    await search(page, 'token', 'no-such-token');
    await expect.poll(() => page.getByTestId('search-message').textContent(), { timeout: 10_000 }).toContain('No purchase for this token');
    await page.context().close();
  }, 60_000);

  it('a pending refund review shows in the operations lists and is declined from there; dead letters are listed', async () => {
    expect(await s.pushRtdn({ version: '1.0', packageName: 'com.not.ours', eventTimeMillis: String(Date.now()), testNotification: { version: '1.0' } }, 'foreign-package-msg')).toBeLessThan(300);
    await s.eventually(async () => !(await s.db.collection('deadLetters').where('messageId', '==', 'foreign-package-msg').get()).empty);
    const customer = `demo-customer-${randomBytes(3).toString('hex')}`;
    const p = await bought(customer, 'product', 'remove_ads');
    const view = await s.sim.transition(p.purchaseToken, 'openRefundReview', { refundReason: 'REFUND_REASON_OTHER' });
    const noticeId = `play_pending_refund_review:${sha256(view.refundReviews!.at(-1)!.pendingRefundToken)}`;
    await s.eventually(async () => (await s.db.doc(`adminNotices/${noticeId}`).get()).exists);

    const page = await signedIn('support@example.com');
    await page.goto(`${consoleSite.url}#ops`);
    await expect.poll(() => page.getByTestId('refund-reviews').textContent(), { timeout: 10_000 }).toContain(p.orderId!);
    await page.getByTestId('refund-reviews').getByTestId('review-decline').first().click();
    await page.getByTestId('action-reason').fill('used the whole month');
    await page.getByTestId('confirm').click();
    await expect.poll(() => page.getByTestId('action-result').textContent(), { timeout: 20_000 }).toContain('"status": "answered"');
    expect((await s.db.doc(`adminNotices/${noticeId}`).get()).data()).toMatchObject({ status: 'answered' });
    expect(await page.getByTestId('admin-notices').textContent()).toContain('answered');
    expect(await page.getByTestId('dead-letters').textContent()).toContain('com.not.ours');
    await page.context().close();
  }, 60_000);

  it('an admin transfers a purchase to another user (confirmed): the entitlement moves, the audit log says so; an account-bound one is refused', async () => {
    const from = `demo-customer-${randomBytes(3).toString('hex')}`;
    const to = `demo-new-account-${randomBytes(3).toString('hex')}`;
    const page = await signedIn('support@example.com');
    // bound to its buyer's account (obfuscatedExternalAccountId): never moved against it, the page says why
    const boundOwner = `demo-customer-${randomBytes(3).toString('hex')}`;
    const bound = await bought(boundOwner, 'product', 'remove_ads');
    await page.goto(`${consoleSite.url}#purchase/${sha256(bound.purchaseToken)}`);
    await page.getByTestId('purchase-title').waitFor();
    await page.getByTestId('action-transfer').click();
    await page.getByTestId('action-to-uid').fill(to);
    await page.getByTestId('action-reason').fill('asked by the customer');
    await page.getByTestId('confirm').click();
    await expect.poll(() => page.getByTestId('action-result').textContent(), { timeout: 20_000 }).toContain('account_mismatch');
    expect((await s.db.doc(`purchases/${sha256(bound.purchaseToken)}`).get()).data()).toMatchObject({ uid: boundOwner });

    const p = await bought(from, 'product', 'remove_ads', false);
    const purchaseId = sha256(p.purchaseToken);
    await page.goto(`${consoleSite.url}#purchase/${purchaseId}`);
    await expect.poll(() => page.getByTestId('purchase-title').textContent(), { timeout: 10_000 }).toBe(`Purchase ${purchaseId}`);
    await page.getByTestId('purchase-title').waitFor();
    await page.getByTestId('action-transfer').click();
    await page.getByTestId('action-to-uid').fill('a/b');
    await page.getByTestId('action-reason').fill('customer changed accounts');
    await page.getByTestId('confirm').click();
    await expect.poll(() => page.getByTestId('dialog-error').textContent(), { timeout: 10_000 }).toContain('without "/"');
    await page.getByTestId('action-to-uid').fill(to);
    await page.getByTestId('confirm').click();
    await expect.poll(() => page.getByTestId('action-result').textContent(), { timeout: 20_000 }).toContain('"status": "transferred"');
    expect((await s.db.doc(`purchases/${purchaseId}`).get()).data()).toMatchObject({ uid: to });
    expect((await s.db.doc(`users/${from}/entitlements/no_ads`).get()).exists, 'the previous owner has no entitlement from it').toBe(false);
    expect((await s.db.doc(`users/${to}/entitlements/no_ads`).get()).data()).toMatchObject({ active: true });
    await expect.poll(() => page.getByTestId('audit').textContent(), { timeout: 10_000 }).toContain('customer changed accounts');
    await page.context().close();
  }, 60_000);

  it('a signed-in non-admin sees a clear "not an admin" message and no data; Firestore refuses them too', async () => {
    await account('someone@example.com');
    const page = await signedIn('someone@example.com');
    expect(await page.getByTestId('not-admin').textContent()).toContain('is not an admin');
    expect(await page.locator('table').count()).toBe(0);
    expect(await page.getByTestId('search').count()).toBe(0);
    await page.goto(`${consoleSite.url}#ops`);
    await page.getByTestId('not-admin').waitFor();
    expect(await page.locator('table').count()).toBe(0);
    // the page's own SDK, asked directly: the rules refuse what the UI hides
    const list = (token: string) =>
      page.evaluate(async (a) => {
        const res = await fetch(`http://${a.host}/v1/projects/${a.projectId}/databases/(default)/documents/purchases`, { headers: { authorization: `Bearer ${a.token}` } });
        return res.status;
      }, { host: inject('firestoreEmulatorHost'), projectId, token });
    expect(await list(s.idToken('someone'))).toBe(403);
    expect(await list(s.idToken('root', { admin: true })), 'the same read as an admin').toBe(200);
    await page.context().close();
  }, 60_000);
});
