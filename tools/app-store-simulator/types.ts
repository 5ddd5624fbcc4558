import { z } from 'zod';

/** The simulator's model of App Store purchases (in memory, one instance per simulator). */
export type SimEnvironment = 'Production' | 'Sandbox' | 'Xcode';
export type SimProductKind = 'subscription' | 'non_consumable' | 'consumable' | 'non_renewing';

export const APPLE_TYPES: Record<SimProductKind, string> = {
  subscription: 'Auto-Renewable Subscription',
  non_consumable: 'Non-Consumable',
  consumable: 'Consumable',
  non_renewing: 'Non-Renewing Subscription',
};

export const Status = { ACTIVE: 1, EXPIRED: 2, BILLING_RETRY: 3, GRACE_PERIOD: 4, REVOKED: 5 } as const;
export type Status = (typeof Status)[keyof typeof Status];

export interface SimTransaction {
  transactionId: string;
  productId: string;
  purchaseDate: number;
  expiresDate?: number;
  webOrderLineItemId?: string;
  transactionReason: 'PURCHASE' | 'RENEWAL';
  quantity: number;
  revocationDate?: number;
  revocationReason?: number;
  revocationType?: 'REFUND_FULL' | 'REFUND_PRORATED' | 'FAMILY_REVOKE';
  /** The refunded share in thousandths of a percent (100000 = 100 %), for prorated refunds. */
  revocationPercentage?: number;
  isUpgraded?: boolean;
  offerType?: number;
  offerIdentifier?: string;
}

export interface SimPurchase {
  originalTransactionId: string;
  kind: SimProductKind;
  environment: SimEnvironment;
  bundleId: string;
  /** The Apple account: history and subscription statuses cover one customer's purchases. */
  customerId: string;
  appAccountToken?: string;
  ownership: 'PURCHASED' | 'FAMILY_SHARED';
  subscriptionGroupIdentifier?: string;
  periodMs: number;
  /** Oldest first; the last one is the latest. */
  transactions: SimTransaction[];
  status?: Status;
  autoRenewStatus: 0 | 1;
  autoRenewProductId?: string;
  isInBillingRetryPeriod: boolean;
  gracePeriodExpiresDate?: number;
  expirationIntent?: number;
  /** Family members' purchases made from this one (their originalTransactionIds). */
  familyMembers: string[];
  sharedFrom?: string;
  /** Sign with an untrusted CA (a forged payload). */
  forged?: boolean;
}

export const BuyInputSchema = z.strictObject({
  productId: z.string().min(1),
  kind: z.enum(['subscription', 'non_consumable', 'consumable', 'non_renewing']),
  environment: z.enum(['Production', 'Sandbox', 'Xcode']).optional(),
  bundleId: z.string().min(1).optional(),
  customerId: z.string().min(1).optional(),
  appAccountToken: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'a UUID').optional(),
  quantity: z.number().int().positive().max(10).optional(),
  periodMs: z.number().int().positive().optional(),
  /** When it was bought (ms since the epoch; default now): an old purchase, e.g. a pass already over. */
  purchaseDate: z.number().int().nonnegative().optional(),
  subscriptionGroupIdentifier: z.string().min(1).optional(),
  /** Send the SUBSCRIBED / ONE_TIME_CHARGE notification (default: when a notification URL is set). */
  notify: z.boolean().optional(),
  deliver: z.boolean().optional(),
  forged: z.boolean().optional(),
});
export type BuyInput = z.input<typeof BuyInputSchema>;

/** A notification the simulator signed, and what the receiver answered when it was delivered. */
export interface SentNotification {
  notificationUUID: string;
  notificationType: string;
  subtype?: string;
  signedDate: number;
  signedPayload: string;
  delivery?: { status: number; body: string } | { error: string };
}

/** One send attempt as Get Notification History reports it (Apple keeps up to six per notification). */
export interface SendAttempt {
  attemptDate: number;
  sendAttemptResult: 'SUCCESS' | 'TIMED_OUT' | 'NO_RESPONSE' | 'UNSUCCESSFUL_HTTP_RESPONSE_CODE';
}

/** Every notification the simulator signed, as Apple records it for Get Notification History. */
export interface HistoryRecord {
  signedPayload: string;
  environment: SimEnvironment;
  notificationType: string;
  subtype?: string;
  /** The customer the notification is about (the transactionId filter); none for TEST. */
  customerId?: string;
  /** When it was sent (its signedDate): what startDate/endDate filter on. */
  sentAt: number;
  sendAttempts: SendAttempt[];
}

/** One Send Consumption Information call the simulator accepted (what the server told Apple). */
export interface ConsumptionRecord {
  transactionId: string;
  environment: SimEnvironment;
  body: Record<string, unknown>;
  receivedAt: number;
}

export interface TransitionResult {
  purchase: SimPurchase;
  notifications: SentNotification[];
}

export interface SimStats {
  calls: Record<string, number>;
  unauthorized: number;
  faultsServed: number;
  notificationsSent: number;
}
