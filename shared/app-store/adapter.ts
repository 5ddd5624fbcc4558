import type { ConsumptionRequest } from '@apple/app-store-server-library';
import { DomainError } from '../errors';
import type { ConsumptionSettings } from '../model/app-store-consumption';
import { isAppleSubscriptionStatus, type AppStoreState } from '../model/app-store-purchase';
import { createAppStoreApi, type AppStoreApi, type NotificationHistoryPage, type NotificationHistoryQuery } from './api-client';
import type { AppleConfig } from './config';
import type { AppStoreNotificationPayload } from './notification';
import { transactionIdFromReceipt } from './receipt';
import type { AppStoreRenewalInfo } from './renewal-info';
import type { AppStoreTransaction, SignedEnvironment } from './transaction';
import { createSignedData } from './verifier';

/**
 * The App Store as the core needs it: verified transactions and notifications (Apple's
 * SignedDataVerifier), lookups (App Store Server API, when a key is configured) and legacy receipts.
 * Everything returned has been verified; nothing unverified leaves this module.
 */
export interface VerifiedNotification {
  payload: AppStoreNotificationPayload;
  transaction: AppStoreTransaction | null;
  renewalInfo: AppStoreRenewalInfo | null;
}

export interface AppStore {
  readonly bundleId: string;
  /** false = signed-data-only mode: signed payloads are applied as they are. */
  readonly hasApiKey: boolean;
  /** How CONSUMPTION_REQUEST notifications are answered (APPLE_CONSUMPTION_INFO and friends). */
  readonly consumption: ConsumptionSettings;
  verifyTransaction(jws: string): Promise<AppStoreTransaction>;
  verifyNotification(signedPayload: string): Promise<VerifiedNotification>;
  /** Looks the id up in each accepted environment, Production first. */
  findTransaction(transactionId: string): Promise<AppStoreTransaction>;
  /** The newest transaction of `productId` (or of the receipt's own purchase) in the receipt owner's history. */
  findTransactionInReceipt(receipt: string, productId: string | undefined): Promise<AppStoreTransaction>;
  /** Apple's current view of the purchase behind `tx`: re-read when a key is configured, else `tx` itself. */
  currentState(tx: AppStoreTransaction, subscription: boolean): Promise<AppStoreState>;
  /** One page of Get Notification History (payloads unverified: apply them as delivered ones). Needs the API key. */
  notificationHistory(env: SignedEnvironment, q: NotificationHistoryQuery): Promise<NotificationHistoryPage>;
  /** The customer's Non-Renewing Subscriptions not revoked, newest first, verified (up to 100). Needs the API key. */
  passHistory(tx: AppStoreTransaction): Promise<AppStoreTransaction[]>;
  /** Send Consumption Information (V2) about `tx`. Needs the API key. */
  sendConsumptionInformation(tx: AppStoreTransaction, body: ConsumptionRequest): Promise<void>;
}

const HISTORY_PAGES = 5; // 100 transactions: enough to find a purchase in one customer's history

export function createAppStore(config: AppleConfig): AppStore {
  const signed = createSignedData(config);
  const api: AppStoreApi | null = config.apiKey
    ? createAppStoreApi({
        key: config.apiKey,
        bundleId: config.bundleId,
        rootUrls: config.apiRootUrls,
        timeoutMs: 5_000,
        retry: { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 },
      })
    : null;

  const needApi = (what: string): AppStoreApi => {
    if (api) return api;
    throw new DomainError(
      'apple_not_configured',
      `${what} needs the App Store Server API key (APPLE_ISSUER_ID, APPLE_KEY_ID, APPLE_PRIVATE_KEY); send signedTransaction instead.`,
    );
  };
  const notFound = (what: string) =>
    new DomainError('purchase_not_found', `The App Store does not know ${what} in ${config.environments.join(' or ')}.`);

  async function verifyNotification(signedPayload: string): Promise<VerifiedNotification> {
    const payload = await signed.notification(signedPayload);
    const data = payload.data;
    const transaction = data?.signedTransactionInfo ? await signed.transaction(data.signedTransactionInfo) : null;
    const renewalInfo = data?.signedRenewalInfo ? await signed.renewalInfo(data.signedRenewalInfo) : null;
    const env = data?.environment;
    if (transaction && (transaction.environment !== env || (renewalInfo && renewalInfo.environment !== env))) {
      throw new DomainError('invalid_signed_data', 'The notification and the data inside it are from different environments.');
    }
    if (transaction && renewalInfo && renewalInfo.originalTransactionId !== transaction.originalTransactionId) {
      throw new DomainError('invalid_signed_data', 'The renewal info in this notification belongs to another subscription.');
    }
    return { payload, transaction, renewalInfo };
  }

  async function findTransaction(transactionId: string): Promise<AppStoreTransaction> {
    const client = needApi('Looking up a transactionId');
    for (const env of config.environments) {
      const jws = await client.transactionInfo(env, transactionId);
      if (jws) return signed.transaction(jws);
    }
    throw notFound('this transactionId');
  }

  async function findTransactionInReceipt(receipt: string, productId: string | undefined): Promise<AppStoreTransaction> {
    const client = needApi('Verifying a receipt');
    const receiptTransactionId = transactionIdFromReceipt(receipt);
    for (const env of config.environments) {
      const history = await readHistory(client, env, receiptTransactionId, productId);
      if (history === null) continue; // unknown in this environment: try the next (Production, then Sandbox)
      const chosen = productId ? history[0] : newestOfChain(history, receiptTransactionId);
      if (chosen) return chosen;
      throw notFound(productId ? `a purchase of "${productId}" for this receipt` : "this receipt's purchase");
    }
    throw notFound("this receipt's transactions");
  }

  /** Newest first; every transaction verified. null when the environment does not know the id. */
  async function readHistory(
    client: AppStoreApi,
    env: SignedEnvironment,
    transactionId: string,
    productId: string | undefined,
    nonRenewingOnly = false,
  ): Promise<AppStoreTransaction[] | null> {
    const all: AppStoreTransaction[] = [];
    let revision: string | undefined;
    for (let page = 0; page < HISTORY_PAGES; page++) {
      const response = await client.history(env, transactionId, { productId, revision, nonRenewingOnly });
      if (!response) return page === 0 ? null : all;
      all.push(...(await Promise.all((response.signedTransactions ?? []).map((jws) => signed.transaction(jws)))));
      if (!response.hasMore || !response.revision || productId) break; // with a product filter the newest is on page one
      revision = response.revision;
    }
    return all;
  }

  async function passHistory(tx: AppStoreTransaction): Promise<AppStoreTransaction[]> {
    const client = needApi('Stacking non-renewing subscriptions');
    return (await readHistory(client, tx.environment as SignedEnvironment, tx.transactionId, undefined, true)) ?? [];
  }

  async function sendConsumptionInformation(tx: AppStoreTransaction, body: ConsumptionRequest): Promise<void> {
    const client = needApi('Answering a consumption request');
    if (!(await client.sendConsumptionInformation(tx.environment as SignedEnvironment, tx.transactionId, body))) {
      throw notFound('this transaction any more');
    }
  }

  async function currentState(tx: AppStoreTransaction, subscription: boolean): Promise<AppStoreState> {
    if (!api) return { transaction: tx, renewalInfo: null, status: null, signedAt: tx.signedDate };
    const env = tx.environment as SignedEnvironment; // verified: only accepted environments get here
    if (!subscription) {
      const jws = await api.transactionInfo(env, tx.transactionId);
      if (!jws) throw notFound('this transaction any more');
      const transaction = await signed.transaction(jws);
      return { transaction, renewalInfo: null, status: null, signedAt: transaction.signedDate };
    }
    const statuses = await api.subscriptionStatuses(env, tx.transactionId);
    const item = statuses?.data
      ?.flatMap((group) => group.lastTransactions ?? [])
      .find((t) => t.originalTransactionId === tx.originalTransactionId);
    if (!item?.signedTransactionInfo) throw notFound('this subscription any more');
    const transaction = await signed.transaction(item.signedTransactionInfo);
    const renewalInfo = item.signedRenewalInfo ? await signed.renewalInfo(item.signedRenewalInfo) : null;
    if (transaction.originalTransactionId !== tx.originalTransactionId) {
      throw new DomainError('invalid_signed_data', 'The App Store returned another subscription than the one asked for.');
    }
    const status = isAppleSubscriptionStatus(item.status) ? item.status : null;
    return { transaction, renewalInfo, status, signedAt: Math.max(transaction.signedDate, renewalInfo?.signedDate ?? 0) };
  }

  async function notificationHistory(env: SignedEnvironment, q: NotificationHistoryQuery): Promise<NotificationHistoryPage> {
    if (!api) {
      throw new DomainError('apple_not_configured', 'Reading the notification history needs the App Store Server API key (APPLE_ISSUER_ID, APPLE_KEY_ID, APPLE_PRIVATE_KEY).');
    }
    // Its payloads would all be refused by the verifiers: reading them is wasted calls.
    if (!config.environments.includes(env)) {
      throw new DomainError('apple_not_configured', `This deployment does not accept ${env} (APPLE_ENVIRONMENTS is ${config.environments.join(',')}).`);
    }
    return api.notificationHistory(env, q);
  }

  return {
    bundleId: config.bundleId,
    hasApiKey: api !== null,
    consumption: config.consumption,
    verifyTransaction: (jws) => signed.transaction(jws),
    verifyNotification,
    findTransaction,
    findTransactionInReceipt,
    currentState,
    notificationHistory,
    passHistory,
    sendConsumptionInformation,
  };
}

/** The newest transaction of the purchase the receipt names (its renewals share the originalTransactionId). */
function newestOfChain(newestFirst: AppStoreTransaction[], receiptTransactionId: string): AppStoreTransaction | undefined {
  const named = newestFirst.find((t) => t.transactionId === receiptTransactionId || t.originalTransactionId === receiptTransactionId);
  return named && newestFirst.find((t) => t.originalTransactionId === named.originalTransactionId);
}
