import { describe, expect, it } from 'vitest';
import { deliverUser, type ClaimsAccount, type DeliveryDeps, type OutboxEntry } from '../../shared/core/deliver-events';
import type { ClaimSource } from '../../shared/model/entitlement-claims';

/** deliverUser's claims refresh with an in-memory outbox and Auth account. */
const now = new Date('2026-06-01T00:00:00Z');
const later = (days: number) => new Date(now.getTime() + days * 86_400_000);
const secs = (d: Date) => Math.ceil(d.getTime() / 1000);

function entry(sequence: number): OutboxEntry {
  return { id: `e${sequence}`, uid: 'u1', type: 'RENEWAL', sequence, data: '{}', published: true, claimsSynced: false, publishedAt: null };
}

function harness(initial: Record<string, ClaimSource>, claims: Record<string, unknown> | null = {}) {
  let entitlements = initial;
  const pending = [entry(1)];
  const writes: Record<string, unknown>[] = [];
  let onWrite: (() => void) | undefined;
  const account: ClaimsAccount = {
    read: async () => (claims === null ? null : { ...claims }),
    write: async (_, c) => {
      onWrite?.();
      onWrite = undefined;
      writes.push(c);
      claims = c;
    },
  };
  const deps: DeliveryDeps = {
    outbox: {
      pendingFor: async () => pending.filter((e) => !e.claimsSynced),
      pendingUsers: async () => ['u1'],
      markDelivered: async () => undefined,
      entitlementsOf: async () => entitlements,
    },
    publisher: null,
    claims: { key: 'iap', account },
    now: () => now,
  };
  return {
    deps,
    writes,
    claims: () => claims,
    pending,
    set: (e: Record<string, ClaimSource>) => (entitlements = e),
    duringNextWrite: (f: () => void) => (onWrite = f),
  };
}

describe('claims refresh', () => {
  it('a change that commits while an older view is being written: the newer view ends up in the claim', async () => {
    const h = harness({ premium: { active: true, expiresAt: later(30) } }, { role: 'editor' });
    // the older view's write lands after the newer change committed (and after its own refresh)
    h.duringNextWrite(() => h.set({ premium: { active: true, expiresAt: later(60) } }));
    const report = await deliverUser(h.deps, 'u1');
    expect(report.claims).toBe('refreshed');
    expect(h.writes).toHaveLength(2);
    expect(h.claims()).toEqual({ role: 'editor', iap: { premium: secs(later(60)) } });
    expect(h.pending[0]!.claimsSynced).toBe(true);
  });

  it('an unchanged claim is not written; an ended entitlement is removed with the key', async () => {
    const h = harness({ premium: { active: true, expiresAt: later(30) } }, { iap: { premium: secs(later(30)) } });
    expect((await deliverUser(h.deps, 'u1')).claims).toBe('unchanged');
    expect(h.writes).toHaveLength(0);

    const g = harness({ premium: { active: false, expiresAt: later(-1) } }, { iap: { premium: secs(later(30)) }, admin: true });
    expect((await deliverUser(g.deps, 'u1')).claims).toBe('refreshed');
    expect(g.claims()).toEqual({ admin: true });
  });

  it('an entitlement past its expiry is left out even if its document still says active', async () => {
    const h = harness({ premium: { active: true, expiresAt: later(-1) }, ads: { active: true, expiresAt: null } });
    await deliverUser(h.deps, 'u1');
    expect(h.claims()).toEqual({ iap: { ads: 0 } });
  });

  it('Auth failing: nothing is marked synced (the next reconcile run retries); no Auth user: marked, nothing written', async () => {
    const h = harness({ premium: { active: true, expiresAt: later(30) } });
    h.deps.claims!.account.write = async () => {
      throw new Error('Firebase Auth accounts:update answered 503');
    };
    const report = await deliverUser(h.deps, 'u1');
    expect(report).toMatchObject({ claims: 'failed', left: 1 });
    expect(h.pending[0]!.claimsSynced).toBe(false);

    const n = harness({ premium: { active: true, expiresAt: later(30) } }, null);
    expect((await deliverUser(n.deps, 'u1')).claims).toBe('no_user');
    expect(n.writes).toHaveLength(0);
    expect(n.pending[0]!.claimsSynced).toBe(true);
  });
});
