import { log, logContext } from '../log';
import { claimUnchanged, entitlementClaim, mergeClaims, type ClaimSource } from '../model/entitlement-claims';

/**
 * After a commit (and in each reconcile run): a user's pending outbox events are published oldest
 * first (a newer one never before an older one that failed: the rest waits for the next try), then the
 * user's entitlements claim is refreshed from the entitlement documents as they are now, so that a
 * slower refresh can never write an older view over a newer one.
 */
export interface OutboxEntry {
  id: string;
  uid: string;
  type: string;
  sequence: number;
  /** The message data (JSON), as committed. */
  data: string;
  published: boolean;
  claimsSynced: boolean;
  publishedAt: Date | null;
}

export interface OutboxStore {
  /** The user's pending events, by sequence. */
  pendingFor(uid: string): Promise<OutboxEntry[]>;
  /** Users with pending events (at most `limit` events looked at). */
  pendingUsers(limit: number): Promise<string[]>;
  markDelivered(entries: OutboxEntry[], now: Date): Promise<void>;
  /** The user's entitlement documents now. */
  entitlementsOf(uid: string): Promise<Record<string, ClaimSource>>;
}

export interface EventPublisher {
  /** Resolves once Pub/Sub has the message; rejects (in bounded time) otherwise. */
  publish(message: { data: string; attributes: Record<string, string>; orderingKey: string }): Promise<void>;
}

export interface ClaimsAccount {
  /** The user's custom claims, or null when Firebase Auth has no such user. */
  read(uid: string): Promise<Record<string, unknown> | null>;
  write(uid: string, claims: Record<string, unknown>): Promise<void>;
}

export interface DeliveryDeps {
  outbox: OutboxStore;
  publisher: EventPublisher | null;
  claims: { key: string; account: ClaimsAccount } | null;
  now: () => Date;
}

export interface DeliveryReport {
  published: number;
  claims: 'refreshed' | 'unchanged' | 'no_user' | 'failed' | 'none';
  /** Events still pending for this user. */
  left: number;
}

/** Logged with the user's uidHash (in its own scope: a sweep delivers for many users). */
export function deliverUser(deps: DeliveryDeps, uid: string): Promise<DeliveryReport> {
  return logContext.withUser(uid, () => deliverUserNow(deps, uid));
}

async function deliverUserNow(deps: DeliveryDeps, uid: string): Promise<DeliveryReport> {
  const pending = await deps.outbox.pendingFor(uid);
  const report: DeliveryReport = { published: 0, claims: 'none', left: 0 };
  if (pending.length === 0) return report;
  const changed = new Set<OutboxEntry>();
  for (const e of pending) {
    if (e.published || !deps.publisher) continue;
    try {
      await deps.publisher.publish({ data: e.data, attributes: { type: e.type, uid: e.uid, id: e.id }, orderingKey: e.uid });
      e.published = true;
      e.publishedAt = deps.now();
      changed.add(e);
      report.published++;
    } catch (err) {
      log('WARNING', 'entitlement event not published; it stays pending', { event: e.id, error: String((err as Error).message ?? err) });
      break; // the user's later events wait: never out of order
    }
  }
  if (deps.claims && pending.some((e) => !e.claimsSynced)) {
    report.claims = await refreshClaims(deps, deps.claims, uid);
    if (report.claims !== 'failed') {
      for (const e of pending) {
        if (e.claimsSynced) continue;
        e.claimsSynced = true;
        changed.add(e);
      }
    }
  }
  await deps.outbox.markDelivered([...changed], deps.now());
  report.left = pending.filter((e) => !(e.published || !deps.publisher) || !e.claimsSynced).length;
  return report;
}

/**
 * Reads the entitlement documents, writes the claim, and reads them again: if they changed meanwhile
 * (a newer change committed, whose own refresh may have been overwritten by this one), it goes again.
 */
async function refreshClaims(deps: DeliveryDeps, c: { key: string; account: ClaimsAccount }, uid: string): Promise<DeliveryReport['claims']> {
  try {
    let outcome: DeliveryReport['claims'] = 'unchanged';
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = deps.now();
      const claim = entitlementClaim(await deps.outbox.entitlementsOf(uid), now);
      const existing = await c.account.read(uid);
      if (existing === null) {
        log('WARNING', 'entitlements claim not set: Firebase Auth has no such user');
        return 'no_user';
      }
      if (!claimUnchanged(existing, c.key, claim)) {
        const { claims, dropped } = mergeClaims(existing, c.key, claim);
        if (dropped.length > 0) log('WARNING', 'entitlements claim trimmed to fit 1000 bytes of custom claims', { dropped });
        await c.account.write(uid, claims);
        outcome = 'refreshed';
      }
      const again = entitlementClaim(await deps.outbox.entitlementsOf(uid), now);
      if (JSON.stringify(again) === JSON.stringify(claim)) return outcome;
    }
    return outcome;
  } catch (err) {
    log('WARNING', 'entitlements claim not refreshed; it stays pending', { error: String((err as Error).message ?? err) });
    return 'failed';
  }
}

export async function deliverUsers(deps: DeliveryDeps, uids: readonly string[]): Promise<void> {
  for (const uid of new Set(uids)) await deliverUser(deps, uid);
}
