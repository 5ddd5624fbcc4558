import type { KeyObject } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { sendConsumptionInformation } from './consumption';
import { notificationHistory } from './notification-history';
import type { Signer } from './notifications';
import { isSubscription, latest, statusOf, type SimState } from './state';
import type { HistoryRecord, SimEnvironment, SimPurchase, SimTransaction } from './types';

/**
 * The App Store Server API endpoints the product uses, Production under `/` and Sandbox under
 * `/sandbox/` (Apple serves them from two hosts). Each call needs Apple's bearer token: ES256 with the
 * configured key (kid), `iss` = issuer id, `aud` = appstoreconnect-v1, `bid` = bundle id, at most an hour long.
 */
export interface ApiKeyCheck {
  issuerId: string;
  keyId: string;
  publicKey: KeyObject;
}

export interface ApiReply {
  status: number;
  body?: unknown;
}

const PAGE = 20;
const apiError = (status: number, errorCode: number, errorMessage: string): ApiReply => ({ status, body: { errorCode, errorMessage } });
const notFound = () => apiError(404, 4040010, 'Transaction id not found.');

export async function checkBearer(authorization: string | undefined, key: ApiKeyCheck, bundleId: string): Promise<string | null> {
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (!token) return 'missing bearer token';
  try {
    if (decodeProtectedHeader(token).kid !== key.keyId) return 'unknown key id (kid)';
    const { payload } = await jwtVerify(token, key.publicKey, {
      algorithms: ['ES256'],
      issuer: key.issuerId,
      audience: 'appstoreconnect-v1',
      requiredClaims: ['exp', 'iat'],
    });
    if (payload.bid !== bundleId) return `bid is not ${bundleId}`;
    if (payload.exp! - payload.iat! > 3600) return 'token lives longer than an hour';
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export class AppStoreApi {
  constructor(
    private readonly state: SimState,
    private readonly sign: Signer,
    private readonly notificationRecords: () => readonly HistoryRecord[],
  ) {}

  /** Routes `/inApps/...` (path without the environment prefix); `body` is the parsed JSON of a POST or PUT. */
  async handle(env: SimEnvironment, method: string, path: string, query: URLSearchParams, body?: unknown): Promise<ApiReply | null> {
    if (path === '/inApps/v1/notifications/history' && method === 'POST') {
      this.count('getNotificationHistory');
      return notificationHistory(this.notificationRecords(), this.state, env, body, query.get('paginationToken'));
    }
    const consumption = /^\/inApps\/v2\/transactions\/consumption\/([^/]+)$/.exec(path);
    if (consumption && method === 'PUT') {
      this.count('sendConsumptionInformation');
      const id = consumption[1]!;
      if (!/^[0-9]{1,32}$/.test(id)) return apiError(400, 4000006, 'Invalid transaction id.');
      return sendConsumptionInformation(this.state, env, id, body);
    }
    const m = /^\/inApps\/(v1|v2)\/(transactions|history|subscriptions)\/([^/]+)$/.exec(path);
    if (!m || method !== 'GET') return null;
    const [, version, what, id] = m as unknown as [string, string, string, string];
    if (!/^[0-9]{1,32}$/.test(id)) return apiError(400, 4000006, 'Invalid transaction id.');
    const found = this.find(env, id);
    if (version === 'v1' && what === 'transactions') {
      this.count('getTransactionInfo');
      if (!found) return notFound();
      return { status: 200, body: { signedTransactionInfo: await this.signTx(found.purchase, found.transaction) } };
    }
    if (version === 'v2' && what === 'history') {
      this.count('getTransactionHistoryV2');
      return found ? this.history(env, found.purchase, query) : notFound();
    }
    if (version === 'v1' && what === 'subscriptions') {
      this.count('getAllSubscriptionStatuses');
      return found ? this.statuses(env, found.purchase, query) : notFound();
    }
    return null;
  }

  private find(env: SimEnvironment, id: string) {
    const hit = this.state.findByTransactionId(id);
    return hit && hit.purchase.environment === env ? hit : undefined;
  }

  private customerPurchases(env: SimEnvironment, of: SimPurchase): SimPurchase[] {
    return [...this.state.purchases.values()].filter((p) => p.environment === env && p.customerId === of.customerId);
  }

  private async history(env: SimEnvironment, of: SimPurchase, q: URLSearchParams): Promise<ApiReply> {
    const productIds = q.getAll('productId');
    const types = q.getAll('productType');
    const revoked = q.get('revoked');
    let rows: { p: SimPurchase; t: SimTransaction }[] = this.customerPurchases(env, of).flatMap((p) => p.transactions.map((t) => ({ p, t })));
    if (productIds.length) rows = rows.filter((r) => productIds.includes(r.t.productId));
    if (types.length) rows = rows.filter((r) => types.includes(PRODUCT_TYPE[r.p.kind]));
    if (revoked !== null) rows = rows.filter((r) => (r.t.revocationDate !== undefined) === (revoked === 'true'));
    const descending = q.get('sort') === 'DESCENDING';
    rows.sort((a, b) => (descending ? b.t.purchaseDate - a.t.purchaseDate : a.t.purchaseDate - b.t.purchaseDate));
    const offset = decodeRevision(q.get('revision'));
    const page = rows.slice(offset, offset + PAGE);
    const hasMore = offset + PAGE < rows.length;
    return {
      status: 200,
      body: {
        revision: Buffer.from(JSON.stringify({ offset: offset + page.length })).toString('base64url'),
        hasMore,
        bundleId: of.bundleId,
        appAppleId: this.state.appAppleId,
        environment: env,
        signedTransactions: await Promise.all(page.map((r) => this.signTx(r.p, r.t))),
      },
    };
  }

  private async statuses(env: SimEnvironment, of: SimPurchase, q: URLSearchParams): Promise<ApiReply> {
    const wanted = q.getAll('status').map(Number);
    const subs = this.customerPurchases(env, of).filter(isSubscription);
    const groups = new Map<string, unknown[]>();
    for (const p of subs) {
      const status = statusOf(p);
      if (wanted.length && !wanted.includes(status)) continue;
      const item = {
        status,
        originalTransactionId: p.originalTransactionId,
        signedTransactionInfo: await this.signTx(p, latest(p)),
        signedRenewalInfo: await this.sign(this.state.renewalPayload(p), p.forged),
      };
      const key = p.subscriptionGroupIdentifier ?? 'default';
      groups.set(key, [...(groups.get(key) ?? []), item]);
    }
    return {
      status: 200,
      body: {
        environment: env,
        bundleId: of.bundleId,
        appAppleId: this.state.appAppleId,
        data: [...groups].map(([subscriptionGroupIdentifier, lastTransactions]) => ({ subscriptionGroupIdentifier, lastTransactions })),
      },
    };
  }

  private signTx(p: SimPurchase, t: SimTransaction): Promise<string> {
    return this.sign(this.state.transactionPayload(p, t), p.forged);
  }

  private count(name: string): void {
    this.state.stats.calls[name] = (this.state.stats.calls[name] ?? 0) + 1;
  }
}

const PRODUCT_TYPE: Record<SimPurchase['kind'], string> = {
  subscription: 'AUTO_RENEWABLE',
  non_renewing: 'NON_RENEWABLE',
  consumable: 'CONSUMABLE',
  non_consumable: 'NON_CONSUMABLE',
};

function decodeRevision(revision: string | null): number {
  if (!revision) return 0;
  try {
    const offset = (JSON.parse(Buffer.from(revision, 'base64url').toString('utf8')) as { offset?: unknown }).offset;
    return typeof offset === 'number' && offset >= 0 ? offset : 0;
  } catch {
    return 0;
  }
}
