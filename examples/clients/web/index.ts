/** The web client sample: account binding, verifyPurchase with status handling, the entitlement listener. */
export { accountHash, appAccountToken } from './account-binding';
export { hasAccess, watchEntitlements, type Entitlement } from './entitlements';
export { verifyPurchase, VerifyPurchaseError, type VerifyOptions, type VerifyOutcome, type VerifyRequest, type VerifyResult } from './verify-purchase';
