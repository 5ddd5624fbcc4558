import type { Cancellation, PurchaseRecord, SubscriptionItem, SubscriptionRecord, VoidedRecord } from './model';
import { productResource, productResourceV2 } from './product-resources';
import type { SimPurchase, SubscriptionPurchaseV2, VoidedPurchase } from './types';

/** Renders records exactly as the Play API sends them: int64 as strings, V2 times as RFC 3339. */

const rfc3339 = (ms: number): string => new Date(ms).toISOString();

function canceledStateContext(c: Cancellation): SubscriptionPurchaseV2['canceledStateContext'] {
  switch (c.by) {
    case 'user': {
      const survey = c.surveyReason ? { reason: c.surveyReason, ...(c.reasonUserInput ? { reasonUserInput: c.reasonUserInput } : {}) } : undefined;
      return { userInitiatedCancellation: { cancelTime: rfc3339(c.time), ...(survey ? { cancelSurveyResult: survey } : {}) } };
    }
    case 'system':
      return { systemInitiatedCancellation: {} };
    case 'developer':
      return { developerInitiatedCancellation: {} };
    case 'replacement':
      return { replacementCancellation: {} };
  }
}

type LineItem = NonNullable<SubscriptionPurchaseV2['lineItems']>[number];

/** The base item is the record itself; add-ons carry the same fields. */
function lineItem(rec: SubscriptionRecord, i: SubscriptionItem): LineItem {
  const item: LineItem = {
    productId: i.productId,
    offerDetails: { basePlanId: i.basePlanId, offerTags: [], ...(i.offerId ? { offerId: i.offerId } : {}) },
  };
  if (i.expiryTime !== undefined) item.expiryTime = rfc3339(i.expiryTime);
  if (rec.prepaid) item.prepaidPlan = {};
  else {
    item.autoRenewingPlan = {
      autoRenewEnabled: i.autoRenewEnabled,
      recurringPrice: {
        currencyCode: rec.currencyCode,
        units: String(Math.floor(i.priceMicros / 1_000_000)),
        nanos: (i.priceMicros % 1_000_000) * 1000,
      },
    };
  }
  const latestOrder = i.orderIds.at(-1);
  if (latestOrder) item.latestSuccessfulOrderId = latestOrder;
  return item;
}

export function subscriptionResource(rec: SubscriptionRecord): SubscriptionPurchaseV2 {
  const r: SubscriptionPurchaseV2 = {
    kind: 'androidpublisher#subscriptionPurchaseV2',
    regionCode: rec.regionCode,
    subscriptionState: rec.state,
    acknowledgementState: rec.acknowledged ? 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED' : 'ACKNOWLEDGEMENT_STATE_PENDING',
    lineItems: [rec, ...rec.addOns].map((i) => lineItem(rec, i)),
    etag: `sim-${rec.version}`,
  };
  if (rec.startTime !== undefined) r.startTime = rfc3339(rec.startTime);
  if (rec.linkedPurchaseToken) r.linkedPurchaseToken = rec.linkedPurchaseToken;
  // "Removed after you acknowledge the purchase."
  if (rec.outOfApp && !rec.acknowledged) {
    const { expiredPurchaseToken, obfuscatedExternalAccountId: accountId, obfuscatedExternalProfileId: profileId } = rec.outOfApp;
    const ids = { ...(accountId ? { obfuscatedExternalAccountId: accountId } : {}), ...(profileId ? { obfuscatedExternalProfileId: profileId } : {}) };
    r.outOfAppPurchaseContext = { expiredPurchaseToken, ...(accountId || profileId ? { expiredExternalAccountIdentifiers: ids } : {}) };
  }
  if (rec.test) r.testPurchase = {};
  if (rec.obfuscatedExternalAccountId || rec.obfuscatedExternalProfileId) {
    r.externalAccountIdentifiers = {
      ...(rec.obfuscatedExternalAccountId ? { obfuscatedExternalAccountId: rec.obfuscatedExternalAccountId } : {}),
      ...(rec.obfuscatedExternalProfileId ? { obfuscatedExternalProfileId: rec.obfuscatedExternalProfileId } : {}),
    };
  }
  if (rec.state === 'SUBSCRIPTION_STATE_PAUSED' && rec.autoResumeTime !== undefined) {
    r.pausedStateContext = { autoResumeTime: rfc3339(rec.autoResumeTime) };
  }
  if ((rec.state === 'SUBSCRIPTION_STATE_CANCELED' || rec.state === 'SUBSCRIPTION_STATE_EXPIRED') && rec.cancellation) {
    r.canceledStateContext = canceledStateContext(rec.cancellation);
  }
  return r;
}

export function voidedResource(v: VoidedRecord): VoidedPurchase {
  return {
    kind: 'androidpublisher#voidedPurchase',
    purchaseToken: v.purchaseToken,
    orderId: v.orderId,
    purchaseTimeMillis: String(v.purchaseTime),
    voidedTimeMillis: String(v.voidedTime),
    voidedSource: v.voidedSource,
    voidedReason: v.voidedReason,
    ...(v.voidedQuantity !== undefined ? { voidedQuantity: v.voidedQuantity } : {}),
  };
}

export function simPurchase(rec: PurchaseRecord): SimPurchase {
  const orderId = rec.orderIds.at(-1);
  const base = {
    type: rec.type,
    packageName: rec.packageName,
    productId: rec.productId,
    purchaseToken: rec.token,
    ...(orderId ? { orderId } : {}),
    orderIds: [...rec.orderIds],
    ...(rec.refundReviews.length > 0 ? { refundReviews: rec.refundReviews.map((r) => ({ ...r })) } : {}),
  };
  if (rec.type === 'product') return { ...base, resource: productResource(rec), resourceV2: productResourceV2(rec) };
  const addOns = rec.addOns.map((a) => ({ productId: a.productId, orderIds: [...a.orderIds] }));
  return { ...base, resource: subscriptionResource(rec), ...(addOns.length > 0 ? { addOns } : {}) };
}
