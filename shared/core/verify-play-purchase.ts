import type { KeyObject } from 'node:crypto';
import type { Catalog } from '../catalog';
import { findProduct, type CatalogProduct } from '../catalog';
import { DomainError } from '../errors';
import { obfuscatedAccountIdFor, playPurchaseId } from '../ids';
import { fingerprint, log } from '../log';
import { EntitlementOverride } from '../model/entitlements';
import { isCanceledBeforeUse, PurchaseState, type PurchaseSnapshot } from '../model/purchase';
import type { PlayPurchases, PurchaseRef } from '../play/client';
import { checkSignedPurchase } from '../play/signature';
import type { CommitResult, PurchaseRecord, PurchaseStore, UserView } from '../store/purchase-record';
import { finishAtPlay, type StoreFinish } from './finish-at-play';
import { planPlayChange, relatedPurchaseId } from './plan-play-change';
import { planTransfer, transferRefusal, withTransfer, type RestoreOptions } from './plan-transfer';
import { readPlayPurchase, type PlayRead } from './read-play-purchase';
import type { VerifyResult } from './verify-result';

export interface VerifyPlayDeps {
  catalog: Catalog;
  packageNames: ReadonlySet<string>;
  licenseKeys: ReadonlyMap<string, KeyObject>;
  play: PlayPurchases;
  store: PurchaseStore;
  now: () => Date;
  /** Answer an owner's repeat verification from Firestore while the stored state holds (0 Play calls). */
  trustStoredState?: { marginMs: number } | undefined;
  /** RESTORE_POLICY and RESTORE_TRANSFER_LIMIT (default: refuse). */
  restore?: RestoreOptions | undefined;
}

export interface VerifyPlayRequest {
  packageName: string;
  productId: string;
  purchaseToken: string;
  signedData?: string | undefined;
  signature?: string | undefined;
}

/** Reads of Play that lose to a newer stored one are retried this many times in all. */
const READ_ATTEMPTS = 3;

class StaleRead extends Error {}

/**
 * verifyPurchase for Google Play: request -> catalog -> Play (authoritative) -> pure model -> one
 * transaction (claim + grant/credit) -> acknowledge/consume at Play -> result.
 */
export async function verifyPlayPurchase(deps: VerifyPlayDeps, uid: string, req: VerifyPlayRequest): Promise<VerifyResult<'google_play'>> {
  if (!deps.packageNames.has(req.packageName)) {
    throw new DomainError('package_not_allowed', `Package "${req.packageName}" is not served by this deployment.`);
  }
  const product = findProduct(deps.catalog, req.productId);
  checkSignedPurchase({ keys: deps.licenseKeys, request: req });
  const ref: PurchaseRef = { packageName: req.packageName, productId: req.productId, token: req.purchaseToken };
  const kind = product.type === 'subscription' ? 'subscription' : 'one_time';
  if (deps.trustStoredState) {
    // one round trip: the purchase with the entitlements its product grants (add-ons may add more);
    // Play's token exchange starts behind it (a new instance's first Firestore call leaves first)
    const expected = 'entitlements' in product ? product.entitlements : [];
    const reading = deps.store.getPurchaseWithView(playPurchaseId(req.purchaseToken), uid, expected);
    deps.play.warmUp?.();
    const { purchase: stored, view } = await reading;
    if (stored && storedStateHolds(stored, uid, req.productId, deps.now(), deps.trustStoredState.marginMs)) {
      const ids = Object.keys(stored.entitlements);
      const complete = ids.every((id) => expected.includes(id)) && expected.every((id) => ids.includes(id));
      return result(stored, product, complete ? view : await deps.store.getUserView(uid, ids), stored, 'store');
    }
  }

  for (let attempt = 1; ; attempt++) {
    const read = await readPlayPurchase(deps, ref, kind, req.productId);
    try {
      return await claim(deps, uid, req, read);
    } catch (e) {
      if (!(e instanceof StaleRead)) throw e;
      if (attempt >= READ_ATTEMPTS) {
        throw new DomainError('upstream_unavailable', 'This purchase is changing at Google Play right now; retry shortly.', {
          retryAfterSeconds: 2,
        });
      }
    }
  }
}

async function claim(deps: VerifyPlayDeps, uid: string, req: VerifyPlayRequest, read: PlayRead): Promise<VerifyResult<'google_play'>> {
  const { snapshot, product, readAt } = read;
  // The account binding the app set at purchase time is the strongest statement of ownership. An
  // out-of-app re-subscribe has none of its own; the expired subscription's binding stands for it.
  const accountId = snapshot.obfuscatedAccountId ?? snapshot.expiredAccountId;
  if (accountId !== null && accountId !== obfuscatedAccountIdFor(uid)) {
    throw new DomainError('account_mismatch', 'This purchase was made for another account of this app.');
  }
  if (snapshot.state === PurchaseState.PENDING) {
    throw new DomainError('purchase_pending', 'The payment for this purchase is not complete yet; nothing was granted. Retry later.', {
      retryAfterSeconds: 60,
    });
  }
  const purchaseId = playPurchaseId(req.purchaseToken);
  const relatedId = relatedPurchaseId(snapshot);
  const canceled = isCanceledBeforeUse(snapshot);
  const now = deps.now();
  const restore = deps.restore ?? { policy: 'refuse', limit: 3 };

  const committed: CommitResult = await deps.store.commitPurchaseChange({ purchaseId, linkedPurchaseId: relatedId }, (current, related) => {
    // Owned by another user: refused, or (RESTORE_POLICY=transfer) moved to this one, within the limit.
    const move = planTransfer({ ...restore, owner: current?.uid ?? null, uid, history: current?.transfers ?? [], now, consumable: current?.productType === 'consumable' });
    if (move.kind === 'refuse') throw transferRefusal(move, restore.limit);
    // Without an account binding, the purchase this one replaces (or follows) decides who owns it.
    if (!current?.uid && related?.uid && related.uid !== uid && accountId === null) {
      throw new DomainError('purchase_claimed', 'This subscription replaces one that belongs to another user.');
    }
    // A canceled purchase is claimed by nobody (nor moved); its owner's record is updated so access ends.
    if (canceled && (!current?.uid || move.kind === 'transfer')) throw canceledError(snapshot);
    // Whoever owns the record, a read that started before the stored one never overwrites it.
    if (current?.storeReadAt && current.storeReadAt > readAt) throw new StaleRead();
    const token = req.purchaseToken;
    const change = planPlayChange({ purchaseId, uid, packageName: req.packageName, catalog: deps.catalog, snapshot, readAt, now, current, related, token });
    return move.kind === 'transfer' ? withTransfer(change, move, { actor: { uid: 'restore' }, overLimit: false }) : change;
  });
  if (canceled) throw canceledError(snapshot);

  const finished = await finishAtPlay(deps, req.purchaseToken, committed.purchase, {
    acknowledged: snapshot.acknowledged,
    consumed: snapshot.consumed,
  });
  log('INFO', 'purchase verified', {
    purchase: purchaseId.slice(0, 12),
    token: fingerprint(req.purchaseToken),
    productId: snapshot.productId,
    state: snapshot.state,
  });
  return result(committed.purchase, product, committed, finished, 'play');
}

function result(record: PurchaseRecord, product: CatalogProduct, view: UserView, finished: StoreFinish, source: 'play' | 'store'): VerifyResult<'google_play'> {
  return {
    purchase: {
      id: record.id,
      platform: 'google_play',
      packageName: record.packageName,
      productId: record.productId,
      productType: product.type,
      state: record.revoked ? EntitlementOverride.REVOKED : record.state,
      active: record.active,
      expiresAt: record.expiresAt,
      orderId: record.orderId,
      test: record.test,
      acknowledged: finished.acknowledged,
      consumed: finished.consumed,
      quantity: record.quantity,
    },
    entitlements: view.entitlements,
    balances: view.balances,
    source,
  };
}

/**
 * A purchase we keep current is already known: a one-time purchase changes only by refund or void (RTDN
 * and the sweep catch those), a subscription's stored state holds until its expiry unless an RTDN says
 * otherwise. So an owner's repeat verification needs no Play call when the stored state is settled:
 * granted, finished at Play, nothing pending, and (subscriptions) active or canceled with the expiry
 * more than the margin away. Anything else reads Play.
 */
const SETTLED: ReadonlySet<string> = new Set([PurchaseState.PURCHASED, PurchaseState.ACTIVE, PurchaseState.CANCELED]);

function storedStateHolds(r: PurchaseRecord, uid: string, productId: string, now: Date, marginMs: number): boolean {
  if (r.platform !== 'google_play' || r.uid !== uid || !r.active || r.revoked || r.supersededBy || r.syncError || r.needsFinish !== false) return false;
  if (!SETTLED.has(r.state)) return false;
  if (!(r.items ?? []).some((i) => i.productId === productId)) return false;
  if (r.kind === 'subscription' || r.expiresAt) return r.expiresAt !== null && r.expiresAt.getTime() > now.getTime() + marginMs;
  return true;
}

function canceledError(s: PurchaseSnapshot): DomainError {
  return new DomainError(
    'purchase_canceled',
    s.kind === 'one_time'
      ? 'This purchase was canceled or refunded; it grants nothing.'
      : 'This subscription was canceled before its payment completed; it grants nothing.',
  );
}
