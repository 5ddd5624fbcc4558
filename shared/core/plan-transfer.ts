/**
 * Restore/transfer policy, decided purely: may a purchase owned by one user move to another who
 * verifies it (or to whom an admin moves it)? The account binding is checked before this and is never
 * transferred against. The history is kept on the purchase record so the limit is checked in the same
 * transaction as the move.
 */
export type RestorePolicy = 'refuse' | 'transfer';

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
}

export type TransferDecision =
  | { kind: 'keep' }
  | { kind: 'refuse'; reason: 'claimed' | 'limit'; recent: number }
  | { kind: 'transfer'; from: string; history: Date[] };

export function planTransfer(i: TransferInput): TransferDecision {
  if (i.owner === null || i.owner === i.uid) return { kind: 'keep' };
  const since = i.now.getTime() - TRANSFER_WINDOW_MS;
  // only the window is kept: the record does not grow without bound
  const recent = i.history.filter((t) => t.getTime() > since);
  if (!i.admin && i.policy === 'refuse') return { kind: 'refuse', reason: 'claimed', recent: recent.length };
  if (!i.admin && recent.length >= i.limit) return { kind: 'refuse', reason: 'limit', recent: recent.length };
  return { kind: 'transfer', from: i.owner, history: [...recent, i.now] };
}
