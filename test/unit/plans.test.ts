import { describe, expect, it } from 'vitest';
import type { CatalogProduct } from '../../shared/catalog';
import { planClaim, type ClaimInput } from '../../shared/core/plan-claim';
import { planRevoke } from '../../shared/core/plan-revoke';
import type { GrantContext } from '../../shared/model/entitlements';
import { PurchaseState, type PurchaseSnapshot } from '../../shared/model/purchase';
import { snapshotOf } from '../helpers/snapshots';

const NOW = new Date('2026-06-01T00:00:00Z');
const LATER = new Date('2026-07-01T00:00:00Z');
const coins: CatalogProduct = { type: 'consumable', credits: { coins: 100 } };
const premium: CatalogProduct = { type: 'subscription', entitlements: ['premium'] };

const snapshot = (over: Partial<PurchaseSnapshot> = {}): PurchaseSnapshot =>
  snapshotOf({ purchasedAt: NOW, orderId: 'GPA.1', ...over });

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

  it('supersedes a linked purchase it knows: its entitlements end, its owner stays', () => {
    const old = claim({
      purchaseId: 'old',
      product: premium,
      snapshot: snapshot({ kind: 'subscription', state: PurchaseState.ACTIVE, expiresAt: LATER, productId: 'premium_monthly' }),
    }).purchase;
    const change = claim({
      product: premium,
      snapshot: snapshot({ kind: 'subscription', state: PurchaseState.ACTIVE, expiresAt: LATER, productId: 'premium_yearly' }),
      linkedPurchaseId: 'old',
      linked: old,
    });
    expect(change.linked).toMatchObject({ id: 'old', uid: 'u1', supersededBy: 'p1', active: false, productId: 'premium_monthly' });
    expect(change.linked?.entitlements.premium).toMatchObject({ active: false, state: 'superseded' });
  });

  it.each([PurchaseState.PENDING, PurchaseState.PENDING_PURCHASE_CANCELED])(
    'a %s replacement leaves the linked subscription as it is',
    (state) => {
      const old = claim({
        purchaseId: 'old',
        product: premium,
        snapshot: snapshot({ kind: 'subscription', state: PurchaseState.ACTIVE, expiresAt: LATER, productId: 'premium_monthly' }),
      }).purchase;
      for (const linked of [old, null]) {
        const change = claim({
          product: premium,
          snapshot: snapshot({ kind: 'subscription', state, expiresAt: null, productId: 'premium_yearly' }),
          linkedPurchaseId: 'old',
          linked,
        });
        expect(change.linked).toBeUndefined();
        expect(change.purchase.linkedPurchaseId).toBe('old');
        expect(change.purchase.active).toBe(false);
      }
    },
  );

  it('an unspecified (unpaid) replacement supersedes nothing either', () => {
    const change = claim({
      product: premium,
      snapshot: snapshot({ kind: 'subscription', state: PurchaseState.UNSPECIFIED, expiresAt: LATER }),
      linkedPurchaseId: 'old',
    });
    expect(change.linked).toBeUndefined();
  });

  it('a paid replacement supersedes once it is paid, even if it no longer renews', () => {
    const change = claim({
      product: premium,
      snapshot: snapshot({ kind: 'subscription', state: PurchaseState.CANCELED, expiresAt: LATER, productId: 'premium_yearly' }),
      linkedPurchaseId: 'old',
    });
    expect(change.linked).toMatchObject({ id: 'old', supersededBy: 'p1' });
  });

  it('records when the store state was read, for the ordering guard', () => {
    expect(claim({}).purchase.storeReadAt).toEqual(NOW);
    const readAt = new Date(NOW.getTime() - 1500);
    const change = claim({ readAt });
    expect(change.purchase.storeReadAt).toEqual(readAt);
    expect(change.purchase.updatedAt).toEqual(NOW);
    expect(change.purchase.createdAt).toEqual(NOW);
  });

  it('keeps createdAt from the stored record', () => {
    const first = claim({ uid: null, now: new Date('2026-05-01T00:00:00Z') }).purchase;
    const again = claim({ current: first });
    expect(again.purchase.createdAt).toEqual(new Date('2026-05-01T00:00:00Z'));
    expect(again.purchase.updatedAt).toEqual(NOW);
  });

  describe('grantWith', () => {
    it('decides entitlements, credits, and (one-time) active and expiresAt', () => {
      const seen: GrantContext[] = [];
      const change = claim({
        product: { type: 'non_consumable', entitlements: ['movie'] },
        grantWith: (ctx) => {
          seen.push(ctx);
          return {
            entitlements: { movie: { active: false, expiresAt: NOW, productId: 'movie', state: PurchaseState.PURCHASED } },
            credits: { coins: 7 },
            active: false,
            expiresAt: NOW,
          };
        },
      });
      expect(seen).toEqual([{ now: NOW, revoked: false, superseded: false }]);
      expect(change.purchase).toMatchObject({ active: false, expiresAt: NOW, credited: { coins: 7 } });
      expect(change.purchase.entitlements.movie).toMatchObject({ active: false, expiresAt: NOW });
      expect(change.credit).toEqual({ coins: 7 });
    });

    it('a subscription takes the expiry of its catalog items, not of an add-on outside the catalog', () => {
      const change = claim({
        product: premium,
        snapshot: snapshot({ kind: 'subscription', state: PurchaseState.ACTIVE, expiresAt: LATER }),
        grantWith: () => ({ entitlements: {}, credits: {}, active: true, expiresAt: NOW }),
      });
      expect(change.purchase.expiresAt).toEqual(NOW);
      expect(change.purchase.active).toBe(true);
    });

    it('without active/expiresAt the snapshot decides them', () => {
      const change = claim({ grantWith: () => ({ entitlements: {}, credits: {} }) });
      expect(change.purchase.active).toBe(true);
      expect(change.purchase.expiresAt).toBeNull();
      expect(change.credit).toBeUndefined();
    });

    it('is told a stored purchase is revoked or superseded', () => {
      const seen: GrantContext[] = [];
      const grantWith = (ctx: GrantContext) => {
        seen.push(ctx);
        return { entitlements: {}, credits: {} };
      };
      const owned = claim({}).purchase;
      claim({ current: { ...owned, revoked: true }, grantWith });
      claim({ current: { ...owned, supersededBy: 'p2' }, grantWith });
      expect(seen).toEqual([
        { now: NOW, revoked: true, superseded: false },
        { now: NOW, revoked: false, superseded: true },
      ]);
    });
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
