import { randomInt } from 'node:crypto';
import { APPLE_TYPES, Status, type ConsumptionRecord, type SimPurchase, type SimStats, type SimTransaction } from './types';

/**
 * The simulator's purchases, ids and clock, and the App Store payloads (transaction, renewal info) as
 * Apple would sign them right now.
 */
export class SimState {
  readonly purchases = new Map<string, SimPurchase>();
  /** Send Consumption Information calls accepted, oldest first. */
  readonly consumption: ConsumptionRecord[] = [];
  stats: SimStats = emptyStats();
  private counter = 0;
  private readonly idBase = 2_000_000_000_000_000 + randomInt(0, 1_000_000) * 1_000_000;
  private lastNow = 0;
  offsetMs = 0;

  constructor(
    readonly bundleId: string,
    readonly appAppleId: number,
  ) {}

  /** Strictly increasing milliseconds, so that every signed payload has its own signedDate. */
  now(): number {
    this.lastNow = Math.max(Date.now() + this.offsetMs, this.lastNow + 1);
    return this.lastNow;
  }

  nextId(): string {
    return String(this.idBase + ++this.counter);
  }

  get(originalTransactionId: string): SimPurchase {
    const p = this.purchases.get(originalTransactionId);
    if (!p) throw new SimError(404, `no purchase with originalTransactionId ${originalTransactionId}`);
    return p;
  }

  /** The purchase holding this transaction id (any of its transactions), if any. */
  findByTransactionId(transactionId: string): { purchase: SimPurchase; transaction: SimTransaction } | undefined {
    for (const purchase of this.purchases.values()) {
      const transaction = purchase.transactions.find((t) => t.transactionId === transactionId);
      if (transaction) return { purchase, transaction };
    }
    return undefined;
  }

  transactionPayload(p: SimPurchase, t: SimTransaction = latest(p)): Record<string, unknown> {
    const subscription = p.kind === 'subscription';
    return strip({
      transactionId: t.transactionId,
      originalTransactionId: p.originalTransactionId,
      webOrderLineItemId: t.webOrderLineItemId,
      bundleId: p.bundleId,
      productId: t.productId,
      subscriptionGroupIdentifier: subscription ? p.subscriptionGroupIdentifier : undefined,
      purchaseDate: t.purchaseDate,
      originalPurchaseDate: p.transactions[0]!.purchaseDate,
      expiresDate: t.expiresDate,
      quantity: t.quantity,
      type: APPLE_TYPES[p.kind],
      appAccountToken: p.appAccountToken,
      inAppOwnershipType: p.ownership,
      signedDate: this.now(),
      revocationDate: t.revocationDate,
      revocationReason: t.revocationReason,
      revocationType: t.revocationType,
      revocationPercentage: t.revocationPercentage,
      isUpgraded: t.isUpgraded,
      offerType: t.offerType,
      offerIdentifier: t.offerIdentifier,
      environment: p.environment,
      transactionReason: t.transactionReason,
      storefront: 'USA',
      storefrontId: '143441',
      price: 4990,
      currency: 'USD',
    });
  }

  renewalPayload(p: SimPurchase): Record<string, unknown> {
    const t = latest(p);
    return strip({
      originalTransactionId: p.originalTransactionId,
      autoRenewProductId: p.autoRenewProductId ?? t.productId,
      productId: t.productId,
      autoRenewStatus: p.autoRenewStatus,
      isInBillingRetryPeriod: p.isInBillingRetryPeriod,
      gracePeriodExpiresDate: p.gracePeriodExpiresDate,
      expirationIntent: p.expirationIntent,
      signedDate: this.now(),
      environment: p.environment,
      recentSubscriptionStartDate: p.transactions[0]!.purchaseDate,
      renewalDate: p.autoRenewStatus === 1 ? t.expiresDate : undefined,
      appAccountToken: p.appAccountToken,
    });
  }

  reset(): void {
    this.purchases.clear();
    this.consumption.length = 0;
    this.stats = emptyStats();
    this.offsetMs = 0;
  }
}

export const latest = (p: SimPurchase): SimTransaction => p.transactions[p.transactions.length - 1]!;

export const isSubscription = (p: SimPurchase) => p.kind === 'subscription';

/** The status Apple would report for a subscription now. */
export const statusOf = (p: SimPurchase): Status => p.status ?? Status.ACTIVE;

export class SimError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const emptyStats = (): SimStats => ({ calls: {}, unauthorized: 0, faultsServed: 0, notificationsSent: 0 });

const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
