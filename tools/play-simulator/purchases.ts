import { randomBytes } from 'node:crypto';
import { errors } from './google-errors';
import { newPurchaseToken } from './ids';
import {
  RefundType,
  SubState,
  type Ledger,
  type OrderRecord,
  type ProductItem,
  type ProductRecord,
  type PurchaseRecord,
  type SubscriptionRecord,
  type VoidedRecord,
} from './model';
import { oneTimeNotification, refundReviewNotification, subscriptionNotification, voidedNotification } from './notifications';
import { nextProductEvent, productSteps, type ProductStep } from './product-lifecycle';
import type { CreateProduct, CreateSubscription } from './schemas';
import { nextSubscriptionEvent } from './subscription-clock';
import { replaceLinked, subscriptionSteps, type SubscriptionStep } from './subscription-lifecycle';
import type { DeveloperNotification } from './types';
import { VoidedLog, type VoidedQuery } from './voided';

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
  private voided = new VoidedLog();
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
    this.voided.clear();
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
    const item = (productId: string, quantity: number): ProductItem => ({
      productId,
      quantity,
      refundableQuantity: quantity,
      purchaseOptionId: 'buy',
      offerToken: randomBytes(18).toString('base64url'),
      rental: false,
    });
    // The offer options describe the first line item; extra products are plain purchases.
    const main: ProductItem = {
      ...item(input.productId, input.quantity),
      purchaseOptionId: input.purchaseOptionId,
      offerId: input.offerId,
      rental: input.rental,
      preorderReleaseTime: input.preorderReleaseTime,
    };
    const items = [main, ...input.extraProducts.map((p) => item(p.productId, p.quantity))];
    if (new Set(items.map((i) => i.productId)).size < items.length) throw errors.badRequest('Each product of a purchase must be distinct.');
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
      refundReviews: [],
      items,
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
    if (input.linkedPurchaseToken) this.subscriptionOf(input.packageName, input.linkedPurchaseToken, 'linkedPurchaseToken');
    const expired = input.outOfAppExpiredToken ? this.subscriptionOf(input.packageName, input.outOfAppExpiredToken, 'outOfAppExpiredToken') : undefined;
    if (expired && (expired.state !== SubState.EXPIRED || input.linkedPurchaseToken)) {
      throw errors.badRequest('outOfAppExpiredToken must be an expired subscription, and a re-subscription has no linkedPurchaseToken');
    }
    if (input.addOns.length > 0 && input.prepaid) throw errors.badRequest('Add-ons need an auto-renewing base plan.');
    const productIds = [input.productId, ...input.addOns.map((a) => a.productId)];
    if (new Set(productIds).size < productIds.length) throw errors.badRequest('Each item of a subscription must be a distinct product.');
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
      refundReviews: [],
      basePlanId: input.basePlanId,
      offerId: input.offerId,
      periodMs: input.periodMs,
      prepaid: input.prepaid,
      addOns: input.addOns.map((a) => ({
        productId: a.productId,
        basePlanId: a.basePlanId,
        periodMs: a.periodMs ?? input.periodMs,
        priceMicros: a.priceMicros ?? input.priceMicros,
        autoRenewEnabled: false,
        ended: false,
        orderIds: [],
      })),
      state: SubState.PENDING,
      autoRenewEnabled: false,
      linkedPurchaseToken: input.linkedPurchaseToken,
      ...(expired
        ? {
            outOfApp: {
              expiredPurchaseToken: expired.token,
              obfuscatedExternalAccountId: expired.obfuscatedExternalAccountId,
              obfuscatedExternalProfileId: expired.obfuscatedExternalProfileId,
            },
          }
        : {}),
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
      const old = step === 'complete' && rec.linkedPurchaseToken ? this.purchases.get(rec.linkedPurchaseToken) : undefined;
      if (old?.type === 'subscription') replaceLinked(old, rec, this.now());
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

  /** Voided purchases the list query selects, in the order it pages them. */
  listVoided(q: VoidedQuery): VoidedRecord[] {
    this.settle();
    return this.voided.query(q);
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

  private subscriptionOf(packageName: string, token: string, field: string): SubscriptionRecord {
    const rec = this.purchases.get(token);
    if (rec?.type !== 'subscription' || rec.packageName !== packageName) {
      throw errors.badRequest(`${field} is not a subscription of ${packageName} known to the simulator`);
    }
    return rec;
  }

  private ledger(at: number): Ledger {
    const order = (orderId: string): OrderRecord => {
      const o = this.orders.get(orderId);
      if (!o) throw errors.orderNotFound();
      return o;
    };
    return {
      now: at,
      emitSubscription: (rec, type) => {
        this.outbox.push(subscriptionNotification(rec.packageName, rec.token, type, at));
      },
      emitOneTime: (rec, type) => {
        const sku = rec.items.length > 1 ? undefined : rec.productId;
        this.outbox.push(oneTimeNotification(rec.packageName, rec.token, sku, type, at));
      },
      emitRefundReview: (rec, review) => {
        this.outbox.push(refundReviewNotification(rec.packageName, review, at));
      },
      openOrder: (rec, orderId, into = rec.orderIds) => {
        into.push(orderId);
        this.orders.set(orderId, { orderId, token: rec.token, packageName: rec.packageName, time: at, refunded: false, voided: false });
      },
      isRefunded: (orderId) => this.orders.get(orderId)?.refunded ?? false,
      isVoided: (orderId) => this.orders.get(orderId)?.voided ?? false,
      refundOrder: (orderId) => {
        const o = order(orderId);
        if (o.refunded) throw errors.orderAlreadyRefunded();
        o.refunded = true;
      },
      voidOrder: (orderId, spec) => {
        const o = order(orderId);
        const rec = this.purchases.get(o.token);
        if (!rec) throw errors.orderNotFound();
        if (spec.quantity === undefined) o.voided = true;
        const productType = rec.type === 'subscription' ? 1 : 2;
        this.voided.add({
          packageName: rec.packageName,
          purchaseToken: rec.token,
          orderId,
          purchaseTime: o.time,
          voidedTime: at,
          voidedSource: spec.source,
          voidedReason: spec.reason,
          productType,
          ...(spec.quantity === undefined ? {} : { voidedQuantity: spec.quantity }),
          recordedTime: at + (spec.recordDelayMs ?? 0),
        });
        const refundType = spec.quantity === undefined ? RefundType.FULL : RefundType.QUANTITY_BASED_PARTIAL;
        this.outbox.push(voidedNotification(rec.packageName, rec.token, orderId, productType, refundType, at));
      },
    };
  }
}

export type { ProductStep, SubscriptionStep };
