/**
 * The ids the server derives (shared/ids.ts), computed in the browser with WebCrypto: a Play purchase
 * is `purchases/{sha256 hex of its token}`, so the console finds one from a pasted token without
 * sending the token anywhere.
 */
export async function sha256Hex(s: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export const playPurchaseId = sha256Hex;
