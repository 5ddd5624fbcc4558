import { errors } from './google-errors';
import { newPurchaseToken } from './ids';
import {
  SubState,
  type Ledger,
  type OrderRecord,
  type ProductRecord,
  type PurchaseRecord,
  type SubscriptionRecord,
  type VoidedRecord,
} from './model';
import { oneTimeNotification, subscriptionNotification, voidedNotification } from './notifications';
import { nextProductEvent, productSteps, type ProductStep } from './product-lifecycle';
import type { CreateProduct, CreateSubscription } from './schemas';
import { nextSubscriptionEvent, subscriptionSteps, type SubscriptionStep } from './subscription-lifecycle';
import type { DeveloperNotification } from './types';

/** Steps typed loosely for dispatch by name; their args were validated (zod) by the caller. */
type Step = (rec: PurchaseRecord, l: Ledger, args?: object) => void;
/** Safety net for settle(): a 1-minute period advanced by months is still far below this. */
const MAX_TIMED_EVENTS = 200_000;

/**
 * In-memory purchases, orders and voided purchases, driven by an injectable clock. No I/O: the RTDNs
 * that transitions produce wait in an outbox that the caller drains and delivers.
 */
export class PurchaseStore {
  private purchases = new Map<string, PurchaseRecord>();
  private orders = new Map<string, OrderRecord>();
  private voided: VoidedRecord[] = [];
  private outbox: DeveloperNotification[] = [];

  constructor(
    private readonly clock: () => number,
    private readonly autoRefundUnacknowledged: boolean,
  ) {}

  now(): number {
    return this.clock();
  }

  reset(): void {
    this.purchases.clear();
    this.orders.clear();
    this.voided = [];
    this.outbox = [];
  }

  /** Notifications produced since the last drain, oldest first. */
  drain(): DeveloperNotification[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  createProduct(input: CreateProduct): ProductRecord {
    this.settle();
    const now = this.now();
    const rec: ProductRecord = {
      type: 'product',
      packageName: input.packageName,
      productId: input.productId,
      token: newPurchaseToken(),
      test: input.test,
      acknowledged: input.acknowledged,
      regionCode: input.regionCode,
      obfuscatedExternalAccountId: input.obfuscatedExternalAccountId,
      obfuscatedExternalProfileId: input.obfuscatedExternalProfileId,
      developerPayload: input.developerPayload,
      orderIds: [],
      quantity: input.quantity,
      refundableQuantity: input.quantity,
      purchaseState: 2,
      consumed: false,
      promo: input.promo,
      purchaseTime: now,
    };
    this.purchases.set(rec.token, rec);
    if (!input.pending) productSteps.complete(rec, this.ledger(now));
    return rec;
  }

  createSubscription(input: CreateSubscription): SubscriptionRecord {
    this.settle();
    if (input.linkedPurchaseToken) {
      const linked = this.purchases.get(input.linkedPurchaseToken);
      if (linked?.type !== 'subscription' || linked.packageName !== input.packageName) {
        throw errors.badRequest(`linkedPurchaseToken is not a subscription of ${input.packageName} known to the simulator`);
      }
    }
    const rec: SubscriptionRecord = {
      type: 'subscription',
      packageName: input.packageName,
      productId: input.productId,
      token: newPurchaseToken(),
      test: input.test,
      acknowledged: input.acknowledged,
      regionCode: input.regionCode,
      obfuscatedExternalAccountId: input.obfuscatedExternalAccountId,
      obfuscatedExternalProfileId: input.obfuscatedExternalProfileId,
      developerPayload: input.developerPayload,
      orderIds: [],
      basePlanId: input.basePlanId,
      offerId: input.offerId,
      periodMs: input.periodMs,
      prepaid: input.prepaid,
      state: SubState.PENDING,
      autoRenewEnabled: false,
      linkedPurchaseToken: input.linkedPurchaseToken,
      priceMicros: input.priceMicros,
      currencyCode: input.currencyCode,
      version: 1,
    };
    this.purchases.set(rec.token, rec);
    if (!input.pending) this.apply(rec.token, 'complete');
    return rec;
  }

  /** The record for a token, with every event the clock has made due applied. */
  get(token: string): PurchaseRecord | undefined {
    this.settle();
    return this.purchases.get(token);
  }

  /** Runs one lifecycle step; throws a PlayError when Play would refuse it. Args are validated by the caller. */
  apply(token: string, step: string, args: object = {}): PurchaseRecord {
    this.settle();
    const rec = this.purchases.get(token);
    if (!rec) throw errors.tokenNotFound();
    const steps = (rec.type === 'product' ? productSteps : subscriptionSteps) as unknown as Record<string, Step>;
    const run = Object.hasOwn(steps, step) ? steps[step] : undefined;
    if (!run) {
      const kind = rec.type === 'product' ? 'one-time products' : 'subscriptions';
      throw errors.badRequest(`Transition "${step}" does not apply to ${kind}.`);
    }
    run(rec, this.ledger(this.now()), args);
    if (rec.type === 'subscription') {
      rec.version++;
      if (step === 'complete') this.replaceLinked(rec);
    }
    // A step may leave something already due (e.g. cancel during account hold expires at once).
    this.settle();
    return rec;
  }

  /** The purchase an order belongs to. */
  orderOwner(orderId: string): PurchaseRecord {
    this.settle();
    const order = this.orders.get(orderId);
    const rec = order && this.purchases.get(order.token);
    if (!rec) throw errors.orderNotFound();
    return rec;
  }

  /** Voided purchases recorded in [startTime, endTime], oldest first. */
  listVoided(q: { packageName: string; startTime: number; endTime: number; includeSubscriptions: boolean }): VoidedRecord[] {
    this.settle();
    return this.voided
      .filter((v) => v.packageName === q.packageName && v.voidedTime >= q.startTime && v.voidedTime <= q.endTime)
      .filter((v) => q.includeSubscriptions || v.productType === 2)
      .sort((a, b) => a.voidedTime - b.voidedTime);
  }

  /** Applies every event the clock has made due (renewals, expiries, ...), in time order across purchases. */
  settle(): void {
    const now = this.now();
    for (let i = 0; i < MAX_TIMED_EVENTS; i++) {
      let next: { at: number; run: (l: Ledger) => void; rec: PurchaseRecord } | undefined;
      for (const rec of this.purchases.values()) {
        const e =
          rec.type === 'product'
            ? nextProductEvent(rec, this.autoRefundUnacknowledged)
            : nextSubscriptionEvent(rec, this.autoRefundUnacknowledged);
        if (e && e.at <= now && (!next || e.at < next.at)) next = { ...e, rec };
      }
      if (!next) return;
      next.run(this.ledger(next.at));
      if (next.rec.type === 'subscription') next.rec.version++;
    }
    throw new Error('Play simulator: too many timed events at once; is a subscription period tiny?');
  }

  /**
   * A new subscription with linkedPurchaseToken (upgrade, re-signup, top-up) replaces the old one if it
   * still runs. Simplification: no RTDN is sent for the old token.
   */
  private replaceLinked(rec: SubscriptionRecord): void {
    const old = rec.linkedPurchaseToken ? this.purchases.get(rec.linkedPurchaseToken) : undefined;
    const finished: string[] = [SubState.EXPIRED, SubState.PENDING, SubState.PENDING_PURCHASE_CANCELED];
    if (old?.type !== 'subscription' || finished.includes(old.state)) return;
    const now = this.now();
    // A prepaid top-up keeps the time left on the old token.
    if (rec.prepaid && old.prepaid && rec.expiryTime !== undefined && (old.expiryTime ?? 0) > now) {
      rec.expiryTime += (old.expiryTime ?? now) - now;
    }
    old.state = SubState.EXPIRED;
    old.autoRenewEnabled = false;
    old.cancellation = { by: 'replacement' };
    old.expiryTime = Math.min(old.expiryTime ?? now, now);
    old.version++;
  }

  private ledger(at: number): Ledger {
    return {
      now: at,
      emitSubscription: (rec, type) => {
        this.outbox.push(subscriptionNotification(rec.packageName, rec.token, type, at));
      },
      emitOneTime: (rec, type) => {
        this.outbox.push(oneTimeNotification(rec.packageName, rec.token, rec.productId, type, at));
      },
      openOrder: (rec, orderId) => {
        rec.orderIds.push(orderId);
        this.orders.set(orderId, { orderId, token: rec.token, packageName: rec.packageName, time: at, refunded: false });
      },
      isRefunded: (orderId) => this.orders.get(orderId)?.refunded ?? false,
      voidOrder: (orderId, source, reason) => {
        const order = this.orders.get(orderId);
        const rec = order && this.purchases.get(order.token);
        if (!order || !rec) throw errors.orderNotFound();
        if (order.refunded) throw errors.orderAlreadyRefunded();
        order.refunded = true;
        const productType = rec.type === 'subscription' ? 1 : 2;
        this.voided.push({
          packageName: rec.packageName,
          purchaseToken: rec.token,
          orderId,
          purchaseTime: order.time,
          voidedTime: at,
          voidedSource: source,
          voidedReason: reason,
          productType,
        });
        this.outbox.push(voidedNotification(rec.packageName, rec.token, orderId, productType, at));
      },
    };
  }
}

export type { ProductStep, SubscriptionStep };
