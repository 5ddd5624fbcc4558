import { describe, expect, it } from 'vitest';
import type { CatalogProduct } from '../../shared/catalog';
import { planClaim, type ClaimInput } from '../../shared/core/plan-claim';
import { planRevoke } from '../../shared/core/plan-revoke';
import { PurchaseState, type PurchaseSnapshot } from '../../shared/model/purchase';

const NOW = new Date('2026-06-01T00:00:00Z');
const LATER = new Date('2026-07-01T00:00:00Z');
const coins: CatalogProduct = { type: 'consumable', credits: { coins: 100 } };
const premium: CatalogProduct = { type: 'subscription', entitlements: ['premium'] };

const snapshot = (over: Partial<PurchaseSnapshot> = {}): PurchaseSnapshot => ({
  kind: 'one_time',
  productId: 'coins_100',
  state: PurchaseState.PURCHASED,
  expiresAt: null,
  purchasedAt: NOW,
  orderId: 'GPA.1',
  test: false,
  acknowledged: false,
  consumed: false,
  quantity: 1,
  obfuscatedAccountId: null,
  linkedPurchaseToken: null,
  autoRenewing: null,
  ...over,
});

const claim = (over: Partial<ClaimInput>) =>
  planClaim({
    purchaseId: 'p1',
    linkedPurchaseId: null,
    uid: 'u1',
    platform: 'google_play',
    packageName: 'com.example.app',
    product: coins,
    snapshot: snapshot(),
    now: NOW,
    current: null,
    linked: null,
    ...over,
  });

describe('planClaim', () => {
  it('credits a consumable once: the first claim owes it, a repeat does not', () => {
    const first = claim({});
    expect(first.credit).toEqual({ coins: 100 });
    expect(first.purchase.credited).toEqual({ coins: 100 });
    const again = claim({ current: first.purchase });
    expect(again.credit).toBeUndefined();
    expect(again.purchase.credited).toEqual({ coins: 100 });
  });

  it('an unowned purchase (seen by a notification) is credited to nobody until claimed', () => {
    const unowned = claim({ uid: null });
    expect(unowned.credit).toBeUndefined();
    expect(unowned.purchase.credited).toBeNull();
    expect(claim({ current: unowned.purchase }).credit).toEqual({ coins: 100 });
  });

  it('keeps revoked and superseded purchases so, whatever the store says', () => {
    const revoked = planRevoke({ purchaseId: 'p1', platform: 'google_play', packageName: 'x.y', kind: 'one_time', orderId: null, now: NOW, current: claim({}).purchase });
    const again = claim({ current: revoked.purchase });
    expect(again.purchase).toMatchObject({ revoked: true, active: false });
    expect(again.credit).toBeUndefined();
  });

  it('supersedes the linked purchase and creates a placeholder for one never seen', () => {
    const change = claim({
      product: premium,
      snapshot: snapshot({ kind: 'subscription', state: PurchaseState.ACTIVE, expiresAt: LATER, productId: 'premium_yearly' }),
      linkedPurchaseId: 'old',
    });
    expect(change.purchase.entitlements.premium).toMatchObject({ active: true });
    expect(change.linked).toMatchObject({ id: 'old', uid: 'u1', supersededBy: 'p1', active: false, entitlements: {} });
  });

  it('records when the store state was read, for the ordering guard', () => {
    expect(claim({}).purchase.storeReadAt).toEqual(NOW);
  });
});

describe('planRevoke', () => {
  it('ends every entitlement and takes the credits back once', () => {
    const owned = claim({}).purchase;
    const first = planRevoke({ purchaseId: 'p1', platform: 'google_play', packageName: 'x.y', kind: 'one_time', orderId: null, now: NOW, current: owned });
    expect(first.credit).toEqual({ coins: -100 });
    expect(first.purchase).toMatchObject({ revoked: true, creditsReversed: { coins: 100 } });
    const again = planRevoke({ purchaseId: 'p1', platform: 'google_play', packageName: 'x.y', kind: 'one_time', orderId: null, now: NOW, current: first.purchase });
    expect(again.credit).toBeUndefined();
  });

  it('marks entitlements revoked', () => {
    const sub = claim({ product: premium, snapshot: snapshot({ kind: 'subscription', state: PurchaseState.ACTIVE, expiresAt: LATER }) }).purchase;
    const r = planRevoke({ purchaseId: 'p1', platform: 'google_play', packageName: 'x.y', kind: 'subscription', orderId: null, now: NOW, current: sub });
    expect(r.purchase.entitlements.premium).toMatchObject({ active: false, state: 'revoked' });
  });

  it('records a never-seen purchase as revoked and unowned', () => {
    const r = planRevoke({ purchaseId: 'p9', platform: 'google_play', packageName: 'x.y', kind: 'one_time', orderId: 'GPA.9', now: NOW, current: null });
    expect(r.purchase).toMatchObject({ id: 'p9', uid: null, revoked: true, orderId: 'GPA.9' });
    expect(r.credit).toBeUndefined();
  });
});
