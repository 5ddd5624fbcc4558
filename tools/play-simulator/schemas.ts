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

export const CreateProductSchema = z.strictObject({
  type: z.literal('product'),
  ...common,
  quantity: z.int().min(1).max(100).default(1),
  /** Redeemed with a promo code: purchaseType 1 */
  promo: z.boolean().default(false),
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
  priceMicros: z.int().nonnegative().default(4_990_000),
  currencyCode: z.string().regex(/^[A-Z]{3}$/).default('USD'),
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
  revoke: z.strictObject({ refund: z.enum(['full', 'prorated']).optional() }),
  refund: z.strictObject({
    orderId: z.string().optional(),
    revoke: z.boolean().optional(),
    /** 0 User, 1 Developer, 2 Google; default 0 */
    voidedSource: z.int().min(0).max(2).optional(),
    /** 0..8 as in voidedpurchases; default 1 (Remorse) */
    voidedReason: z.int().min(0).max(8).optional(),
  }),
  defer: z.strictObject({ durationMs: ms }),
  acknowledge: z.strictObject({ developerPayload: z.string().optional() }),
  consume: none,
} as const;

export type TransitionName = keyof typeof TransitionSchemas;
export type TransitionArgs<N extends TransitionName = TransitionName> = z.input<(typeof TransitionSchemas)[N]>;
export const TRANSITION_NAMES = Object.keys(TransitionSchemas) as TransitionName[];

export const FaultSchema = z.strictObject({
  /** How many matching calls fail. */
  count: z.int().min(1).default(1),
  /** `api`: Play API calls; `token`: the OAuth token endpoint; `all`: both. */
  target: z.enum(['api', 'token', 'all']).default('api'),
  /** Only calls whose decoded path contains this (e.g. `subscriptionsv2`, `:acknowledge`). */
  pathContains: z.string().optional(),
  /** `error`: answer `status`; `hang`: wait delayMs then drop the connection; `delay`: wait delayMs then serve. */
  mode: z.enum(['error', 'hang', 'delay']).default('error'),
  status: z.int().min(400).max(599).default(503),
  delayMs: z.int().nonnegative().max(600_000).optional(),
  message: z.string().optional(),
  retryAfterSeconds: z.int().nonnegative().optional(),
});
export type FaultSpecInput = z.input<typeof FaultSchema>;
export type FaultSpec = z.output<typeof FaultSchema>;

export const ClockSchema = z.strictObject({ advanceMs: z.int().nonnegative() });
