import { describe, expect, it } from 'vitest';
import { quotaBucket } from '../../shared/play/client';
import { createQuotaGate, parseRetryAfter } from '../../shared/play/quota-gate';

describe('quota gate', () => {
  it("holds for Play's Retry-After, else for its own doubling backoff, capped; a success resets the backoff", () => {
    let t = 0;
    const gate = createQuotaGate({ baseHoldMs: 1000, maxHoldMs: 5000, now: () => t });
    expect(gate.heldForMs()).toBe(0);
    expect(gate.refused(30_000)).toBe(30_000);
    t = 29_000;
    expect(gate.heldForMs()).toBe(1000);
    t = 30_000;
    expect(gate.heldForMs()).toBe(0);
    expect(gate.refused(undefined)).toBe(2000); // second strike in a row
    t += 2000;
    expect(gate.refused(undefined)).toBe(4000);
    t += 4000;
    expect(gate.refused(undefined)).toBe(5000); // capped
    gate.succeeded();
    t += 5000;
    expect(gate.refused(undefined)).toBe(1000);
  });

  it('a shorter Retry-After never shortens a hold already in force', () => {
    let t = 0;
    const gate = createQuotaGate({ now: () => t });
    gate.refused(10_000);
    t = 1000;
    expect(gate.refused(2000)).toBe(9000);
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates from a Headers object or a plain map; ignores junk', () => {
    const now = Date.parse('2026-12-02T10:00:00Z');
    expect(parseRetryAfter(new Headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(parseRetryAfter({ 'retry-after': '120' }, now)).toBe(120_000);
    expect(parseRetryAfter({ 'retry-after': 'Wed, 02 Dec 2026 10:00:30 GMT' }, now)).toBe(30_000);
    expect(parseRetryAfter({ 'retry-after': 'Wed, 02 Dec 2026 09:00:00 GMT' }, now)).toBe(0);
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': '-3' }, now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter(new Headers(), now)).toBeUndefined();
  });
});

describe('quota buckets', () => {
  it("follow Play's: subscriptions, one-time purchases, orders", () => {
    expect(quotaBucket('purchases.subscriptionsv2.get')).toBe('subscriptions');
    expect(quotaBucket('purchases.subscriptions.acknowledge')).toBe('subscriptions');
    expect(quotaBucket('purchases.productsv2.getproductpurchasev2')).toBe('one_time_purchases');
    expect(quotaBucket('purchases.products.consume')).toBe('one_time_purchases');
    expect(quotaBucket('orders.refund')).toBe('orders');
    expect(quotaBucket('purchases.voidedpurchases.list')).toBe('voided_purchases');
  });
});
