import type { Cancellation, ProductRecord, PurchaseRecord, SubscriptionRecord, VoidedRecord } from './model';
import type { ProductPurchase, SimPurchase, SubscriptionPurchaseV2, VoidedPurchase } from './types';

/** Renders records exactly as the Play API sends them: int64 as strings, V2 times as RFC 3339. */

const rfc3339 = (ms: number): string => new Date(ms).toISOString();

export function productResource(rec: ProductRecord): ProductPurchase {
  const r: ProductPurchase = {
    kind: 'androidpublisher#productPurchase',
    purchaseTimeMillis: String(rec.purchaseTime),
    purchaseState: rec.purchaseState,
    consumptionState: rec.consumed ? 1 : 0,
    developerPayload: rec.developerPayload ?? '',
    acknowledgementState: rec.acknowledged ? 1 : 0,
    quantity: rec.quantity,
    refundableQuantity: rec.refundableQuantity,
    regionCode: rec.regionCode,
  };
  // Play leaves out orderId while pending, and productId/purchaseToken ("may not be present") altogether.
  const orderId = rec.orderIds[0];
  if (orderId) r.orderId = orderId;
  if (rec.test) r.purchaseType = 0;
  else if (rec.promo) r.purchaseType = 1;
  if (rec.obfuscatedExternalAccountId) r.obfuscatedExternalAccountId = rec.obfuscatedExternalAccountId;
  if (rec.obfuscatedExternalProfileId) r.obfuscatedExternalProfileId = rec.obfuscatedExternalProfileId;
  return r;
}

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

export function subscriptionResource(rec: SubscriptionRecord): SubscriptionPurchaseV2 {
  const item: NonNullable<SubscriptionPurchaseV2['lineItems']>[number] = {
    productId: rec.productId,
    offerDetails: { basePlanId: rec.basePlanId, offerTags: [], ...(rec.offerId ? { offerId: rec.offerId } : {}) },
  };
  if (rec.expiryTime !== undefined) item.expiryTime = rfc3339(rec.expiryTime);
  if (rec.prepaid) item.prepaidPlan = {};
  else {
    item.autoRenewingPlan = {
      autoRenewEnabled: rec.autoRenewEnabled,
      recurringPrice: {
        currencyCode: rec.currencyCode,
        units: String(Math.floor(rec.priceMicros / 1_000_000)),
        nanos: (rec.priceMicros % 1_000_000) * 1000,
      },
    };
  }
  const latestOrder = rec.orderIds.at(-1);
  if (latestOrder) item.latestSuccessfulOrderId = latestOrder;

  const r: SubscriptionPurchaseV2 = {
    kind: 'androidpublisher#subscriptionPurchaseV2',
    regionCode: rec.regionCode,
    subscriptionState: rec.state,
    acknowledgementState: rec.acknowledged ? 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED' : 'ACKNOWLEDGEMENT_STATE_PENDING',
    lineItems: [item],
    etag: `sim-${rec.version}`,
  };
  if (rec.startTime !== undefined) r.startTime = rfc3339(rec.startTime);
  if (rec.linkedPurchaseToken) r.linkedPurchaseToken = rec.linkedPurchaseToken;
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
  };
}

export function simPurchase(rec: PurchaseRecord): SimPurchase {
  const orderId = rec.orderIds.at(-1);
  return {
    type: rec.type,
    packageName: rec.packageName,
    productId: rec.productId,
    purchaseToken: rec.token,
    ...(orderId ? { orderId } : {}),
    orderIds: [...rec.orderIds],
    resource: rec.type === 'product' ? productResource(rec) : subscriptionResource(rec),
  };
}
