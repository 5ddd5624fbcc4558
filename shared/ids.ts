import { createHash } from 'node:crypto';

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** `purchases/{id}` for a Play purchase token: the token's SHA-256 in lowercase hex, never the token. */
export const playPurchaseId = (purchaseToken: string): string => sha256Hex(purchaseToken);

/**
 * What an app must pass to BillingFlowParams.setObfuscatedAccountId for the signed-in user:
 * the lowercase hex SHA-256 of the Firebase uid (64 chars, within Play's limit).
 */
export const obfuscatedAccountIdFor = (uid: string): string => sha256Hex(uid);
