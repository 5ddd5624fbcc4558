import type { androidpublisher_v3 } from '@googleapis/androidpublisher';

/** Resource shapes, taken from the generated client so field names cannot drift from what it parses. */
export type ProductPurchase = androidpublisher_v3.Schema$ProductPurchase;
export type ProductPurchaseV2 = androidpublisher_v3.Schema$ProductPurchaseV2;
export type SubscriptionPurchaseV2 = androidpublisher_v3.Schema$SubscriptionPurchaseV2;
export type VoidedPurchase = androidpublisher_v3.Schema$VoidedPurchase;

/** The RTDN payload Play publishes to Pub/Sub (`message.data`, base64 of this JSON). */
export interface DeveloperNotification {
  version: '1.0';
  packageName: string;
  eventTimeMillis: string;
  subscriptionNotification?: { version: '1.0'; notificationType: number; purchaseToken: string };
  /** No `sku` for a multi-product purchase. */
  oneTimeProductNotification?: { version: '1.0'; notificationType: number; purchaseToken: string; sku?: string };
  /** refundType 1 full, 2 quantity-based partial. */
  voidedPurchaseNotification?: { purchaseToken: string; orderId: string; productType: 1 | 2; refundType: 1 | 2 };
  /** A refund request Play lets the developer review for 24 hours (orders.reviewrefund). */
  pendingRefundReviewNotification?: { version: '1.0'; pendingRefundToken: string; orderId: string; refundReason?: string };
}

/**
 * What `onNotification` receives: a notification Play would send, or, through
 * `sendNotification` / `POST /_sim/notifications`, any raw value for tests of malformed messages.
 * A string is meant to be published verbatim; anything else as JSON (see `encodeNotification`).
 */
export type OutgoingNotification = DeveloperNotification | string | Record<string, unknown>;

/** A Google service-account key file, as `JWT`/`GoogleAuth` read it. */
export interface ServiceAccountKey {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  token_uri: string;
}

export interface PlaySimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Accept assertions of this account instead of generating a key pair. */
  serviceAccount?: { clientEmail: string; publicKeyPem: string };
  onNotification?: (notification: OutgoingNotification) => void | Promise<void>;
  /** Base clock of the purchase lifecycle (ms); `advanceTime` adds to it. Default Date.now. */
  now?: () => number;
  /** Lifetime of issued access tokens; default 3599 s like Google. */
  accessTokenTtlSeconds?: number;
  /** Play refunds and revokes purchases not acknowledged within 3 days; default true. */
  autoRefundUnacknowledged?: boolean;
}

export interface SimStats {
  tokenExchanges: number;
  tokenRejections: number;
  /** Play API calls by client method name (e.g. `purchases.products.get`), faulted and refused ones included. */
  calls: Record<string, number>;
  unauthorized: number;
  faultsServed: number;
  notificationsSent: number;
  notificationFailures: number;
}

/** A purchase as the control API shows it: identity plus the exact resource the Play API returns. */
export interface SimPurchase {
  type: 'product' | 'subscription';
  packageName: string;
  productId: string;
  purchaseToken: string;
  /** Latest order of the base item (renewals get `..0`, `..1` suffixes); absent while pending. */
  orderId?: string;
  /** The base item's orders, oldest first. */
  orderIds: string[];
  /** Products: the legacy ProductPurchase (products.get); subscriptions: subscriptionsv2.get. */
  resource: ProductPurchase | SubscriptionPurchaseV2;
  /** Products only: what productsv2.getproductpurchasev2 returns. */
  resourceV2?: ProductPurchaseV2;
  /** Subscriptions with add-ons: each add-on's orders, oldest first. */
  addOns?: { productId: string; orderIds: string[] }[];
  /** Refund reviews opened for the token's orders (`openRefundReview`), with their answers. */
  refundReviews?: { orderId: string; pendingRefundToken: string; openedAt: number; answer?: 'approve' | 'decline'; answeredAt?: number }[];
}
