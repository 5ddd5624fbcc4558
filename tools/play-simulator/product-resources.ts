import type { ProductItem, ProductRecord } from './model';
import type { ProductPurchase, ProductPurchaseV2 } from './types';

/** One-time purchases as products.get (legacy) and productsv2.getproductpurchasev2 send them. */

const rfc3339 = (ms: number): string => new Date(ms).toISOString();
const PURCHASE_STATES = ['PURCHASED', 'CANCELLED', 'PENDING'] as const;

/** Legacy ProductPurchase: describes the first line item only (the productId it is read with). */
export function productResource(rec: ProductRecord): ProductPurchase {
  const main = rec.items[0];
  const r: ProductPurchase = {
    kind: 'androidpublisher#productPurchase',
    purchaseTimeMillis: String(rec.purchaseTime),
    purchaseState: rec.purchaseState,
    consumptionState: rec.consumed ? 1 : 0,
    developerPayload: rec.developerPayload ?? '',
    acknowledgementState: rec.acknowledged ? 1 : 0,
    quantity: main?.quantity,
    refundableQuantity: main?.refundableQuantity,
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

function lineItem(rec: ProductRecord, item: ProductItem): NonNullable<ProductPurchaseV2['productLineItem']>[number] {
  return {
    productId: item.productId,
    productOfferDetails: {
      consumptionState: rec.consumed ? 'CONSUMPTION_STATE_CONSUMED' : 'CONSUMPTION_STATE_YET_TO_BE_CONSUMED',
      quantity: item.quantity,
      refundableQuantity: item.refundableQuantity,
      offerTags: [],
      offerToken: item.offerToken,
      purchaseOptionId: item.purchaseOptionId,
      ...(item.offerId ? { offerId: item.offerId } : {}),
      ...(item.preorderReleaseTime !== undefined ? { preorderOfferDetails: { preorderReleaseTime: rfc3339(item.preorderReleaseTime) } } : {}),
      ...(item.rental ? { rentOfferDetails: {} } : {}),
    },
  };
}

export function productResourceV2(rec: ProductRecord): ProductPurchaseV2 {
  const r: ProductPurchaseV2 = {
    kind: 'androidpublisher#productPurchaseV2',
    productLineItem: rec.items.map((i) => lineItem(rec, i)),
    purchaseStateContext: { purchaseState: PURCHASE_STATES[rec.purchaseState] },
    acknowledgementState: rec.acknowledged ? 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED' : 'ACKNOWLEDGEMENT_STATE_PENDING',
    regionCode: rec.regionCode,
  };
  const orderId = rec.orderIds[0];
  if (orderId) r.orderId = orderId;
  if (rec.completionTime !== undefined) r.purchaseCompletionTime = rfc3339(rec.completionTime);
  if (rec.obfuscatedExternalAccountId) r.obfuscatedExternalAccountId = rec.obfuscatedExternalAccountId;
  if (rec.obfuscatedExternalProfileId) r.obfuscatedExternalProfileId = rec.obfuscatedExternalProfileId;
  if (rec.test) r.testPurchaseContext = { fopType: 'TEST' };
  return r;
}
