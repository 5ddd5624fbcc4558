/**
 * Restore/transfer policy, decided purely: may a purchase owned by one user move to another who
 * verifies it (or to whom an admin moves it)? The account binding is checked before this and is never
 * transferred against. The history is kept on the purchase record so the limit is checked in the same
 * transaction as the move.
 */
import { appAccountTokenFor } from '../app-store/app-account-token';
import { DomainError } from '../errors';
import { obfuscatedAccountIdFor } from '../ids';
import type { PurchaseChange, PurchaseRecord, TransferNote } from '../store/purchase-record';

export type RestorePolicy = 'refuse' | 'transfer';

export interface RestoreOptions {
  policy: RestorePolicy;
  limit: number;
}

export const TRANSFER_WINDOW_MS = 30 * 24 * 60 * 60 * 1000;

export interface TransferInput {
  policy: RestorePolicy;
  /** Transfers allowed per purchase per 30 days. */
  limit: number;
  /** The stored owner (null: nobody claimed it yet). */
  owner: string | null;
  /** The user asking for it. */
  uid: string;
  /** When the purchase moved before (from the record). */
  history: readonly Date[];
  now: Date;
  /** An admin move: policy does not apply, and the limit does not bind (audited instead). */
  admin?: boolean;
  /** A consumable never moves: its credits were granted to the owner (and likely spent). */
  consumable?: boolean;
}

export type TransferDecision =
  | { kind: 'keep' }
  | { kind: 'refuse'; reason: 'claimed' | 'limit' | 'consumable'; recent: number }
  | { kind: 'transfer'; from: string; history: Date[] };

export function planTransfer(i: TransferInput): TransferDecision {
  if (i.owner === null || i.owner === i.uid) return { kind: 'keep' };
  const since = i.now.getTime() - TRANSFER_WINDOW_MS;
  // only the window is kept: the record does not grow without bound
  const recent = i.history.filter((t) => t.getTime() > since);
  if (!i.admin && i.policy === 'refuse') return { kind: 'refuse', reason: 'claimed', recent: recent.length };
  if (i.consumable) return { kind: 'refuse', reason: 'consumable', recent: recent.length };
  if (!i.admin && recent.length >= i.limit) return { kind: 'refuse', reason: 'limit', recent: recent.length };
  return { kind: 'transfer', from: i.owner, history: [...recent, i.now] };
}

/** The refusal a verification answers (409 either way; the limit says so). */
export function transferRefusal(d: Extract<TransferDecision, { kind: 'refuse' }>, limit: number): DomainError {
  if (d.reason === 'limit') {
    return new DomainError(
      'transfer_limit_reached',
      `This purchase already moved between users ${d.recent} times in the last 30 days; the transfer limit (${limit}) was reached. It stays with its current owner.`,
    );
  }
  if (d.reason === 'consumable') {
    return new DomainError('purchase_claimed', "This consumable purchase belongs to another user: its credits went to that user's balance, and consumables never transfer.");
  }
  return new DomainError('purchase_claimed', 'This purchase already belongs to another user.');
}

/** Whether the purchase's own account binding (Play's obfuscatedExternalAccountId, Apple's appAccountToken) names someone other than `uid`. */
export function boundToOther(record: Pick<PurchaseRecord, 'platform' | 'accountBinding'>, uid: string): boolean {
  const bound = record.accountBinding;
  if (!bound) return false;
  return record.platform === 'app_store' ? bound.toLowerCase() !== appAccountTokenFor(uid) : bound !== obfuscatedAccountIdFor(uid);
}

/**
 * The change, planned as for the owner, now moves the purchase: the new owner's record keeps the
 * transfer history (the window only) and says who moved it; the store writes the audit entry and
 * takes the purchase's sources out of the previous owner's entitlements in the same transaction.
 */
export function withTransfer(change: PurchaseChange, d: Extract<TransferDecision, { kind: 'transfer' }>, by: Omit<TransferNote, 'from' | 'to' | 'at' | 'transfersInWindow'>): PurchaseChange {
  const at = d.history[d.history.length - 1]!;
  const to = change.purchase.uid!;
  const note: TransferNote = { ...by, from: d.from, to, at, transfersInWindow: d.history.length };
  return { ...change, purchase: { ...change.purchase, transfers: d.history, lastTransfer: { from: d.from, to, at, actor: by.actor.uid, ledgerId: by.ledgerId ?? null } }, transfer: note };
}
