import { NotificationSubtype, NotificationType } from '../app-store/notification';
import { AppleSubscriptionStatus } from './app-store-purchase';

/**
 * What an App Store Server Notification V2 does, by type. Pure. Every notification that carries a
 * transaction re-states the purchase (Apple's data, re-read from the API when a key is configured);
 * the type only says what to expect when the payload states no subscription status.
 */
export const NotificationAction = {
  /** Bring the purchase to the state Apple reports now. */
  APPLY_STATE: 'apply_state',
  /** Keep for an admin (e.g. a consumption request before Apple decides a refund). */
  RECORD_FOR_ADMIN: 'record_for_admin',
  /** Nothing to change (TEST, summaries without a transaction). */
  ACKNOWLEDGE: 'acknowledge',
} as const;
export type NotificationAction = (typeof NotificationAction)[keyof typeof NotificationAction];

export interface NotificationEffect {
  action: NotificationAction;
  /** The subscription status the type implies, used only when the payload has no `status`. */
  impliedStatus: AppleSubscriptionStatus | null;
}

const apply = (impliedStatus: AppleSubscriptionStatus | null = null): NotificationEffect => ({
  action: NotificationAction.APPLY_STATE,
  impliedStatus,
});

const S = AppleSubscriptionStatus;
const T = NotificationType;

/** Types whose effect does not depend on the subtype. Unknown types re-state the purchase generically. */
const BY_TYPE: Record<string, NotificationEffect> = {
  [T.SUBSCRIBED]: apply(S.ACTIVE), // INITIAL_BUY, RESUBSCRIBE
  [T.DID_RENEW]: apply(S.ACTIVE), // also BILLING_RECOVERY
  [T.OFFER_REDEEMED]: apply(S.ACTIVE),
  [T.RENEWAL_EXTENDED]: apply(S.ACTIVE),
  [T.GRACE_PERIOD_EXPIRED]: apply(S.BILLING_RETRY), // Apple keeps retrying, access ends
  [T.EXPIRED]: apply(S.EXPIRED), // VOLUNTARY, BILLING_RETRY, PRICE_INCREASE, PRODUCT_NOT_FOR_SALE
  [T.REFUND]: apply(S.REVOKED),
  [T.REVOKE]: apply(S.REVOKED), // Family Sharing access withdrawn
  [T.REFUND_REVERSED]: apply(), // access back: derive from the dates
  [T.DID_CHANGE_RENEWAL_STATUS]: apply(), // auto-renew on/off changes the state, not the access
  [T.DID_CHANGE_RENEWAL_PREF]: apply(), // UPGRADE switches the product now, DOWNGRADE at renewal
  [T.ONE_TIME_CHARGE]: apply(),
  [T.REFUND_DECLINED]: apply(),
  [T.PRICE_INCREASE]: apply(),
  [T.CONSUMPTION_REQUEST]: { action: NotificationAction.RECORD_FOR_ADMIN, impliedStatus: null },
  [T.TEST]: { action: NotificationAction.ACKNOWLEDGE, impliedStatus: null },
};

export function notificationEffect(type: string, subtype: string | undefined): NotificationEffect {
  if (type === T.DID_FAIL_TO_RENEW) {
    // With GRACE_PERIOD access continues until the grace period ends; without, it stops now.
    return apply(subtype === NotificationSubtype.GRACE_PERIOD ? S.GRACE_PERIOD : S.BILLING_RETRY);
  }
  return Object.hasOwn(BY_TYPE, type) ? BY_TYPE[type]! : apply();
}
