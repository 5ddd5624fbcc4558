import { createHash } from 'node:crypto';

/**
 * The appAccountToken an app must set for the signed-in user: the RFC 4122 version-5 UUID of the
 * Firebase uid in the URL namespace (CONTRACT section 7). Same value as Swift/Kotlin/Python uuid5.
 */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

export function appAccountTokenFor(uid: string): string {
  const hash = createHash('sha1')
    .update(Buffer.from(URL_NAMESPACE.replace(/-/g, ''), 'hex'))
    .update(uid, 'utf8')
    .digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50; // version 5
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** UUIDs compare case-insensitively (StoreKit sends uppercase, Node lowercase). */
export const isAppAccountTokenOf = (token: string, uid: string): boolean => token.toLowerCase() === appAccountTokenFor(uid);
