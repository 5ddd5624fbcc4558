import { describe, expect, it } from 'vitest';
import { planTransfer, TRANSFER_WINDOW_MS } from '../../shared/core/plan-transfer';

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
