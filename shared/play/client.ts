import { readFileSync } from 'node:fs';
import { androidpublisher, type androidpublisher_v3 } from '@googleapis/androidpublisher';
import { GoogleAuth, JWT } from 'google-auth-library';
import { DomainError, isDomainError } from '../errors';
import { log, timed } from '../log';
import { countCall } from '../metrics';
import { withRetry, type RetryPolicy } from '../retry';
import { createQuotaGate, parseRetryAfter, type QuotaGate } from './quota-gate';
import * as z from '../zod';
import {
  ProductPurchaseV2Schema,
  SubscriptionPurchaseV2Schema,
  VoidedPurchasesPageSchema,
  type ProductPurchaseV2,
  type SubscriptionPurchaseV2,
  type VoidedPurchasesPage,
} from './resources';

/** Which purchase a call is about. */
export interface PurchaseRef {
  packageName: string;
  productId: string;
  token: string;
}

/**
 * The Play Developer API as the core needs it. The real implementation talks to Play (or the Play
 * simulator) through the generated client; tests about logic may swap in a fake.
 */
export interface PlayPurchases {
  /** Starts the access-token exchange now, so that it overlaps Firestore work before the first Play call. */
  warmUp?(): void;
  /** purchases.productsv2: every one-time purchase, whatever its products (ref.productId is not needed). */
  getProductPurchase(ref: PurchaseRef): Promise<ProductPurchaseV2>;
  getSubscriptionPurchase(ref: PurchaseRef): Promise<SubscriptionPurchaseV2>;
  acknowledgeProduct(ref: PurchaseRef): Promise<void>;
  acknowledgeSubscription(ref: PurchaseRef): Promise<void>;
  consumeProduct(ref: PurchaseRef): Promise<void>;
  /**
   * Ends access now and refunds the latest charge in full or pro rata; or, `{productId}`, one line
   * item (an add-on) only. Like every call that moves money: one attempt, never retried here.
   */
  revokeSubscription(ref: PurchaseRef, refund: 'full' | 'prorated' | { productId: string }): Promise<void>;
  /** Stops renewal; access lasts until the paid period ends. */
  cancelSubscription(ref: PurchaseRef, type: CancellationType): Promise<void>;
  /** Refunds one order; with revoke, access to what it bought ends too. */
  refundOrder(ref: PurchaseRef, orderId: string, revoke: boolean): Promise<void>;
  /** Answers a pending refund review (pendingRefundReviewNotification) of an order, within Play's 24 hours. */
  reviewRefund(packageName: string, orderId: string, review: RefundReviewAnswer): Promise<void>;
  /**
   * One page of revoked orders, one-time and subscription (type 1) with quantity-based partial refunds,
   * recorded by Google in [startTime, endTime] (ms; startTime at most 30 days back).
   */
  listVoidedPurchases(
    packageName: string,
    q: { startTime: number; endTime: number; pageToken?: string | undefined; pageSize?: number },
  ): Promise<VoidedPurchasesPage>;
}

/** subscriptionsv2.cancel's cancellationContext.cancellationType, by our name for it. */
export const CANCELLATION_TYPES = {
  /** The user can restore the subscription until it expires. */
  user_requested_stop_renewals: 'USER_REQUESTED_STOP_RENEWALS',
  /** Cannot be restored; installment plans stop their remaining payments too. */
  developer_requested_stop_payments: 'DEVELOPER_REQUESTED_STOP_PAYMENTS',
} as const;
export type CancellationType = keyof typeof CANCELLATION_TYPES;

/**
 * orders.reviewrefund's `refundPreference`, by our name for it. UNCONFIRMED against live Play: the
 * generated client types the field as a plain string; the REST reference's RefundPreference enum lists
 * REFUND_PREFERENCE_UNSPECIFIED, APPROVE, DECLINE and NEUTRAL, and these are the names used here.
 * If Play refuses them, this constant is the one place to change (and the simulator's copy).
 */
export const REFUND_PREFERENCES = { approve: 'APPROVE', decline: 'DECLINE' } as const;
export type RefundPreference = keyof typeof REFUND_PREFERENCES;

export interface RefundReviewAnswer {
  pendingRefundToken: string;
  preference: RefundPreference;
  sampleContentProvided: boolean;
}

export interface PlayClientOptions {
  rootUrl: string;
  oauthTokenUrl: string;
  credentialsFile: string | undefined;
  timeoutMs: number;
  retry: Omit<RetryPolicy, 'sleep' | 'random'> & Partial<Pick<RetryPolicy, 'sleep' | 'random'>>;
  /** Holds this instance's calls of one quota bucket after a 429 (one set per client, so per instance). */
  quotaGate?: (bucket: QuotaBucket) => QuotaGate;
}

const SCOPE = 'https://www.googleapis.com/auth/androidpublisher';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/**
 * One auth client per instance: it caches the access token and refreshes it near expiry, so a warm
 * instance makes no token exchange per request.
 */
function createAuth(opts: PlayClientOptions): JWT | GoogleAuth {
  if (!opts.credentialsFile) return new GoogleAuth({ scopes: [SCOPE] });
  const key = JSON.parse(readFileSync(opts.credentialsFile, 'utf8')) as { client_email: string; private_key: string };
  const jwt = new JWT({ email: key.client_email, key: key.private_key, scopes: [SCOPE] });
  // google-auth-library ignores a key's token_uri: point the exchange at the configured endpoint.
  jwt.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (String(config.url) === GOOGLE_TOKEN_URL) {
        countCall('oauth:token');
        if (opts.oauthTokenUrl !== GOOGLE_TOKEN_URL) config.url = new URL(opts.oauthTokenUrl);
      }
      return config;
    },
  });
  return jwt;
}

interface HttpFailure {
  status?: number;
  reason?: string;
  message: string;
  retryAfterMs?: number | undefined;
}

function describe(error: unknown): HttpFailure {
  const e = error as { status?: number; response?: { status?: number; data?: unknown; headers?: unknown }; message?: string };
  const status = e.response?.status ?? e.status;
  const body = e.response?.data as { error?: { message?: string; errors?: { reason?: string }[] } } | undefined;
  return {
    status: typeof status === 'number' ? status : undefined,
    reason: body?.error?.errors?.[0]?.reason,
    message: body?.error?.message ?? e.message ?? String(error),
    retryAfterMs: parseRetryAfter(e.response?.headers),
  };
}

/** Play counts quota per bucket (its quota page: Subscriptions, One-time Purchases, Orders, ...), so a 429 holds only its own. */
export type QuotaBucket = 'subscriptions' | 'one_time_purchases' | 'orders' | 'voided_purchases';
export function quotaBucket(what: string): QuotaBucket {
  if (what.startsWith('orders.')) return 'orders';
  if (what.startsWith('purchases.voidedpurchases')) return 'voided_purchases';
  if (what.startsWith('purchases.subscriptions')) return 'subscriptions';
  return 'one_time_purchases';
}

/** Retried within the request: not a 429 (the quota gate holds those) and not our own answer. */
const retryable = (error: unknown) => !isDomainError(error) && isTransientPlayError(error) && describe(error).status !== 429;

function quotaExhausted(what: string, holdMs: number, error?: unknown): DomainError {
  return new DomainError('upstream_unavailable', `Google Play's request quota is exhausted (${what}); retry later.`, {
    retryAfterSeconds: Math.max(1, Math.ceil(holdMs / 1000)),
    ...(error ? { cause: error } : {}),
  });
}

/**
 * Worth another try here: 409 concurrentUpdate (Play asks for a retry with backoff), 429, 5xx and
 * failures with no response at all (refused, reset, timed out).
 */
export function isTransientPlayError(error: unknown): boolean {
  const { status } = describe(error);
  return status === undefined || status === 409 || status === 429 || status >= 500;
}

/**
 * Play's answer as a domain error. Only answers about the purchase itself are the caller's 4xx; our
 * own faults (credentials, permissions, outages) are 503, so an app never reads them as "invalid
 * purchase" and Pub/Sub redelivers notifications until the operator has fixed them.
 */
function toDomain(error: unknown, what: string, ref: PurchaseRef): DomainError {
  const f = describe(error);
  if (isTransientPlayError(error)) {
    return new DomainError('upstream_unavailable', `Google Play is unavailable (${what}); retry later.`, {
      retryAfterSeconds: 10,
      cause: error,
    });
  }
  if (f.status === 401 || f.status === 403) {
    log('ERROR', 'Google Play refused our credentials: give the service account access to this app in Play Console (Users and permissions: view app information and financial data, manage orders and subscriptions)', {
      what,
      packageName: ref.packageName,
      status: f.status,
      reason: f.reason,
      playMessage: f.message,
    });
    return new DomainError('upstream_unavailable', 'The server cannot query Google Play right now; retry later.', {
      retryAfterSeconds: 60,
      details: { playStatus: f.status, playReason: f.reason },
      cause: error,
    });
  }
  if (f.status === 404 || f.status === 410 || (f.status === 400 && f.reason === 'invalidValue')) {
    return new DomainError(
      'purchase_not_found',
      `Google Play does not know this purchase token for package "${ref.packageName}"${ref.productId ? ` and product "${ref.productId}"` : ''}.`,
      { cause: error },
    );
  }
  return new DomainError('failed_precondition', `Google Play refused ${what}: ${f.message}`, {
    details: { playStatus: f.status, playReason: f.reason },
    cause: error,
  });
}

/** A Play answer we cannot read is not the purchase's fault: 503, logged for the operator. */
function parseResource<T>(schema: z.ZodMiniType<T>, data: unknown, what: string): T {
  try {
    return schema.parse(data);
  } catch (e) {
    const detail = e instanceof z.$ZodError ? e.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : String(e);
    log('ERROR', 'Google Play answered in a shape we cannot read', { what, detail });
    throw new DomainError('upstream_unavailable', `Google Play's answer to ${what} could not be read; retry later.`, {
      retryAfterSeconds: 60,
      cause: e,
    });
  }
}

export function createPlayClient(opts: PlayClientOptions): PlayPurchases {
  const auth = createAuth(opts);
  let tokenWarmed = false;
  const api: androidpublisher_v3.Androidpublisher = androidpublisher({
    version: 'v3',
    auth: auth as never,
    rootUrl: opts.rootUrl,
  });
  // Our own bounded retry decides; the client's built-in one would multiply attempts.
  const callOptions = { timeout: opts.timeoutMs, retry: false };

  const gates = new Map<QuotaBucket, QuotaGate>();
  const gateOf = (what: string) => {
    const bucket = quotaBucket(what);
    let gate = gates.get(bucket);
    if (!gate) gates.set(bucket, (gate = opts.quotaGate?.(bucket) ?? createQuotaGate()));
    return gate;
  };

  /** One attempt through the quota gate: held calls never reach Play; a 429 closes the gate. */
  async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const gate = gateOf(what);
    const held = gate.heldForMs();
    if (held > 0) {
      countCall('play:held');
      throw quotaExhausted(what, held);
    }
    countCall(`play:${what}`);
    try {
      const result = await timed('play', what, fn, (e) => describe(e).status ?? 'no_response');
      gate.succeeded();
      return result;
    } catch (error) {
      const f = describe(error);
      if (f.status === 429) {
        countCall('play:429');
        const hold = gate.refused(f.retryAfterMs);
        log('WARNING', 'Google Play answered 429: holding this instance\'s Play calls', { what, holdMs: hold, playRetryAfterMs: f.retryAfterMs ?? null });
        throw quotaExhausted(what, hold, error);
      }
      throw error;
    }
  }

  async function call<T>(what: string, ref: PurchaseRef, fn: () => Promise<{ data: T }>): Promise<T> {
    try {
      const res = await withRetry(() => attempt(what, fn), retryable, opts.retry);
      return res.data;
    } catch (error) {
      throw isDomainError(error) ? error : toDomain(error, what, ref);
    }
  }

  /**
   * A call that moves money (revoke, refund, cancel, reviewrefund): one attempt. A timeout or 5xx may
   * come after Play did it, so a blind repeat is never made here: refundPurchase's ledger and a re-read
   * of the purchase decide what happened.
   */
  async function move(what: string, ref: PurchaseRef, fn: () => Promise<unknown>): Promise<void> {
    try {
      await attempt(what, fn);
    } catch (error) {
      throw isDomainError(error) ? error : toDomain(error, what, ref);
    }
  }

  return {
    warmUp() {
      if (tokenWarmed) return;
      tokenWarmed = true;
      // the exchange is no Play API call (no quota); a failure here is reported by the call that needs it
      void auth.getAccessToken().catch(() => undefined);
    },
    async revokeSubscription(ref, refund) {
      const revocationContext =
        typeof refund === 'object' ? { itemBasedRefund: { productId: refund.productId } } : refund === 'prorated' ? { proratedRefund: {} } : { fullRefund: {} };
      await move('purchases.subscriptionsv2.revoke', ref, () =>
        api.purchases.subscriptionsv2.revoke(
          { packageName: ref.packageName, token: ref.token, requestBody: { revocationContext } },
          callOptions,
        ),
      );
    },
    async cancelSubscription(ref, type) {
      await move('purchases.subscriptionsv2.cancel', ref, () =>
        api.purchases.subscriptionsv2.cancel(
          {
            packageName: ref.packageName,
            token: ref.token,
            requestBody: { cancellationContext: { cancellationType: CANCELLATION_TYPES[type] } },
          },
          callOptions,
        ),
      );
    },
    async refundOrder(ref, orderId, revoke) {
      await move('orders.refund', ref, () => api.orders.refund({ packageName: ref.packageName, orderId, revoke }, callOptions));
    },
    async reviewRefund(packageName, orderId, review) {
      const requestBody = {
        pendingRefundToken: review.pendingRefundToken,
        refundPreference: REFUND_PREFERENCES[review.preference],
        sampleContentProvided: review.sampleContentProvided,
      };
      await move('orders.reviewrefund', { packageName, productId: '', token: '' }, () =>
        api.orders.reviewrefund({ packageName, orderId, requestBody }, callOptions),
      );
    },
    async listVoidedPurchases(packageName, q) {
      const ref = { packageName, productId: '', token: '' };
      const data = await call('purchases.voidedpurchases.list', ref, () =>
        api.purchases.voidedpurchases.list(
          {
            packageName,
            startTime: String(q.startTime),
            endTime: String(q.endTime),
            type: 1,
            includeQuantityBasedPartialRefund: true,
            maxResults: q.pageSize ?? 1000,
            ...(q.pageToken ? { token: q.pageToken } : {}),
          },
          callOptions,
        ),
      );
      return parseResource(VoidedPurchasesPageSchema, data, 'purchases.voidedpurchases.list');
    },
    async getProductPurchase(ref) {
      const data = await call('purchases.productsv2.getproductpurchasev2', ref, () =>
        api.purchases.productsv2.getproductpurchasev2({ packageName: ref.packageName, token: ref.token }, callOptions),
      );
      return parseResource(ProductPurchaseV2Schema, data, 'purchases.productsv2.getproductpurchasev2');
    },
    async getSubscriptionPurchase(ref) {
      const data = await call('purchases.subscriptionsv2.get', ref, () =>
        api.purchases.subscriptionsv2.get({ packageName: ref.packageName, token: ref.token }, callOptions),
      );
      return parseResource(SubscriptionPurchaseV2Schema, data, 'purchases.subscriptionsv2.get');
    },
    async acknowledgeProduct(ref) {
      await call('purchases.products.acknowledge', ref, () =>
        api.purchases.products.acknowledge(
          { packageName: ref.packageName, productId: ref.productId, token: ref.token, requestBody: {} },
          callOptions,
        ),
      );
    },
    async acknowledgeSubscription(ref) {
      await call('purchases.subscriptions.acknowledge', ref, () =>
        api.purchases.subscriptions.acknowledge(
          { packageName: ref.packageName, subscriptionId: ref.productId, token: ref.token, requestBody: {} },
          callOptions,
        ),
      );
    },
    async consumeProduct(ref) {
      await call('purchases.products.consume', ref, () =>
        api.purchases.products.consume(
          { packageName: ref.packageName, productId: ref.productId, token: ref.token },
          callOptions,
        ),
      );
    },
  };
}
