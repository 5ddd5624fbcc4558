import { importPKCS8, SignJWT } from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import { ReceiptUtility } from '@apple/app-store-server-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppStoreApi } from '../../shared/app-store/api-client';
import { loadAppleConfig } from '../../shared/app-store/config';
import { createSignedData } from '../../shared/app-store/verifier';
import { decodeJwsPayload, startAppStoreSimulator, type AppStoreSimulator } from '../../tools/app-store-simulator';

/**
 * The App Store simulator on its own: Apple's bearer-token rules on the App Store Server API, the
 * endpoints the product uses (through Apple's own client), history paging, environments, receipts
 * that Apple's ReceiptUtility reads, faults, and the control API over HTTP.
 */
let sim: AppStoreSimulator;
beforeAll(async () => {
  sim = await startAppStoreSimulator();
});
afterAll(async () => {
  await sim?.close();
});

const api = () =>
  createAppStoreApi({
    key: sim.apiKey,
    bundleId: sim.bundleId,
    rootUrls: { Production: sim.url, Sandbox: sim.sandboxUrl },
    timeoutMs: 2000,
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  });

describe('bearer token: ES256, kid, iss, aud appstoreconnect-v1, bid, at most an hour', () => {
  async function token(o: { iss?: string; aud?: string; bid?: string; kid?: string; ttl?: number; key?: string } = {}) {
    const key = await importPKCS8(o.key ?? sim.apiKey.privateKeyPem, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ bid: o.bid ?? sim.bundleId })
      .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? sim.apiKey.keyId, typ: 'JWT' })
      .setIssuer(o.iss ?? sim.apiKey.issuerId)
      .setAudience(o.aud ?? 'appstoreconnect-v1')
      .setIssuedAt(now)
      .setExpirationTime(now + (o.ttl ?? 300))
      .sign(key);
  }
  const get = async (bearer?: string) =>
    fetch(`${sim.url}/inApps/v1/transactions/1`, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});

  it('a proper token passes (404 for an unknown id); anything else is 401 without a body', async () => {
    expect((await get(await token())).status).toBe(404);
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const before = sim.stats().unauthorized;
    for (const bad of [
      undefined,
      await token({ iss: 'someone-else' }),
      await token({ aud: 'appstoreconnect-v2' }),
      await token({ bid: 'com.other.app' }),
      await token({ kid: 'AAAAAAAAAA' }),
      await token({ ttl: 7200 }),
      await token({ ttl: -60 }),
      await token({ key: otherKey }),
    ]) {
      const res = await get(bad);
      expect(res.status).toBe(401);
      expect(await res.text()).toBe('');
    }
    expect(sim.stats().unauthorized - before).toBe(8);
  });
});

describe('App Store Server API through Apple\'s client', () => {
  it('transaction info, all subscription statuses and history V2, each per environment', async () => {
    const { purchase } = await sim.buy({ kind: 'subscription', productId: 'monthly', environment: 'Sandbox' });
    const id = purchase.originalTransactionId;
    const client = api();
    expect(await client.transactionInfo('Production', id)).toBeNull();
    const info = await client.transactionInfo('Sandbox', id);
    expect(decodeJwsPayload(info!)).toMatchObject({ transactionId: id, environment: 'Sandbox', type: 'Auto-Renewable Subscription' });
    const statuses = await client.subscriptionStatuses('Sandbox', id);
    expect(statuses?.data?.[0]?.lastTransactions?.[0]).toMatchObject({ status: 1, originalTransactionId: id });
    expect(decodeJwsPayload(statuses!.data![0]!.lastTransactions![0]!.signedRenewalInfo!)).toMatchObject({ autoRenewStatus: 1 });
    const history = await client.history('Sandbox', id, {});
    expect(history).toMatchObject({ environment: 'Sandbox', hasMore: false, bundleId: sim.bundleId });
  });

  it('history V2 pages 20 at a time, newest first, filters by product, covers the customer\'s purchases', async () => {
    const customerId = 'pager';
    const { purchase } = await sim.buy({ kind: 'subscription', productId: 'monthly', customerId });
    for (let i = 0; i < 22; i++) await sim.transition(purchase.originalTransactionId, 'renew');
    await sim.buy({ kind: 'non_consumable', productId: 'remove_ads', customerId });
    const client = api();
    const first = await client.history('Production', purchase.originalTransactionId, {});
    expect(first?.signedTransactions).toHaveLength(20);
    expect(first?.hasMore).toBe(true);
    const second = await client.history('Production', purchase.originalTransactionId, { revision: first!.revision! });
    expect(second?.signedTransactions).toHaveLength(4);
    const dates = [...first!.signedTransactions!, ...second!.signedTransactions!].map((j) => decodeJwsPayload<{ purchaseDate: number }>(j).purchaseDate);
    expect(dates).toEqual([...dates].sort((a, b) => b - a));
    const onlyAds = await client.history('Production', purchase.originalTransactionId, { productId: 'remove_ads' });
    expect(onlyAds?.signedTransactions?.map((j) => decodeJwsPayload(j).productId)).toEqual(['remove_ads']);
  });

  it('a key the App Store does not accept is our fault (internal), not the caller\'s', async () => {
    const { purchase } = await sim.buy({ kind: 'non_consumable', productId: 'remove_ads' });
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const client = createAppStoreApi({
      key: { ...sim.apiKey, privateKeyPem: other },
      bundleId: sim.bundleId,
      rootUrls: { Production: sim.url, Sandbox: sim.sandboxUrl },
      timeoutMs: 2000,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    await expect(client.transactionInfo('Production', purchase.originalTransactionId)).rejects.toMatchObject({ code: 'internal' });
  });

  it('injected faults answer Apple\'s error body; the client sees them as unavailable', async () => {
    const { purchase } = await sim.buy({ kind: 'non_consumable', productId: 'remove_ads' });
    sim.injectFaults({ count: 1, status: 503 });
    await expect(api().transactionInfo('Production', purchase.originalTransactionId)).rejects.toMatchObject({ code: 'upstream_unavailable' });
    expect(await api().transactionInfo('Production', purchase.originalTransactionId)).toBeTruthy();
  });
});

describe('StoreKit 1 receipts', () => {
  it('are PKCS#7 with in-app records Apple\'s ReceiptUtility reads (the first purchase\'s transaction id)', async () => {
    const a = (await sim.buy({ kind: 'non_consumable', productId: 'remove_ads' })).purchase;
    const b = (await sim.buy({ kind: 'consumable', productId: 'coins' })).purchase;
    const receipt = sim.receipt([a.originalTransactionId, b.originalTransactionId]);
    expect(Buffer.from(receipt, 'base64')[0]).toBe(0x30);
    expect(new ReceiptUtility().extractTransactionIdFromAppReceipt(receipt)).toBe(a.originalTransactionId);
    expect(new ReceiptUtility().extractTransactionIdFromAppReceipt(sim.receipt([]))).toBeNull();
  });
});

describe('control API over HTTP', () => {
  it('buys, runs transitions, signs, lists notifications, makes receipts, serves the root certificate', async () => {
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${sim.controlUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const json: any = res.headers.get('content-type')?.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer());
      return { status: res.status, json };
    };
    const bought = await call('POST', 'purchases', { kind: 'subscription', productId: 'monthly', notify: true, deliver: false });
    expect(bought.status).toBe(201);
    const id = bought.json.purchase.originalTransactionId;
    const renewed = await call('POST', `purchases/${id}/renew?deliver=false`, {});
    expect(renewed.json.notifications[0]).toMatchObject({ notificationType: 'DID_RENEW' });
    expect((await call('POST', `purchases/${id}/nonsense`, {})).status).toBe(404);
    expect((await call('POST', `purchases/${id}/failRenew`, { grace: 'yes' })).status).toBe(400);
    const signed = await call('POST', `purchases/${id}/sign`, {});
    expect(decodeJwsPayload(signed.json.signedTransaction)).toMatchObject({ originalTransactionId: id, transactionReason: 'RENEWAL' });
    const listed = await call('GET', 'notifications');
    expect(listed.json.notifications.map((n: { notificationType: string }) => n.notificationType)).toEqual(expect.arrayContaining(['SUBSCRIBED', 'DID_RENEW']));
    expect((await call('POST', 'receipts', { transactionIds: [id] })).json.receipt).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect((await call('GET', 'ca/root.der')).json).toEqual(sim.rootCertDer);
    expect((await call('GET', 'config')).json).toMatchObject({ bundleId: sim.bundleId, apiKey: { keyId: sim.apiKey.keyId } });
  });
});

describe('Send Consumption Information (V2), refunds of one transaction, family members', () => {
  const put = async (id: string, body: unknown, bearer = true) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (bearer) headers.authorization = `Bearer ${await bearerToken()}`;
    const res = await fetch(`${sim.url}/inApps/v2/transactions/consumption/${id}`, { method: 'PUT', headers, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const bearerToken = async () => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ bid: sim.bundleId })
      .setProtectedHeader({ alg: 'ES256', kid: sim.apiKey.keyId, typ: 'JWT' })
      .setIssuer(sim.apiKey.issuerId)
      .setAudience('appstoreconnect-v1')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(await importPKCS8(sim.apiKey.privateKeyPem, 'ES256'));
  };
  const ok = { customerConsented: true, sampleContentProvided: false, deliveryStatus: 'DELIVERED' };

  it('checks the bearer token and the body as Apple documents, records what was accepted, and serves it on the control API', async () => {
    const coins = (await sim.buy({ kind: 'consumable', productId: 'coins', notify: false })).purchase.originalTransactionId;
    const monthly = (await sim.buy({ kind: 'subscription', productId: 'monthly', notify: false })).purchase.originalTransactionId;
    const before = sim.consumptionInfo().length;
    expect((await put(coins, ok, false)).status).toBe(401);
    expect(await put('1', ok)).toMatchObject({ status: 404, json: { errorCode: 4040010 } });
    expect(await put(coins, { ...ok, customerConsented: false })).toMatchObject({ status: 400, json: { errorCode: 4000035 } });
    expect(await put(coins, { ...ok, deliveryStatus: 'LOST' })).toMatchObject({ status: 400, json: { errorCode: 4000036 } });
    expect(await put(coins, { ...ok, sampleContentProvided: 'no' })).toMatchObject({ status: 400, json: { errorCode: 4000041 } });
    for (const bad of [
      { ...ok, consumptionPercentage: 100_001 },
      { ...ok, refundPreference: 'MAYBE' },
      { ...ok, deliveryStatus: 'UNDELIVERED_OTHER', consumptionPercentage: 5 },
      { ...ok, refundPreference: 'GRANT_PRORATED' },
      { ...ok, lifetimeDollarsPurchased: 3 },
    ]) {
      expect((await put(coins, bad)).status, JSON.stringify(bad)).toBe(400);
    }
    expect((await put(monthly, { ...ok, consumptionPercentage: 10 })).status).toBe(400);
    expect(sim.consumptionInfo()).toHaveLength(before);

    expect((await put(coins, { ...ok, consumptionPercentage: 25_000, refundPreference: 'GRANT_PRORATED' })).status).toBe(202);
    expect(await api().sendConsumptionInformation('Production', monthly, { ...ok, refundPreference: 'DECLINE' })).toBe(true); // Apple's client
    const recorded = (await (await fetch(`${sim.controlUrl}consumption`)).json()) as { consumption: unknown[] };
    expect(recorded.consumption.slice(before)).toEqual([
      expect.objectContaining({ transactionId: coins, environment: 'Production', body: { ...ok, consumptionPercentage: 25_000, refundPreference: 'GRANT_PRORATED' } }),
      expect.objectContaining({ transactionId: monthly, body: { ...ok, refundPreference: 'DECLINE' } }),
    ]);
  });

  it('refunds a named past renewal only (the subscription goes on); a prorated refund carries revocationPercentage', async () => {
    const id = (await sim.buy({ kind: 'subscription', productId: 'monthly', notify: false })).purchase.originalTransactionId;
    await sim.transition(id, 'renew', {}, { deliver: false });
    const first = sim.get(id).transactions[0]!.transactionId;
    const { notifications } = await sim.transition(id, 'refund', { transactionId: first }, { deliver: false });
    const payload = decodeJwsPayload<{ data: { signedTransactionInfo: string; status: number } }>(notifications[0]!.signedPayload);
    expect(payload.data.status).toBe(1);
    expect(decodeJwsPayload(payload.data.signedTransactionInfo)).toMatchObject({ transactionId: first, revocationType: 'REFUND_FULL' });
    expect(sim.get(id).transactions[1]!.revocationDate).toBeUndefined();

    const coins = (await sim.buy({ kind: 'consumable', productId: 'coins', notify: false })).purchase.originalTransactionId;
    const refund = await sim.transition(coins, 'refund', { percentage: 40_000 }, { deliver: false });
    const tx = decodeJwsPayload<{ data: { signedTransactionInfo: string } }>(refund.notifications[0]!.signedPayload).data.signedTransactionInfo;
    expect(decodeJwsPayload(tx)).toMatchObject({ revocationType: 'REFUND_PRORATED', revocationPercentage: 40_000 });
    const old = (await sim.buy({ kind: 'non_renewing', productId: 'pass', notify: false, purchaseDate: 1_700_000_000_000 })).purchase;
    expect(old.transactions[0]!.purchaseDate).toBe(1_700_000_000_000);
  });

  it("a family member has their own originalTransactionId, renews with the purchaser, and REVOKE ends only theirs", async () => {
    const id = (await sim.buy({ kind: 'subscription', productId: 'monthly', notify: false })).purchase.originalTransactionId;
    const member = (await sim.transition(id, 'familyShare', { customerId: 'family-x' }, { deliver: false })).purchase;
    expect(member).toMatchObject({ ownership: 'FAMILY_SHARED', sharedFrom: id, customerId: 'family-x' });
    expect(member.originalTransactionId).not.toBe(id);
    const renewed = await sim.transition(id, 'renew', {}, { deliver: false });
    expect(renewed.notifications).toHaveLength(2);
    expect(sim.get(member.originalTransactionId).transactions).toHaveLength(2);
    await sim.transition(member.originalTransactionId, 'revoke', {}, { deliver: false });
    expect(sim.get(member.originalTransactionId).transactions.at(-1)).toMatchObject({ revocationType: 'FAMILY_REVOKE' });
    expect(sim.get(id).status).toBe(1);
    expect((await sim.transition(id, 'renew', {}, { deliver: false })).notifications).toHaveLength(1); // revoked members stop following
  });
});

describe('the production defaults', () => {
  it('the shipped Apple root (online checks on) refuses everything the test CA signs, before any network call', async () => {
    const problems: string[] = [];
    const config = loadAppleConfig({ APPLE_BUNDLE_ID: sim.bundleId, APPLE_APP_APPLE_ID: String(sim.appAppleId) }, problems);
    expect(problems).toEqual([]);
    const { purchase, notifications } = await sim.buy({ kind: 'subscription', productId: 'monthly', notify: true, deliver: false });
    const signed = createSignedData(config!);
    await expect(signed.transaction(await sim.signTransaction(purchase.originalTransactionId))).rejects.toMatchObject({ code: 'invalid_signed_data' });
    await expect(signed.notification(notifications[0]!.signedPayload)).rejects.toMatchObject({ code: 'invalid_signed_data' });
  });
});
