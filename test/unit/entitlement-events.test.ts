import { describe, expect, it } from 'vitest';
import { deriveEntitlementEvents, type RecordTransition } from '../../shared/model/entitlement-events';
import { entitlementClaim, mergeClaims } from '../../shared/model/entitlement-claims';
import type { PurchaseRecord } from '../../shared/store/purchase-record';

const t0 = new Date('2026-01-01T00:00:00Z');
const at = (days: number) => new Date(t0.getTime() + days * 86_400_000);
let clock = 0;
function sub(over: Partial<PurchaseRecord> = {}): PurchaseRecord {
  const active = over.active ?? true;
  const state = over.state ?? 'active';
  const expiresAt = over.expiresAt === undefined ? at(30) : over.expiresAt;
  return {
    id: 'p1', uid: 'u1', platform: 'google_play', packageName: 'com.example.app', productId: 'premium_monthly', productType: 'subscription',
    kind: 'subscription', state, active, expiresAt, purchasedAt: t0, orderId: 'o1', test: false, quantity: 1, acknowledged: true, consumed: false,
    entitlements: { premium: { active, expiresAt, productId: 'premium_monthly', state } }, credited: null, revoked: false, supersededBy: null,
    linkedPurchaseId: null, createdAt: t0, updatedAt: new Date(t0.getTime() + ++clock * 1000), ...over,
  };
}
const types = (t: RecordTransition) => deriveEntitlementEvents(t).map((e) => `${e.uid}:${e.type}`);

describe('deriveEntitlementEvents', () => {
  it('walks a subscription life: one event per change, none for a change that changes nothing', () => {
    const life: [Partial<PurchaseRecord>, string[]][] = [
      [{}, ['u1:INITIAL_PURCHASE']],
      [{}, []],
      [{ expiresAt: at(60) }, ['u1:RENEWAL']],
      [{ expiresAt: at(60), state: 'canceled' }, ['u1:CANCELLATION']],
      [{ expiresAt: at(60) }, ['u1:UNCANCELLATION']],
      [{ expiresAt: at(67), state: 'in_grace_period' }, ['u1:BILLING_ISSUE']],
      [{ expiresAt: at(67), state: 'on_hold', active: false }, ['u1:BILLING_ISSUE']],
      [{ expiresAt: at(97) }, ['u1:BILLING_RECOVERED']],
      [{ expiresAt: at(97), state: 'paused', active: false }, ['u1:PAUSED']],
      [{ expiresAt: at(127) }, ['u1:RESUMED']],
      [{ expiresAt: at(127), state: 'expired', active: false }, ['u1:EXPIRATION']],
      [{ expiresAt: at(127), state: 'expired', active: false }, []],
    ];
    let previous: PurchaseRecord | null = null;
    for (const [over, expected] of life) {
      const record = sub(over);
      expect(types({ previous, record }), JSON.stringify(over)).toEqual(expected);
      previous = record;
    }
  });

  it('grace recovered without hold is BILLING_RECOVERED; an expiry after a revoke notification is a REVOCATION', () => {
    const grace = sub({ state: 'in_grace_period' });
    expect(types({ previous: grace, record: sub({ expiresAt: at(60) }) })).toEqual(['u1:BILLING_RECOVERED']);
    const active = sub();
    expect(types({ previous: active, record: sub({ state: 'expired', active: false }), revocation: true })).toEqual(['u1:REVOCATION']);
    expect(types({ previous: active, record: sub({ revoked: true, active: false }) })).toEqual(['u1:REVOCATION']);
    expect(types({ previous: sub({ revoked: true, active: false }), record: sub({ revoked: true, active: false }) })).toEqual([]);
  });

  it('a pending purchase says nothing until paid; an unowned one says nothing', () => {
    const pending = sub({ state: 'pending', active: false });
    expect(types({ previous: null, record: pending })).toEqual([]);
    expect(types({ previous: pending, record: sub() })).toEqual(['u1:INITIAL_PURCHASE']);
    expect(types({ previous: null, record: sub({ uid: null }) })).toEqual([]);
  });

  it('a replacement is one PRODUCT_CHANGE listing both entitlements; the replaced purchase says nothing', () => {
    const old = sub({ id: 'old', entitlements: { basic: { active: true, expiresAt: at(30), productId: 'basic', state: 'active' } } });
    const superseded = { ...old, active: false, supersededBy: 'p1', updatedAt: at(1) };
    const events = deriveEntitlementEvents({ previous: null, record: sub({ linkedPurchaseId: 'old' }), replaced: old });
    expect(events.map((e) => [e.type, e.entitlements, e.previousState])).toEqual([['PRODUCT_CHANGE', ['basic', 'premium'], 'active']]);
    expect(types({ previous: old, record: superseded })).toEqual([]);
  });

  it('an owner change is a TRANSFER for each user', () => {
    const events = deriveEntitlementEvents({ previous: sub(), record: sub({ uid: 'u2' }) });
    expect(events.map((e) => [e.uid, e.type, e.active])).toEqual([['u1', 'TRANSFER', false], ['u2', 'TRANSFER', true]]);
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
  });

  it('a consumable changes balances only: CREDITS_GRANTED, then CREDITS_REVERSED on its refund', () => {
    const coins = (over: Partial<PurchaseRecord>) =>
      sub({ productType: 'consumable', kind: 'one_time', state: 'purchased', expiresAt: null, entitlements: {}, productId: 'coins_100', ...over });
    const bought = coins({ credited: { coins: 100 } });
    const granted = deriveEntitlementEvents({ previous: null, record: bought, credit: { coins: 100 } });
    expect(granted.map((e) => [e.type, e.credits, e.entitlements])).toEqual([['CREDITS_GRANTED', { coins: 100 }, []]]);
    const refunded = coins({ credited: { coins: 100 }, revoked: true, state: 'canceled', active: false });
    const reversed = deriveEntitlementEvents({ previous: bought, record: refunded, credit: { coins: -100 } });
    expect(reversed.map((e) => [e.type, e.credits])).toEqual([['CREDITS_REVERSED', { coins: -100 }]]);
    expect(types({ previous: refunded, record: refunded })).toEqual([]);
  });

  it('a non-consumable is a NON_RENEWING_PURCHASE; Apple sandbox is "sandbox", a Play test purchase "test"', () => {
    const lifetime = sub({ kind: 'one_time', productType: 'non_consumable', state: 'purchased', expiresAt: null, platform: 'app_store', test: true });
    const [e] = deriveEntitlementEvents({ previous: null, record: lifetime });
    expect([e?.type, e?.environment, e?.expiresAt]).toEqual(['NON_RENEWING_PURCHASE', 'sandbox', null]);
    expect(deriveEntitlementEvents({ previous: null, record: sub({ test: true }) })[0]?.environment).toBe('test');
  });

  it('ids are stable: the same transition gives the same id', () => {
    const previous = sub();
    const record = sub({ expiresAt: at(60) });
    expect(deriveEntitlementEvents({ previous, record })[0]!.id).toBe(deriveEntitlementEvents({ previous, record })[0]!.id);
  });
});

describe('entitlement claims', () => {
  it('lists active entitlements by expiry (0 = lifetime) and keeps other claims', () => {
    const now = at(0);
    const claim = entitlementClaim({ premium: { active: true, expiresAt: at(30) }, lifetime: { active: true, expiresAt: null }, old: { active: false, expiresAt: at(1) } }, now);
    expect(claim).toEqual({ lifetime: 0, premium: Math.ceil(at(30).getTime() / 1000) });
    expect(mergeClaims({ admin: true, iap: { stale: 1 } }, 'iap', claim).claims).toEqual({ admin: true, iap: claim });
    expect(mergeClaims({ admin: true, iap: { stale: 1 } }, 'iap', {}).claims).toEqual({ admin: true });
  });

  it('stays within 1000 bytes, keeping the longest lasting', () => {
    const many = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`entitlement_${String(i).padStart(2, '0')}`, 1_800_000_000 + i]));
    const { claims, dropped } = mergeClaims({ admin: true }, 'iap', { ...many, forever: 0 });
    expect(Buffer.byteLength(JSON.stringify(claims))).toBeLessThanOrEqual(1000);
    expect((claims.iap as Record<string, number>).forever).toBe(0);
    expect(dropped).toContain('entitlement_00');
    expect(claims.admin).toBe(true);
  });
});
