/**
 * The account binding a purchase carries, computed in the browser with WebCrypto. Both must match
 * what the server derives from the signed-in uid (test vectors: ../vectors.json).
 */
const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Google Play's obfuscatedAccountId: the lowercase SHA-256 hex of the Firebase uid (UTF-8). */
export async function accountHash(uid: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(uid))));
}

/** RFC 4122 URL namespace; the App Store binding is the version-5 UUID of the uid in it. */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

/** Apple's appAccountToken: uuid5(URL namespace, uid), lowercase (Apple compares case-insensitively). */
export async function appAccountToken(uid: string): Promise<string> {
  const ns = Uint8Array.from(URL_NAMESPACE.replace(/-/g, '').match(/../g)!, (h) => parseInt(h, 16));
  const name = utf8(uid);
  const input = new Uint8Array(ns.length + name.length);
  input.set(ns);
  input.set(name, ns.length);
  const b = new Uint8Array(await crypto.subtle.digest('SHA-1', input)).slice(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50; // version 5
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
