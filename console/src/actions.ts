import type { FirebaseApp } from 'firebase/app';
import { getFunctions, httpsCallableFromURL } from 'firebase/functions';
import { el, json } from './dom';
import { playPurchaseId } from './ids';

/**
 * Admin actions through the `refundPurchase` callable (CONTRACT section 6; functions/refund-purchase/request.ts):
 * revoke, refund or cancel one Play purchase (by its raw token, which the console never stores), move
 * a purchase of either store to another user (by its id), or answer a pending refund review (by its notice). Each asks for a reason and a confirmation; one
 * idempotencyKey per dialog makes a double submit one action.
 */
export type PurchaseAction = 'revoke' | 'refund' | 'cancel';

export const PURCHASE_ACTIONS: Record<PurchaseAction, string> = {
  revoke: 'Revoke: refund and end access now',
  refund: 'Refund the latest order (access stays)',
  cancel: 'Cancel: stop renewing (access until expiry)',
};
export const TRANSFER_LABEL = 'Transfer to another user';

export interface ActionTarget {
  purchaseId: string;
  packageName: string;
  productType: string;
  /** Known when the admin searched by token in this page (kept in memory only). */
  token?: string;
}

type Result = { ok: true; data: unknown } | { ok: false; error: string; details?: unknown };

export function createActions(app: FirebaseApp, functionsBaseUrl: string) {
  const call = httpsCallableFromURL<Record<string, unknown>, unknown>(getFunctions(app), `${functionsBaseUrl.replace(/\/$/, '')}/refundPurchase`);
  const send = async (data: Record<string, unknown>): Promise<Result> => {
    try {
      return { ok: true, data: (await call(data)).data };
    } catch (e) {
      const err = e as { code?: string; message?: string; details?: unknown };
      return { ok: false, error: `${err.code ?? 'error'}: ${err.message ?? String(e)}`, details: err.details };
    }
  };

  return {
    /** Asks for the reason (and the token when unknown), confirms, calls; resolves with what was shown. */
    onPurchase(action: PurchaseAction, t: ActionTarget, shown: (r: Result) => void): void {
      const f = form(`${PURCHASE_ACTIONS[action]}`, `Purchase ${t.purchaseId} (${t.packageName})`);
      const token = f.field('Purchase token (checked against this purchase, never stored)', 'action-token', t.token ?? '');
      const reason = f.field('Reason (kept in the audit log)', 'action-reason', '');
      const refundType = action === 'revoke' && t.productType === 'subscription' ? f.select('Refund', 'action-refund-type', ['full', 'prorated']) : null;
      f.open(async () => {
        const purchaseToken = token.value.trim();
        if ((await playPurchaseId(purchaseToken)) !== t.purchaseId) return 'That token is not this purchase’s (its SHA-256 differs from the purchase id).';
        const data: Record<string, unknown> = { action, packageName: t.packageName, purchaseToken, reason: reason.value, idempotencyKey: f.key };
        if (refundType) data.refundType = refundType.value;
        shown(await send(data));
        return null;
      });
    },
    /** Moves the purchase to another uid (by purchase id: no token needed; consumables never move). */
    onTransfer(t: ActionTarget, shown: (r: Result) => void): void {
      const f = form(TRANSFER_LABEL, `Purchase ${t.purchaseId} (${t.packageName}): its entitlements end for the owner and begin for the new user`);
      const toUid = f.field('New owner (Firebase uid)', 'action-to-uid', '');
      const reason = f.field('Reason (kept in the audit log)', 'action-reason', '');
      f.open(async () => {
        const uid = toUid.value.trim();
        if (!uid || uid.includes('/')) return 'A Firebase uid, without "/".';
        shown(await send({ action: 'transfer', packageName: t.packageName, purchaseId: t.purchaseId, toUid: uid, reason: reason.value, idempotencyKey: f.key }));
        return null;
      });
    },
    onReview(notice: { id: string; packageName: string }, preference: 'approve' | 'decline', shown: (r: Result) => void): void {
      const f = form(`${preference === 'approve' ? 'Approve' : 'Decline'} the refund request`, `Notice ${notice.id}`);
      const reason = f.field('Reason (kept in the audit log)', 'action-reason', '');
      f.open(async () => {
        shown(await send({ action: 'review_refund', noticeId: notice.id, packageName: notice.packageName, refundPreference: preference, reason: reason.value, idempotencyKey: f.key }));
        return null;
      });
    },
  };
}

/** A modal <dialog> with fields, Confirm and Cancel; `submit` returns an error to show, or null to close. */
function form(title: string, subtitle: string) {
  const dialog = el('dialog', '', { 'data-testid': 'confirm-dialog' }) as HTMLDialogElement;
  const f = el('form') as HTMLFormElement;
  const err = el('p', '', { class: 'error', 'data-testid': 'dialog-error' });
  f.append(el('h3', title), el('p', subtitle, { class: 'muted' }));
  const key = crypto.randomUUID();
  const labelled = (label: string, input: HTMLElement) => {
    const l = el('label', label);
    l.append(input);
    f.append(l);
  };
  return {
    key,
    field(label: string, testid: string, value: string): HTMLInputElement {
      const input = el('input', '', { 'data-testid': testid, required: '' }) as HTMLInputElement;
      input.value = value;
      labelled(label, input);
      return input;
    },
    select(label: string, testid: string, options: string[]): HTMLSelectElement {
      const s = el('select', '', { 'data-testid': testid }) as HTMLSelectElement;
      for (const o of options) s.append(el('option', o, { value: o }));
      labelled(label, s);
      return s;
    },
    open(submit: () => Promise<string | null>): void {
      const confirm = el('button', 'Confirm', { type: 'submit', 'data-testid': 'confirm' }) as HTMLButtonElement;
      const cancel = el('button', 'Cancel', { type: 'button' });
      cancel.onclick = () => dialog.close();
      f.append(err, confirm, cancel);
      f.onsubmit = async (ev) => {
        ev.preventDefault();
        confirm.disabled = true;
        err.textContent = '';
        const problem = await submit().catch((e: unknown) => String((e as Error).message ?? e));
        confirm.disabled = false;
        if (problem) err.textContent = problem;
        else dialog.close();
      };
      dialog.onclose = () => dialog.remove();
      dialog.append(f);
      document.body.append(dialog);
      dialog.showModal();
    },
  };
}

/** The result box under the actions: the callable's answer, or its error. */
export function resultBox(r: Result): HTMLElement {
  const box = el('div', '', { 'data-testid': 'action-result', class: r.ok ? 'ok' : 'error' });
  box.append(el('strong', r.ok ? 'Done' : `Refused or failed — ${r.error}`), json(r.ok ? r.data : r.details ?? null));
  return box;
}
