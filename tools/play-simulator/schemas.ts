import { z } from 'zod';
import { CANCEL_SURVEY_REASONS, DAY_MS } from './model';

/** Control inputs. Strict objects so a typo in a test is a 400, not a silently ignored field. */

const ms = z.int().positive();
const id = z.string().min(1).max(200);

const common = {
  packageName: id.default('com.example.app'),
  productId: id,
  pending: z.boolean().default(false),
  /** License-tester purchase: purchaseType 0 / testPurchase {} */
  test: z.boolean().default(false),
  /** As if the app had already acknowledged it. */
  acknowledged: z.boolean().default(false),
  obfuscatedExternalAccountId: z.string().max(64).optional(),
  obfuscatedExternalProfileId: z.string().max(64).optional(),
  developerPayload: z.string().optional(),
  regionCode: z.string().regex(/^[A-Z]{2}$/).default('US'),
};

const quantity = z.int().min(1).max(100);

export const CreateProductSchema = z.strictObject({
  type: z.literal('product'),
  ...common,
  quantity: quantity.default(1),
  /** Redeemed with a promo code: purchaseType 1 */
  promo: z.boolean().default(false),
  purchaseOptionId: id.default('buy'),
  offerId: id.optional(),
  /** A rental purchase option: rentOfferDetails {} */
  rental: z.boolean().default(false),
  /** A pre-order: preorderOfferDetails.preorderReleaseTime (ms) */
  preorderReleaseTime: ms.optional(),
  /** More productLineItem entries in the same token (a multi-product purchase). */
  extraProducts: z.array(z.strictObject({ productId: id, quantity: quantity.default(1) })).max(20).default([]),
});

export const CreateSubscriptionSchema = z.strictObject({
  type: z.literal('subscription'),
  ...common,
  basePlanId: id.default('monthly'),
  offerId: id.optional(),
  periodMs: ms.default(30 * DAY_MS),
  /** Prepaid plan (no auto-renewal) instead of auto-renewing. */
  prepaid: z.boolean().default(false),
  /** Token of an earlier subscription this one replaces (re-signup, upgrade, top-up). */
  linkedPurchaseToken: z.string().min(1).optional(),
  /** An expired subscription the user re-subscribed to from the Play Store (outOfAppPurchaseContext). */
  outOfAppExpiredToken: z.string().min(1).optional(),
  priceMicros: z.int().nonnegative().default(4_990_000),
  currencyCode: z.string().regex(/^[A-Z]{3}$/).default('USD'),
  /** Add-on line items; periodMs and priceMicros default to the base plan's. */
  addOns: z
    .array(z.strictObject({ productId: id, basePlanId: id.default('monthly'), periodMs: ms.optional(), priceMicros: z.int().nonnegative().optional() }))
    .max(20)
    .default([]),
});

export const CreatePurchaseSchema = z.discriminatedUnion('type', [CreateProductSchema, CreateSubscriptionSchema]);
export type CreatePurchaseInput = z.input<typeof CreatePurchaseSchema>;
export type CreateProduct = z.output<typeof CreateProductSchema>;
export type CreateSubscription = z.output<typeof CreateSubscriptionSchema>;

const none = z.strictObject({});
const duration = z.strictObject({ durationMs: ms.optional() });

/** Arguments of each control transition (`POST /_sim/purchases/{token}/{name}`). */
export const TransitionSchemas = {
  complete: none,
  cancelPending: none,
  renew: none,
  grace: duration,
  hold: duration,
  recover: none,
  pause: duration,
  resume: none,
  cancel: z.strictObject({
    by: z.enum(['user', 'system', 'developer']).optional(),
    surveyReason: z.enum(CANCEL_SURVEY_REASONS).optional(),
    reasonUserInput: z.string().optional(),
  }),
  restart: none,
  expire: none,
  /** `item`: subscriptionsv2.revoke itemBasedRefund of the add-on `productId`. */
  revoke: z
    .strictObject({ refund: z.enum(['full', 'prorated', 'item']).optional(), productId: id.optional() })
    .refine((a) => (a.refund === 'item') === (a.productId !== undefined), { message: 'productId goes with refund: "item" (and only with it)' }),
  refund: z
    .strictObject({
      orderId: z.string().optional(),
      revoke: z.boolean().optional(),
      /** 0 User, 1 Developer, 2 Google; default 0 */
      voidedSource: z.int().min(0).max(2).optional(),
      /** 0..8 as in voidedpurchases; default 1 (Remorse) */
      voidedReason: z.int().min(0).max(8).optional(),
      /** Quantity-based partial refund (one-time products); needs revoke: true. */
      quantity: quantity.optional(),
      /** The line item a partial refund applies to; default the first. */
      productId: id.optional(),
      recordDelayMs: z.int().nonnegative().optional(),
    })
    .refine((a) => a.quantity === undefined || a.revoke === true, { message: 'quantity needs revoke: true (partial refunds without revoke are not modelled)', path: ['quantity'] })
    .refine((a) => a.productId === undefined || a.quantity !== undefined, { message: 'productId goes with quantity', path: ['productId'] }),
  /** The bank reversed the payment of an order (default the latest): voidedSource 2, voidedReason 7. */
  chargeback: z.strictObject({ orderId: z.string().optional(), recordDelayMs: z.int().nonnegative().optional() }),
  /** One add-on stops renewing and lapses at its own expiry. */
  cancelAddOn: z.strictObject({ productId: id }),
  defer: z.strictObject({ durationMs: ms }),
  acknowledge: z.strictObject({ developerPayload: z.string().optional() }),
  consume: none,
  /** The user asked Play for a refund of an order (default the latest) and Play asks the developer to review it. */
  openRefundReview: z.strictObject({ orderId: z.string().optional(), refundReason: z.string().max(100).optional() }),
} as const;

export type TransitionName = keyof typeof TransitionSchemas;
export type TransitionArgs<N extends TransitionName = TransitionName> = z.input<(typeof TransitionSchemas)[N]>;
/** What a lifecycle step receives: the parsed arguments. */
export type StepArgs<N extends TransitionName> = z.output<(typeof TransitionSchemas)[N]>;
export const TRANSITION_NAMES = Object.keys(TransitionSchemas) as TransitionName[];

export const FaultSchema = z.strictObject({
  /** How many matching calls fail. */
  count: z.int().min(1).default(1),
  /** `api`: Play API calls; `token`: the OAuth token endpoint; `all`: both. */
  target: z.enum(['api', 'token', 'all']).default('api'),
  /** Only calls whose decoded path contains this (e.g. `subscriptionsv2`, `:acknowledge`). */
  pathContains: z.string().optional(),
  /** Only calls with this HTTP method (e.g. lose an acknowledge but not the reads). */
  method: z.enum(['GET', 'POST']).optional(),
  /**
   * `error`: answer `status`; `hang`: wait delayMs then drop the connection; `delay`: wait delayMs then serve;
   * `stale`: handle on arrival, answer after delayMs (default 1000); `lost`: handle, then drop the connection unanswered;
   * `malformed`: answer 200 with `body` instead (a resource in a shape the client cannot read).
   */
  mode: z.enum(['error', 'hang', 'delay', 'stale', 'lost', 'malformed']).default('error'),
  body: z.unknown().optional(),
  status: z.int().min(400).max(599).default(503),
  delayMs: z.int().nonnegative().max(600_000).optional(),
  message: z.string().optional(),
  retryAfterSeconds: z.int().nonnegative().optional(),
});
export type FaultSpecInput = z.input<typeof FaultSchema>;
export type FaultSpec = z.output<typeof FaultSchema>;

export const ClockSchema = z.strictObject({ advanceMs: z.int().nonnegative() });
