import { z } from 'zod';
import type { Notifier } from './notifications';
import { isSubscription, latest, SimError, type SimState } from './state';
import { BuyInputSchema, Status, type BuyInput, type SentNotification, type SimPurchase, type SimTransaction, type TransitionResult } from './types';

/**
 * Purchases and their lifecycle, each step with the V2 notification Apple sends for it. Time does not
 * pass by itself: a step that ends a period (failRenew, expire) moves that period's end to now.
 */
const DAY = 86_400_000;

export const TransitionArgsSchemas = {
  renew: z.strictObject({}),
  failRenew: z.strictObject({ grace: z.boolean().optional(), graceMs: z.number().int().positive().optional() }),
  graceExpire: z.strictObject({}),
  expire: z.strictObject({ reason: z.enum(['VOLUNTARY', 'BILLING_RETRY', 'PRICE_INCREASE', 'PRODUCT_NOT_FOR_SALE']).optional() }),
  setAutoRenew: z.strictObject({ enabled: z.boolean() }),
  changeProduct: z.strictObject({ productId: z.string().min(1), when: z.enum(['now', 'renewal']) }),
  redeemOffer: z.strictObject({ offerIdentifier: z.string().min(1) }),
  resubscribe: z.strictObject({}),
  extend: z.strictObject({ ms: z.number().int().positive() }),
  refund: z.strictObject({
    prorated: z.boolean().optional(),
    /** Apple's revocationPercentage: the refunded share in thousandths of a percent (a prorated refund). */
    percentage: z.number().int().min(0).max(100_000).optional(),
    /** Refund this transaction (a past renewal) instead of the latest one. */
    transactionId: z.string().min(1).optional(),
  }),
  refundDeclined: z.strictObject({}),
  refundReversed: z.strictObject({ transactionId: z.string().min(1).optional() }),
  revoke: z.strictObject({}),
  familyShare: z.strictObject({ customerId: z.string().min(1).optional() }),
  consumptionRequest: z.strictObject({ reason: z.string().optional() }),
} as const;
export type TransitionName = keyof typeof TransitionArgsSchemas;
export type TransitionArgs<N extends TransitionName> = z.input<(typeof TransitionArgsSchemas)[N]>;
export const TRANSITION_NAMES = Object.keys(TransitionArgsSchemas) as TransitionName[];

export class Lifecycle {
  constructor(
    private readonly state: SimState,
    private readonly notifier: Notifier,
  ) {}

  async buy(input: BuyInput): Promise<TransitionResult> {
    const i = BuyInputSchema.parse(input);
    const now = i.purchaseDate ?? this.state.now();
    const id = this.state.nextId();
    const subscription = i.kind === 'subscription';
    const periodMs = i.periodMs ?? 30 * DAY;
    const p: SimPurchase = {
      originalTransactionId: id,
      kind: i.kind,
      environment: i.environment ?? 'Production',
      bundleId: i.bundleId ?? this.state.bundleId,
      customerId: i.customerId ?? `customer-${id}`,
      ...(i.appAccountToken ? { appAccountToken: i.appAccountToken } : {}),
      ownership: 'PURCHASED',
      ...(subscription ? { subscriptionGroupIdentifier: i.subscriptionGroupIdentifier ?? '21000001', status: Status.ACTIVE } : {}),
      periodMs,
      transactions: [
        {
          transactionId: id,
          productId: i.productId,
          purchaseDate: now,
          ...(subscription ? { expiresDate: now + periodMs, webOrderLineItemId: this.state.nextId() } : {}),
          transactionReason: 'PURCHASE',
          quantity: i.quantity ?? 1,
        },
      ],
      autoRenewStatus: subscription ? 1 : 0,
      isInBillingRetryPeriod: false,
      familyMembers: [],
      ...(i.forged ? { forged: true } : {}),
    };
    this.state.purchases.set(id, p);
    const notify = i.notify ?? this.notifier.url !== undefined;
    const sent = notify
      ? [await this.notifier.notify(p, subscription ? 'SUBSCRIBED' : 'ONE_TIME_CHARGE', subscription ? 'INITIAL_BUY' : undefined, deliver(i.deliver))]
      : [];
    return { purchase: p, notifications: sent };
  }

  async transition<N extends TransitionName>(
    originalTransactionId: string,
    name: N,
    args: TransitionArgs<N> = {} as TransitionArgs<N>,
    options: { deliver?: boolean } = {},
  ): Promise<TransitionResult> {
    const schema = TransitionArgsSchemas[name];
    if (!schema) throw new SimError(404, `unknown transition "${String(name)}"`);
    const a = schema.parse(args) as Record<string, unknown>;
    const p = this.state.get(originalTransactionId);
    const send = (p2: SimPurchase, type: string, subtype?: string, data?: Record<string, unknown>, transaction?: SimTransaction) =>
      this.notifier.notify(p2, type, subtype, { ...deliver(options.deliver), ...(data ? { data } : {}), ...(transaction ? { transaction } : {}) });
    const notifications: SentNotification[] = [];
    const now = this.state.now();
    const last = latest(p);
    const sub = () => {
      if (!isSubscription(p)) throw new SimError(400, `${name} applies to auto-renewable subscriptions only`);
    };

    switch (name) {
      case 'renew': {
        sub();
        const recovering = p.isInBillingRetryPeriod;
        // Family members' own subscriptions renew with the purchaser's, each with its own transaction.
        for (const m of [p, ...this.members(p)]) {
          this.addTransaction(m, latest(m).productId, now, 'RENEWAL');
          Object.assign(m, { status: Status.ACTIVE, isInBillingRetryPeriod: false, gracePeriodExpiresDate: undefined, autoRenewStatus: 1 });
          notifications.push(await send(m, 'DID_RENEW', recovering ? 'BILLING_RECOVERY' : undefined));
        }
        break;
      }
      case 'failRenew': {
        sub();
        last.expiresDate = Math.min(last.expiresDate ?? now, now - 1);
        p.isInBillingRetryPeriod = true;
        p.expirationIntent = 2; // billing error
        if (a.grace) {
          p.gracePeriodExpiresDate = now + ((a.graceMs as number | undefined) ?? 16 * DAY);
          p.status = Status.GRACE_PERIOD;
        } else p.status = Status.BILLING_RETRY;
        notifications.push(await send(p, 'DID_FAIL_TO_RENEW', a.grace ? 'GRACE_PERIOD' : undefined));
        break;
      }
      case 'graceExpire': {
        sub();
        p.gracePeriodExpiresDate = now - 1;
        p.status = Status.BILLING_RETRY;
        notifications.push(await send(p, 'GRACE_PERIOD_EXPIRED'));
        break;
      }
      case 'expire': {
        sub();
        const reason = (a.reason as string | undefined) ?? (p.isInBillingRetryPeriod ? 'BILLING_RETRY' : 'VOLUNTARY');
        for (const m of [p, ...this.members(p)]) {
          const t = latest(m);
          t.expiresDate = Math.min(t.expiresDate ?? now, now - 1);
          Object.assign(m, {
            status: Status.EXPIRED,
            autoRenewStatus: 0,
            isInBillingRetryPeriod: false,
            expirationIntent: reason === 'VOLUNTARY' ? 1 : reason === 'BILLING_RETRY' ? 2 : 3,
          });
          notifications.push(await send(m, 'EXPIRED', reason));
        }
        break;
      }
      case 'setAutoRenew': {
        sub();
        p.autoRenewStatus = a.enabled ? 1 : 0;
        notifications.push(await send(p, 'DID_CHANGE_RENEWAL_STATUS', a.enabled ? 'AUTO_RENEW_ENABLED' : 'AUTO_RENEW_DISABLED'));
        break;
      }
      case 'changeProduct': {
        sub();
        const productId = a.productId as string;
        if (a.when === 'now') {
          // An upgrade takes effect at once: a new transaction, same originalTransactionId.
          last.isUpgraded = true;
          this.addTransaction(p, productId, now, 'PURCHASE');
          p.autoRenewProductId = productId;
          p.status = Status.ACTIVE;
          notifications.push(await send(p, 'DID_CHANGE_RENEWAL_PREF', 'UPGRADE'));
        } else {
          p.autoRenewProductId = productId;
          notifications.push(await send(p, 'DID_CHANGE_RENEWAL_PREF', 'DOWNGRADE'));
        }
        break;
      }
      case 'redeemOffer': {
        sub();
        const resubscribing = p.status === Status.EXPIRED;
        const t = this.addTransaction(p, last.productId, now, 'PURCHASE');
        Object.assign(t, { offerType: 3, offerIdentifier: a.offerIdentifier as string });
        Object.assign(p, { status: Status.ACTIVE, autoRenewStatus: 1, isInBillingRetryPeriod: false });
        notifications.push(await send(p, 'OFFER_REDEEMED', resubscribing ? 'RESUBSCRIBE' : undefined));
        break;
      }
      case 'resubscribe': {
        sub();
        this.addTransaction(p, p.autoRenewProductId ?? last.productId, now, 'PURCHASE');
        Object.assign(p, { status: Status.ACTIVE, autoRenewStatus: 1, isInBillingRetryPeriod: false, expirationIntent: undefined });
        notifications.push(await send(p, 'SUBSCRIBED', 'RESUBSCRIBE'));
        break;
      }
      case 'extend': {
        sub();
        last.expiresDate = (last.expiresDate ?? now) + (a.ms as number);
        if (p.status === Status.EXPIRED && last.expiresDate > now) p.status = Status.ACTIVE;
        notifications.push(await send(p, 'RENEWAL_EXTENDED'));
        break;
      }
      case 'refund': {
        const t = this.transactionOf(p, a.transactionId as string | undefined);
        const percentage = a.percentage as number | undefined;
        const prorated = a.prorated === true || (percentage !== undefined && percentage < 100_000);
        Object.assign(t, { revocationDate: now, revocationReason: 1, revocationType: prorated ? 'REFUND_PRORATED' : 'REFUND_FULL' });
        if (percentage !== undefined) t.revocationPercentage = percentage;
        // A refund of a past renewal takes back that period only: the subscription goes on.
        const current = t === last;
        if (current && isSubscription(p)) p.status = Status.REVOKED;
        notifications.push(await send(p, 'REFUND', undefined, undefined, t));
        // Family members lose what was shared from a refunded purchase.
        if (current) for (const memberId of p.familyMembers) notifications.push(...(await this.revokeMember(memberId, options.deliver)));
        break;
      }
      case 'refundDeclined':
        notifications.push(await send(p, 'REFUND_DECLINED'));
        break;
      case 'refundReversed': {
        const t = this.transactionOf(p, a.transactionId as string | undefined);
        if (t.revocationDate === undefined) throw new SimError(400, `transaction ${t.transactionId} is not refunded`);
        for (const field of ['revocationDate', 'revocationReason', 'revocationType', 'revocationPercentage'] as const) delete t[field];
        if (t === last && isSubscription(p)) p.status = (last.expiresDate ?? 0) > now ? Status.ACTIVE : Status.EXPIRED;
        notifications.push(await send(p, 'REFUND_REVERSED', undefined, undefined, t));
        break;
      }
      case 'revoke':
        if (p.ownership !== 'FAMILY_SHARED') throw new SimError(400, 'revoke applies to family-shared purchases (refund the purchaser instead)');
        notifications.push(...(await this.revokeMember(p.originalTransactionId, options.deliver)));
        break;
      case 'familyShare': {
        if (p.kind === 'consumable') throw new SimError(400, 'consumables cannot be shared');
        const member = this.share(p, (a.customerId as string | undefined) ?? `family-of-${p.customerId}`);
        notifications.push(await send(member, isSubscription(member) ? 'SUBSCRIBED' : 'ONE_TIME_CHARGE', isSubscription(member) ? 'INITIAL_BUY' : undefined));
        return { purchase: member, notifications };
      }
      case 'consumptionRequest':
        notifications.push(await send(p, 'CONSUMPTION_REQUEST', undefined, { consumptionRequestReason: (a.reason as string | undefined) ?? 'UNINTENDED_PURCHASE' }));
        break;
    }
    return { purchase: p, notifications };
  }

  /** The named transaction of `p` (default: its latest). */
  private transactionOf(p: SimPurchase, transactionId: string | undefined): SimTransaction {
    if (transactionId === undefined) return latest(p);
    const t = p.transactions.find((x) => x.transactionId === transactionId);
    if (!t) throw new SimError(404, `purchase ${p.originalTransactionId} has no transaction ${transactionId}`);
    return t;
  }

  /** Family members still sharing `p` (a revoked member's subscription no longer follows it). */
  private members(p: SimPurchase): SimPurchase[] {
    return p.familyMembers.map((id) => this.state.get(id)).filter((m) => latest(m).revocationDate === undefined);
  }

  private addTransaction(p: SimPurchase, productId: string, now: number, reason: 'PURCHASE' | 'RENEWAL') {
    const t = {
      transactionId: this.state.nextId(),
      productId,
      purchaseDate: now,
      expiresDate: now + p.periodMs,
      webOrderLineItemId: this.state.nextId(),
      transactionReason: reason,
      quantity: 1,
    };
    p.transactions.push(t);
    return t;
  }

  /** A family member's own purchase of what `p` shares: own ids, same product and dates. */
  private share(p: SimPurchase, customerId: string): SimPurchase {
    const id = this.state.nextId();
    const member: SimPurchase = {
      ...structuredClone(p),
      originalTransactionId: id,
      customerId,
      ownership: 'FAMILY_SHARED',
      familyMembers: [],
      sharedFrom: p.originalTransactionId,
      transactions: p.transactions.map((t, n) => ({ ...t, transactionId: n === 0 ? id : this.state.nextId() })),
    };
    delete member.appAccountToken; // the token is the purchaser's account, not the member's
    this.state.purchases.set(id, member);
    p.familyMembers.push(id);
    return member;
  }

  private async revokeMember(memberId: string, deliverIt: boolean | undefined): Promise<SentNotification[]> {
    const m = this.state.get(memberId);
    const t = latest(m);
    if (t.revocationDate !== undefined) return [];
    Object.assign(t, { revocationDate: this.state.now(), revocationReason: 0, revocationType: 'FAMILY_REVOKE' });
    if (isSubscription(m)) m.status = Status.REVOKED;
    return [await this.notifier.notify(m, 'REVOKE', undefined, deliver(deliverIt))];
  }
}

const deliver = (d: boolean | undefined) => (d === undefined ? {} : { deliver: d });
