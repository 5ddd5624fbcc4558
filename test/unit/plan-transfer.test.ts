import { describe, expect, it } from 'vitest';
import { appAccountTokenFor } from '../../shared/app-store/app-account-token';
import { boundToOther, planTransfer, transferRefusal, TRANSFER_WINDOW_MS, withTransfer } from '../../shared/core/plan-transfer';
import { obfuscatedAccountIdFor } from '../../shared/ids';
import type { PurchaseRecord } from '../../shared/store/purchase-record';

const now = new Date('2026-06-01T00:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms);
const base = { policy: 'transfer' as const, limit: 3, owner: 'a', uid: 'b', history: [] as Date[], now };

describe('planTransfer', () => {
  it('keeps an unowned purchase or the same owner', () => {
    expect(planTransfer({ ...base, owner: null })).toEqual({ kind: 'keep' });
    expect(planTransfer({ ...base, uid: 'a', policy: 'refuse' })).toEqual({ kind: 'keep' });
  });
  it('refuses another owner under refuse', () => {
    expect(planTransfer({ ...base, policy: 'refuse' })).toEqual({ kind: 'refuse', reason: 'claimed', recent: 0 });
  });
  it('transfers under transfer and records the time', () => {
    expect(planTransfer(base)).toEqual({ kind: 'transfer', from: 'a', history: [now] });
  });
  it('refuses the 4th transfer within 30 days, allows once the oldest ages out', () => {
    const three = [ago(1000), ago(2000), ago(TRANSFER_WINDOW_MS - 1000)];
    expect(planTransfer({ ...base, history: three })).toEqual({ kind: 'refuse', reason: 'limit', recent: 3 });
    const aged = [ago(1000), ago(2000), ago(TRANSFER_WINDOW_MS + 1)];
    const d = planTransfer({ ...base, history: aged });
    expect(d).toEqual({ kind: 'transfer', from: 'a', history: [aged[0], aged[1], now] });
  });
  it('lets an admin move past the limit and regardless of policy', () => {
    const three = [ago(1), ago(2), ago(3)];
    expect(planTransfer({ ...base, policy: 'refuse', history: three, admin: true }).kind).toBe('transfer');
  });
});

describe('transfer helpers', () => {
  it('never moves a consumable, even for an admin; refuse still answers claimed first', () => {
    expect(planTransfer({ ...base, consumable: true })).toMatchObject({ kind: 'refuse', reason: 'consumable' });
    expect(planTransfer({ ...base, consumable: true, admin: true })).toMatchObject({ kind: 'refuse', reason: 'consumable' });
    expect(planTransfer({ ...base, consumable: true, policy: 'refuse' })).toMatchObject({ kind: 'refuse', reason: 'claimed' });
  });
  it('says the limit was reached (409 transfer_limit_reached), keeps purchase_claimed otherwise', () => {
    const limit = transferRefusal({ kind: 'refuse', reason: 'limit', recent: 3 }, 3);
    expect(limit.code).toBe('transfer_limit_reached');
    expect(limit.message).toMatch(/transfer limit \(3\) was reached/);
    expect(transferRefusal({ kind: 'refuse', reason: 'claimed', recent: 0 }, 3).code).toBe('purchase_claimed');
    expect(transferRefusal({ kind: 'refuse', reason: 'consumable', recent: 0 }, 3).message).toMatch(/consumables never transfer/);
  });
  it('reads the account binding per store', () => {
    expect(boundToOther({ platform: 'google_play', accountBinding: obfuscatedAccountIdFor('a') }, 'a')).toBe(false);
    expect(boundToOther({ platform: 'google_play', accountBinding: obfuscatedAccountIdFor('a') }, 'b')).toBe(true);
    expect(boundToOther({ platform: 'app_store', accountBinding: appAccountTokenFor('a').toUpperCase() }, 'a')).toBe(false);
    expect(boundToOther({ platform: 'app_store', accountBinding: appAccountTokenFor('a') }, 'b')).toBe(true);
    expect(boundToOther({ platform: 'app_store', accountBinding: null }, 'b')).toBe(false);
  });
  it('marks the change as a move: history, last transfer, audit note', () => {
    const d = planTransfer({ ...base, history: [ago(5000)] });
    if (d.kind !== 'transfer') throw new Error('expected a transfer');
    const purchase = { id: 'p1', uid: 'b' } as PurchaseRecord;
    const change = withTransfer({ purchase }, d, { actor: { uid: 'restore' }, overLimit: false });
    expect(change.purchase).toMatchObject({ uid: 'b', transfers: [ago(5000), now], lastTransfer: { from: 'a', to: 'b', at: now, actor: 'restore', ledgerId: null } });
    expect(change.transfer).toEqual({ actor: { uid: 'restore' }, overLimit: false, from: 'a', to: 'b', at: now, transfersInWindow: 2 });
  });
});
