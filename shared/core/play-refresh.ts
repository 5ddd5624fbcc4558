import type { Catalog } from '../catalog';
import { DomainError, isDomainError } from '../errors';
import { obfuscatedAccountIdFor, playPurchaseId } from '../ids';
import { fingerprint, log, logContext } from '../log';
import type { PurchaseKind, PurchaseSnapshot } from '../model/purchase';
import type { PlayPurchases, PurchaseRef } from '../play/client';
import type { PurchaseChange, PurchaseEvent, PurchaseRecord, PurchaseStore } from '../store/purchase-record';
import { finishAtPlay, type StoreFinish } from './finish-at-play';
import { planPlayChange, relatedPurchaseId, type PlayVoid } from './plan-play-change';
import { planRevoke } from './plan-revoke';
import { readPlayPurchase, type PlayRead } from './read-play-purchase';

/**
 * Bringing a stored Play purchase to what Play says now, for every path that is not a user's
 * verification: notifications (playRtdn) and the sweep (reconcilePurchases).
 */
export interface PlayRefreshDeps {
  catalog: Catalog;
  play: PlayPurchases;
  store: PurchaseStore;
  now: () => Date;
}

export type RefreshOutcome = 'applied' | 'duplicate' | 'stale';

/** Reads the purchase from Play and writes it (`event` is recorded with it, once). */
export async function refreshFromPlay(deps: PlayRefreshDeps, event: PurchaseEvent, ref: PurchaseRef, kind: PurchaseKind): Promise<RefreshOutcome> {
  return writeRead(deps, event, ref, await readPlayPurchase(deps, ref, kind));
}

/**
 * Writes the state just read from Play unless a read that started later was already written, gives a
 * purchase to the owner Play's links name (never against its account binding), and finishes what it
 * granted at Play, as verify does.
 */
export async function writeRead(
  deps: PlayRefreshDeps,
  event: PurchaseEvent,
  ref: PurchaseRef,
  read: PlayRead,
  voided?: PlayVoid,
): Promise<RefreshOutcome> {
  const { snapshot, readAt } = read;
  const now = deps.now();
  const purchaseId = playPurchaseId(ref.token);
  const relatedId = relatedPurchaseId(snapshot);
  let stale = false;
  let owner: string | null | undefined;
  const { duplicate, result } = await deps.store.applyPurchaseEvent(event, { purchaseId, linkedPurchaseId: relatedId }, (current, related) => {
    owner = current?.uid;
    if (current?.storeReadAt && current.storeReadAt > readAt) {
      stale = true;
      return null;
    }
    const uid = (owner = current?.uid ?? ownerNamedBy(related, snapshot));
    const { packageName, token } = ref;
    return planPlayChange({ purchaseId, uid, packageName, catalog: deps.catalog, snapshot, readAt, now, current, related, token, ...(voided ? { voided } : {}) });
  });
  logContext.setUser(owner);
  log('INFO', 'Play purchase refreshed', { purchase: purchaseId.slice(0, 12), token: fingerprint(ref.token), type: event.type, state: snapshot.state, duplicate, stale });
  if (result) await finishOrThrow(deps, ref.token, result.purchase, snapshot);
  return duplicate ? 'duplicate' : stale ? 'stale' : 'applied';
}

/**
 * The owner of the purchase this one replaces or follows (linkedPurchaseToken, an out-of-app
 * re-subscribe's expired token), unless the purchase's own account binding names someone else: then
 * nobody, until the user it names verifies it.
 */
function ownerNamedBy(related: PurchaseRecord | null, s: PurchaseSnapshot): string | null {
  if (!related?.uid) return null;
  const accountId = s.obfuscatedAccountId ?? s.expiredAccountId;
  return accountId === null || accountId === obfuscatedAccountIdFor(related.uid) ? related.uid : null;
}

/**
 * Finishes a purchase granted to an owner. A transient failure throws so that the caller's trigger
 * retries (a redelivered notification is a duplicate, which finishes what is still unfinished). Play
 * refusing (e.g. consumed meanwhile by a verification) stays recorded and is not retried here.
 */
export async function finishOrThrow(deps: PlayRefreshDeps, token: string, record: PurchaseRecord, done: StoreFinish): Promise<void> {
  const finished = await finishAtPlay(deps, token, record, { acknowledged: done.acknowledged, consumed: done.consumed });
  if (isDomainError(finished.error) && finished.error.code === 'upstream_unavailable') {
    throw new DomainError('upstream_unavailable', 'Could not finish the purchase at Google Play; retry.', { cause: finished.error });
  }
}

/** A voided order, from a notification or from voidedpurchases.list. */
export interface PlayVoidInput {
  packageName: string;
  purchaseToken: string;
  orderId: string | null;
  /** null when the source does not say (voidedpurchases.list): taken from our record, else from Play. */
  kind: PurchaseKind | null;
  /** A full refund of a one-time purchase (not a quantity-based partial one). */
  full: boolean;
}

const VOID_READ_ATTEMPTS = 3;

/**
 * A voided order. Only revoked orders are voided; renewals share a token, so a void is per order:
 * Play's state decides (a chargeback of a past renewal leaves an active subscription active). For a
 * one-time purchase the refunded units are taken back. A token Play no longer knows is recorded
 * revoked, so it can never be claimed for access.
 */
export async function applyPlayVoid(deps: PlayRefreshDeps, v: PlayVoidInput, event: PurchaseEvent): Promise<RefreshOutcome> {
  const ref: PurchaseRef = { packageName: v.packageName, productId: '', token: v.purchaseToken };
  const known = v.kind ?? (await deps.store.getPurchase(playPurchaseId(v.purchaseToken)))?.kind ?? null;
  for (let attempt = 1; attempt <= VOID_READ_ATTEMPTS; attempt++) {
    const read = await readEither(deps, ref, known);
    if (!read) return revokeUnknown(deps, v, event, known ?? 'one_time');
    const voided: PlayVoid = { orderId: v.orderId, full: read.snapshot.kind === 'one_time' && v.full };
    // A void must not be lost to a newer stored read (it would not know about the void): read again.
    const outcome = await writeRead(deps, event, ref, read, voided);
    if (outcome !== 'stale') return outcome;
  }
  throw new DomainError('upstream_unavailable', 'The purchase kept changing while its void was applied; retry.');
}

/** Reads the purchase as `kind`, or as either kind when unknown; null when Play knows it as neither. */
async function readEither(deps: PlayRefreshDeps, ref: PurchaseRef, kind: PurchaseKind | null): Promise<PlayRead | null> {
  for (const k of kind ? [kind] : (['subscription', 'one_time'] as const)) {
    try {
      return await readPlayPurchase(deps, ref, k);
    } catch (e) {
      if (!isDomainError(e) || e.code !== 'purchase_not_found') throw e;
    }
  }
  return null;
}

async function revokeUnknown(deps: PlayRefreshDeps, v: PlayVoidInput, event: PurchaseEvent, kind: PurchaseKind): Promise<RefreshOutcome> {
  const purchaseId = playPurchaseId(v.purchaseToken);
  const now = deps.now();
  let owner: string | null | undefined;
  const { duplicate } = await deps.store.applyPurchaseEvent(event, { purchaseId }, (current: PurchaseRecord | null): PurchaseChange => {
    owner = current?.uid;
    return planRevoke({ purchaseId, platform: 'google_play', packageName: v.packageName, kind, orderId: v.orderId, now, current });
  });
  logContext.setUser(owner);
  log('INFO', 'voided purchase unknown to Play recorded revoked', { purchase: purchaseId.slice(0, 12), duplicate });
  return duplicate ? 'duplicate' : 'applied';
}
