/**
 * Calls verifyPurchase (CONTRACT sections 4 and 7) with the signed-in user's ID token and turns the
 * answer into what the app does next. Verifying the same purchase again is safe, so every retry here
 * (503 after Retry-After, 401 after a token refresh) is too.
 */

/** A Firebase `User` fits. */
export interface IdTokenSource {
  getIdToken(forceRefresh?: boolean): Promise<string>;
}

export type VerifyRequest =
  | {
      platform?: 'google_play';
      packageName: string;
      productId: string;
      /** Purchase.getPurchaseToken(), never getOrderId() */
      purchaseToken: string;
      /** Purchase.getOriginalJson() and getSignature(), optional */
      signedData?: string;
      signature?: string;
    }
  | { platform: 'app_store'; signedTransaction: string; productId?: string };

export interface VerifyResult {
  purchase: { id: string; platform: string; productId: string; state: string; active: boolean; expiresAt: string | null; acknowledged: boolean; consumed: boolean; quantity: number };
  entitlements: Record<string, { active: boolean; expiresAt: string | null; productId: string; state: string }>;
  balances: Record<string, number>;
}

export type VerifyOutcome =
  /** 200: granted (or a valid but inactive subscription: see result.purchase.active). */
  | { kind: 'verified'; result: VerifyResult }
  /**
   * 409 purchase_pending: payment not complete, nothing granted or recorded. Show "pending"; verify again
   * when the store reports the purchase as purchased (Play's PurchasesUpdatedListener / queryPurchasesAsync,
   * StoreKit's Transaction.updates); the entitlement listener then shows the grant.
   */
  | { kind: 'pending'; message: string; retryAfterSeconds?: number }
  /** 410 purchase_canceled: canceled or refunded; nothing to grant. */
  | { kind: 'canceled'; message: string }
  /** 409 purchase_claimed / 403 account_mismatch: the purchase belongs to another account. */
  | { kind: 'owned_by_other_account'; code: 'purchase_claimed' | 'account_mismatch'; message: string };

/** Any other refusal, or 503 still failing once the retry budget is spent. */
export class VerifyPurchaseError extends Error {
  override readonly name = 'VerifyPurchaseError';
  constructor(
    readonly status: number,
    /** The server's error code (shared/errors.ts), or `network` when no answer arrived. */
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export interface VerifyOptions {
  /** Attempts in all, the first included (default 4). */
  maxAttempts?: number;
  /** No single wait is longer than this, whatever Retry-After says (default 30 s). */
  maxWaitSeconds?: number;
  /** Overridable for tests and for UIs that show a countdown. */
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
}

interface ErrorBody {
  error?: { code?: string; message?: string };
}

/** Retry-After is delay-seconds here; an HTTP-date is accepted too. */
function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

export async function verifyPurchase(
  url: string,
  user: IdTokenSource,
  request: VerifyRequest,
  options: VerifyOptions = {},
): Promise<VerifyOutcome> {
  const { maxAttempts = 4, maxWaitSeconds = 30, signal } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let refreshed = false;
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await user.getIdToken(refreshed)}` },
        body: JSON.stringify(request),
        signal,
      });
    } catch (e) {
      if (signal?.aborted || attempt >= maxAttempts) throw new VerifyPurchaseError(0, 'network', `verifyPurchase unreachable: ${String(e)}`);
      await sleep(Math.min(2 ** attempt, maxWaitSeconds) * 1000);
      continue;
    }
    if (res.ok) return { kind: 'verified', result: (await res.json()) as VerifyResult };

    const body = (await res.json().catch(() => ({}))) as ErrorBody;
    const code = body.error?.code ?? `http_${res.status}`;
    const message = body.error?.message ?? res.statusText;
    const wait = retryAfterSeconds(res.headers.get('retry-after'));
    if (code === 'purchase_pending') return { kind: 'pending', message, ...(wait === undefined ? {} : { retryAfterSeconds: wait }) };
    if (code === 'purchase_canceled') return { kind: 'canceled', message };
    if (code === 'purchase_claimed' || code === 'account_mismatch') return { kind: 'owned_by_other_account', code, message };
    if (res.status === 401 && !refreshed) {
      refreshed = true; // an ID token that expired in flight: once more with a fresh one
      continue;
    }
    if (res.status === 503 && attempt < maxAttempts) {
      await sleep(Math.min(Math.max(wait ?? 1, 1), maxWaitSeconds) * 1000);
      continue;
    }
    throw new VerifyPurchaseError(res.status, code, message, wait);
  }
}
