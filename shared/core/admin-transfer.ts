import { createHash } from 'node:crypto';
import { DomainError, toDomainError } from '../errors';
import type { AuditEntry, LedgerRequest, PurchaseRecord, PurchaseStore } from '../store/purchase-record';
import { boundToOther, planTransfer, withTransfer } from './plan-transfer';

/**
 * refundPurchase `action: "transfer"`: an admin moves a purchase to another user. No store call (the
 * store knows nothing of our users); the same ledger as the other actions makes it once per request,
 * and the move itself is one transaction (ownership, both users' entitlements, audit entry, events).
 */
export interface TransferRequest {
  action: 'transfer';
  packageName: string;
  reason: string;
  toUid: string;
  idempotencyKey?: string | undefined;
}

export interface TransferResult extends Record<string, unknown> {
  status: 'transferred';
  action: 'transfer';
  purchaseId: string;
  from: string;
  to: string;
  /** Transfers within the last 30 days, this one included. */
  transfersInWindow: number;
  /** Past RESTORE_TRANSFER_LIMIT (admins are not bound by it; the audit entry says so). */
  overLimit: boolean;
  completedAt: string;
  repeated: boolean;
}

export interface AdminTransferDeps {
  store: PurchaseStore;
  now: () => Date;
  limit: number;
  waitForOtherAttemptMs?: number;
}

const STALE_ATTEMPT_MS = 120_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export async function transferPurchase(deps: AdminTransferDeps, admin: AuditEntry['actor'], purchaseId: string, req: TransferRequest): Promise<TransferResult> {
  const record = await deps.store.getPurchase(purchaseId);
  if (!record?.uid) throw new DomainError('purchase_not_found', 'No purchase with an owner is recorded for this token or id; nothing to move.');
  if (record.packageName !== req.packageName) throw new DomainError('invalid_argument', `This purchase is for "${record.packageName}", not "${req.packageName}".`);
  // Without a key, a request is bound to the move it asks for from the record as it stands (so moving
  // back later is a new request); a repeat after the move finds the move's entry on the record.
  const repeat = record.uid === req.toUid ? record.lastTransfer?.ledgerId : null;
  const ledgerId = req.idempotencyKey
    ? sha256(`key:${req.packageName}:${req.idempotencyKey}`)
    : (repeat ?? sha256(`${purchaseId}:transfer:${record.uid}:${req.toUid}:${record.lastTransfer?.at.toISOString() ?? '-'}`));
  const request: LedgerRequest = { purchaseId, action: 'transfer', orderId: null, options: { toUid: req.toUid } };
  const claim = await deps.store.claimLedgerEntry(ledgerId, request, deps.now(), STALE_ATTEMPT_MS);
  if (claim.kind === 'conflict') {
    throw new DomainError('invalid_argument', 'This idempotencyKey was used for another purchase, action or new owner; use a new key for a new request.');
  }
  if (claim.kind === 'done') return { ...(claim.entry.result as TransferResult), repeated: true };
  if (claim.kind === 'busy') return waitForOther(deps, ledgerId);
  try {
    const result = await move(deps, admin, purchaseId, req, ledgerId);
    await deps.store.finishLedgerEntry(ledgerId, { result });
    return result;
  } catch (e) {
    const err = toDomainError(e);
    await deps.store.finishLedgerEntry(ledgerId, { error: { code: err.code, message: err.message }, maybeAtStore: false }).catch(() => undefined);
    throw e;
  }
}

async function move(deps: AdminTransferDeps, admin: AuditEntry['actor'], purchaseId: string, req: TransferRequest, ledgerId: string): Promise<TransferResult> {
  let result: TransferResult | null = null;
  await deps.store.commitPurchaseChange({ purchaseId }, (current) => {
    const now = deps.now();
    if (!current?.uid) throw new DomainError('purchase_not_found', 'No purchase with an owner is recorded for this token or id; nothing to move.');
    // an attempt that died after its commit: the record already says this entry moved it
    if (current.uid === req.toUid && current.lastTransfer?.ledgerId === ledgerId) throw new AlreadyMoved(resultOf(current, now));
    if (current.uid === req.toUid) throw new DomainError('failed_precondition', 'This purchase already belongs to that user.');
    if (boundToOther(current, req.toUid)) {
      throw new DomainError('account_mismatch', "This purchase's account binding (obfuscatedExternalAccountId / appAccountToken) names another user; it is never moved against it.");
    }
    const d = planTransfer({
      policy: 'transfer',
      limit: deps.limit,
      owner: current.uid,
      uid: req.toUid,
      history: current.transfers ?? [],
      now,
      admin: true,
      consumable: current.productType === 'consumable',
    });
    if (d.kind === 'refuse') {
      throw new DomainError('failed_precondition', "A consumable purchase never moves: its credits went to its owner's balance (and may be spent). Adjust balances instead.");
    }
    if (d.kind !== 'transfer') throw new DomainError('failed_precondition', 'This purchase already belongs to that user.');
    const overLimit = d.history.length > deps.limit;
    const change = withTransfer({ purchase: { ...current, uid: req.toUid, updatedAt: now } }, d, { actor: admin, overLimit, reason: req.reason, ledgerId });
    result = resultOf(change.purchase, now, overLimit);
    return change;
  }).catch((e: unknown) => {
    if (!(e instanceof AlreadyMoved)) throw e;
    result = e.result;
  });
  return result!;
}

class AlreadyMoved extends Error {
  constructor(readonly result: TransferResult) {
    super('already moved by this request');
  }
}

function resultOf(r: PurchaseRecord, now: Date, overLimit?: boolean): TransferResult {
  const t = r.lastTransfer!;
  const transfersInWindow = r.transfers?.length ?? 1;
  return {
    status: 'transferred',
    action: 'transfer',
    purchaseId: r.id,
    from: t.from,
    to: t.to,
    transfersInWindow,
    overLimit: overLimit ?? false,
    completedAt: now.toISOString(),
    repeated: false,
  };
}

async function waitForOther(deps: AdminTransferDeps, ledgerId: string): Promise<TransferResult> {
  const deadline = Date.now() + (deps.waitForOtherAttemptMs ?? 15_000);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const entry = await deps.store.getLedgerEntry(ledgerId);
    if (entry?.status === 'done') return { ...(entry.result as TransferResult), repeated: true };
    if (entry?.status === 'failed') break;
  }
  throw new DomainError('upstream_unavailable', 'The same request is already being carried out; retry shortly for its result.', { retryAfterSeconds: 5 });
}
