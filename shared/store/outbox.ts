import type { Firestore } from '@google-cloud/firestore';
import { countCall } from '../metrics';
import { log } from '../log';
import type { EntitlementEventMessage } from '../model/entitlement-events';
import type { ClaimSource } from '../model/entitlement-claims';
import type { OutboxEntry, OutboxStore } from '../core/deliver-events';
import { Collections } from './firestore';
import type { PurchaseStore } from './purchase-record';

/**
 * `entitlementEvents/{id}`: the outbox. Each event is written in the transaction of the change it
 * describes, then published (and the user's claims refreshed) after the commit; `pending` stays true
 * until both are done, so that the reconcile sweep finishes whatever a crash or an outage left.
 */
export interface EventsOptions {
  /** A topic is configured: events wait to be published. */
  publish: boolean;
  /** A claims key is configured: events that touch entitlements wait for the user's claims. */
  claims: boolean;
  /** Delivers the pending events of these users (never throws: what fails stays pending). */
  deliver: (uids: string[]) => Promise<void>;
}

export function outboxDocument(message: EntitlementEventMessage, o: Pick<EventsOptions, 'publish' | 'claims'>, now: Date) {
  const published = !o.publish;
  const claimsSynced = !o.claims || message.entitlements.length === 0;
  return {
    uid: message.uid,
    type: message.type,
    sequence: message.sequence,
    data: JSON.stringify(message),
    published,
    claimsSynced,
    pending: !(published && claimsSynced),
    createdAt: now,
  };
}

/** The users whose events a commit wrote, kept off the result's enumerable fields (never serialized). */
const AFFECTED = Symbol('affectedUsers');
export function withAffectedUsers<T extends object>(result: T, uids: string[]): T {
  Object.defineProperty(result, AFFECTED, { value: uids, enumerable: false });
  return result;
}
const affectedUsers = (result: object | null | undefined): string[] => (result ? ((result as { [AFFECTED]?: string[] })[AFFECTED] ?? []) : []);

/** After each committed change, its events are delivered (outside the store's deadline: delivery has its own). */
export function withDelivery(store: PurchaseStore, deliver: (uids: string[]) => Promise<void>): PurchaseStore {
  const after = async (uids: string[]) => {
    if (uids.length === 0) return;
    try {
      await deliver(uids);
    } catch (e) {
      log('WARNING', 'entitlement events left for the next reconcile run', { error: String((e as Error).message ?? e) });
    }
  };
  return {
    ...store,
    async commitPurchaseChange(ids, plan) {
      const result = await store.commitPurchaseChange(ids, plan);
      await after(affectedUsers(result));
      return result;
    },
    async applyPurchaseEvent(event, ids, plan) {
      const outcome = await store.applyPurchaseEvent(event, ids, plan);
      await after(affectedUsers(outcome.result));
      return outcome;
    },
  };
}

export function createFirestoreOutbox(db: Firestore): OutboxStore {
  const events = db.collection(Collections.entitlementEvents);
  return {
    async pendingFor(uid) {
      const snap = await events.where('uid', '==', uid).where('pending', '==', true).get();
      countCall('outbox:read', Math.max(1, snap.size)); // billed reads: a query that finds nothing costs 1
      return snap.docs.map((d) => entryOf(d.id, d.data())).sort((a, b) => a.sequence - b.sequence);
    },
    async pendingUsers(limit) {
      const snap = await events.where('pending', '==', true).limit(limit).get();
      countCall('outbox:read', Math.max(1, snap.size));
      return [...new Set(snap.docs.map((d) => String(d.get('uid'))))];
    },
    async markDelivered(entries, now) {
      if (entries.length === 0) return;
      const batch = db.batch();
      for (const e of entries) {
        batch.update(events.doc(e.id), {
          published: e.published,
          claimsSynced: e.claimsSynced,
          pending: !(e.published && e.claimsSynced),
          ...(e.published ? { publishedAt: e.publishedAt ?? now } : {}),
          deliveredAt: now,
        });
      }
      countCall('outbox:write', entries.length);
      await batch.commit();
    },
    async entitlementsOf(uid) {
      const snap = await db.collection(Collections.users).doc(uid).collection(Collections.entitlements).get();
      countCall('claims:read', Math.max(1, snap.size));
      const out: Record<string, ClaimSource> = {};
      for (const d of snap.docs) {
        const expiresAt = d.get('expiresAt') as { toDate(): Date } | null | undefined;
        out[d.id] = { active: d.get('active') === true, expiresAt: expiresAt ? expiresAt.toDate() : null };
      }
      return out;
    },
  };
}

function entryOf(id: string, data: Record<string, unknown>): OutboxEntry {
  return {
    id,
    uid: String(data.uid),
    type: String(data.type),
    sequence: Number(data.sequence),
    data: String(data.data),
    published: data.published === true,
    claimsSynced: data.claimsSynced === true,
    publishedAt: null,
  };
}
