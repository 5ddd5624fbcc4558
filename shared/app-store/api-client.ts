import {
  APIError,
  APIException,
  AppStoreServerAPIClient,
  Environment,
  GetTransactionHistoryVersion,
  Order,
  ProductType,
  type ConsumptionRequest,
  type HistoryResponse,
  type StatusResponse,
} from '@apple/app-store-server-library';
import { DomainError } from '../errors';
import { log, timed } from '../log';
import { countCall } from '../metrics';
import { withRetry, type RetryPolicy } from '../retry';
import type { AppleApiKey } from './config';
import type { SignedEnvironment } from './transaction';

/**
 * The App Store Server API calls the core needs, on Apple's AppStoreServerAPIClient (it signs the ES256
 * bearer token). Not found is null; 429/5xx/network are retried, then `upstream_unavailable`.
 */
export interface AppStoreApi {
  transactionInfo(env: SignedEnvironment, transactionId: string): Promise<string | null>;
  subscriptionStatuses(env: SignedEnvironment, transactionId: string): Promise<StatusResponse | null>;
  /** Transaction history V2, newest first; `nonRenewingOnly`: the customer's passes not revoked. */
  history(env: SignedEnvironment, transactionId: string, q: HistoryQuery): Promise<HistoryResponse | null>;
  /** Send Consumption Information (V2); false when Apple does not know the transaction. */
  sendConsumptionInformation(env: SignedEnvironment, transactionId: string, body: ConsumptionRequest): Promise<boolean>;
  /** Get Notification History: one page (up to 20) of the notifications Apple sent or tried to send, oldest first. */
  notificationHistory(env: SignedEnvironment, q: NotificationHistoryQuery): Promise<NotificationHistoryPage>;
}

export interface HistoryQuery {
  productId?: string | undefined;
  revision?: string | undefined;
  nonRenewingOnly?: boolean;
}

export interface NotificationHistoryQuery {
  /** ms since the epoch; Apple refuses one older than 180 days (Production) or 30 days (Sandbox). */
  startDate: number;
  endDate: number;
  /** From the previous page, to continue the same query. */
  paginationToken?: string | null;
}

export interface NotificationHistoryPage {
  /** Unverified: every payload still goes through SignedDataVerifier. */
  signedPayloads: string[];
  hasMore: boolean;
  /** For the next page; null when there is none. */
  paginationToken: string | null;
}

export interface AppStoreApiOptions {
  key: AppleApiKey;
  bundleId: string;
  rootUrls: Record<SignedEnvironment, string | undefined>;
  timeoutMs: number;
  retry: RetryPolicy;
}

/** Apple's hosts (as in the library), used when no root URL is configured. */
const APPLE_ROOTS: Record<SignedEnvironment, string> = {
  Production: 'https://api.storekit.apple.com',
  Sandbox: 'https://api.storekit-sandbox.apple.com',
};

/**
 * The library has no base-URL option; `makeFetchRequest(path, …)` is its protected transport hook
 * (its own tests override it). Overriding it sends the library's request, bearer token included, to
 * the configured root with a timeout, which the library's transport lacks.
 */
class RootedClient extends AppStoreServerAPIClient {
  constructor(
    o: AppStoreApiOptions,
    env: SignedEnvironment,
    private readonly root: string,
    private readonly timeoutMs: number,
  ) {
    super(o.key.privateKeyPem, o.key.keyId, o.key.issuerId, o.bundleId, env as Environment);
  }

  protected override async makeFetchRequest(
    ...[path, query, method, body, headers]: Parameters<AppStoreServerAPIClient['makeFetchRequest']>
  ): ReturnType<AppStoreServerAPIClient['makeFetchRequest']> {
    const qs = query.toString();
    const response = await fetch(`${this.root}${path}${qs ? `?${qs}` : ''}`, {
      method,
      headers,
      body: body ?? null,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    // The library reads only ok, status and json(), which the platform Response has too.
    return response as unknown as Awaited<ReturnType<AppStoreServerAPIClient['makeFetchRequest']>>;
  }
}

const NOT_FOUND = new Set<number>([
  APIError.TRANSACTION_ID_NOT_FOUND,
  APIError.ORIGINAL_TRANSACTION_ID_NOT_FOUND,
  APIError.INVALID_TRANSACTION_ID,
]);
const RETRYABLE = new Set<number>([
  APIError.ACCOUNT_NOT_FOUND_RETRYABLE,
  APIError.APP_NOT_FOUND_RETRYABLE,
  APIError.ORIGINAL_TRANSACTION_ID_NOT_FOUND_RETRYABLE,
  APIError.GENERAL_INTERNAL_RETRYABLE,
  APIError.RATE_LIMIT_EXCEEDED,
]);

function isTransient(e: unknown): boolean {
  if (e instanceof APIException) {
    return e.httpStatusCode === 429 || e.httpStatusCode >= 500 || (e.apiError !== null && RETRYABLE.has(Number(e.apiError)));
  }
  // fetch failures (refused, reset, DNS) and our timeout
  return e instanceof TypeError || (e as Error)?.name === 'TimeoutError' || (e as Error)?.name === 'AbortError';
}

const isNotFound = (e: unknown) =>
  e instanceof APIException && (e.httpStatusCode === 404 || (e.apiError !== null && NOT_FOUND.has(Number(e.apiError))));

export function createAppStoreApi(o: AppStoreApiOptions): AppStoreApi {
  const clients = new Map<SignedEnvironment, RootedClient>();
  const client = (env: SignedEnvironment) => {
    let c = clients.get(env);
    if (!c) clients.set(env, (c = new RootedClient(o, env, o.rootUrls[env] ?? APPLE_ROOTS[env], o.timeoutMs)));
    return c;
  };

  async function call<T>(name: string, env: SignedEnvironment, fn: (c: RootedClient) => Promise<T>): Promise<T | null> {
    try {
      return await withRetry(
        () => {
          countCall(`apple:${name}`);
          return timed('app_store', name, () => fn(client(env)), (e) => (e instanceof APIException ? e.httpStatusCode : ((e as Error)?.name ?? 'error')));
        },
        isTransient,
        o.retry,
      );
    } catch (e) {
      if (isNotFound(e)) return null;
      throw mapApiError(e, name);
    }
  }

  return {
    async transactionInfo(env, transactionId) {
      const r = await call('getTransactionInfo', env, (c) => c.getTransactionInfo(transactionId));
      return r?.signedTransactionInfo ?? null;
    },
    subscriptionStatuses: (env, transactionId) =>
      call('getAllSubscriptionStatuses', env, (c) => c.getAllSubscriptionStatuses(transactionId)),
    history: (env, transactionId, q) =>
      call('getTransactionHistory', env, (c) =>
        c.getTransactionHistory(
          transactionId,
          q.revision ?? null,
          {
            sort: Order.DESCENDING,
            ...(q.productId ? { productIds: [q.productId] } : {}),
            ...(q.nonRenewingOnly ? { productTypes: [ProductType.NON_RENEWABLE], revoked: false } : {}),
          },
          GetTransactionHistoryVersion.V2,
        ),
      ),
    async sendConsumptionInformation(env, transactionId, body) {
      const sent = await call('sendConsumptionInformation', env, async (c) => {
        await c.sendConsumptionInformation(transactionId, body);
        return true; // the library answers nothing (202): null would read as "not found"
      });
      return sent === true;
    },
    async notificationHistory(env, q) {
      const r = await call('getNotificationHistory', env, (c) =>
        c.getNotificationHistory(q.paginationToken ?? null, { startDate: q.startDate, endDate: q.endDate }),
      );
      // No "not found" exists for this call: an empty answer must not pass for an empty history.
      if (!r) throw new DomainError('internal', 'The App Store answered Get Notification History with "not found".');
      const items = r.notificationHistory ?? [];
      return {
        signedPayloads: items.flatMap((i) => (i.signedPayload ? [i.signedPayload] : [])),
        hasMore: r.hasMore === true,
        paginationToken: r.hasMore && r.paginationToken ? r.paginationToken : null,
      };
    },
  };
}

/** Get Notification History refusals the caller can act on: which part of the query to change. */
const HISTORY_REFUSALS = new Map<number, 'startDate' | 'paginationToken'>([
  [APIError.START_DATE_TOO_FAR_IN_PAST, 'startDate'],
  [APIError.INVALID_PAGINATION_TOKEN, 'paginationToken'],
  [APIError.PAGINATION_TOKEN_EXPIRED, 'paginationToken'],
]);

function mapApiError(e: unknown, name: string): DomainError {
  if (isTransient(e)) {
    return new DomainError('upstream_unavailable', 'The App Store Server API is unavailable; retry later.', {
      retryAfterSeconds: 10,
      cause: e,
    });
  }
  const refused = e instanceof APIException && e.apiError !== null ? HISTORY_REFUSALS.get(Number(e.apiError)) : undefined;
  if (refused) {
    const { apiError, errorMessage } = e as APIException;
    return new DomainError('failed_precondition', `The App Store refused the notification history query's ${refused} (${apiError}: ${errorMessage ?? ''}).`, {
      details: { apiError: Number(apiError), refused },
      cause: e,
    });
  }
  const status = e instanceof APIException ? e.httpStatusCode : undefined;
  const apiError = e instanceof APIException ? e.apiError : undefined;
  // 401: our key is wrong or revoked; anything else unexpected is ours to fix, not the caller's.
  log('ERROR', 'App Store Server API call failed', { call: name, status, apiError, error: String((e as Error)?.message ?? e) });
  return new DomainError('internal', 'Internal error talking to the App Store.', { cause: e });
}
