import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import * as z from '../zod';
import { DomainError } from '../errors';

/**
 * Local check of Play Billing's `originalJson` (signedData) + `signature`: SHA1withRSA (PKCS#1 v1.5) over
 * the exact originalJson bytes, verified with the app's license key from Play Console (base64 DER X.509
 * SubjectPublicKeyInfo). Optional: it only catches forged or mixed-up client input early; the Play
 * Developer API stays the source of truth.
 */

/** A request/signed value for an error message: JSON, shortened. Never used for purchase tokens. */
function show(value: string): string {
  const s = JSON.stringify(value);
  return s.length > 100 ? `${s.slice(0, 97)}...` : s;
}

const STANDARD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Strict base64 (whitespace ignored, as Android's Base64.DEFAULT emits line breaks); undefined if malformed. */
function decodeBase64(value: string): Buffer | undefined {
  const compact = value.replace(/\s+/g, '');
  if (compact.length === 0 || !STANDARD_BASE64.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, 'base64');
}

/**
 * Parses PLAY_LICENSE_KEYS: a JSON object `{packageName: base64 DER SPKI RSA public key}`.
 * Throws a plain Error naming the bad package (configuration validation wraps it).
 */
export function parseLicenseKeys(json: string): Map<string, KeyObject> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error('PLAY_LICENSE_KEYS is not valid JSON; expected {"<packageName>": "<base64 license key>"}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('PLAY_LICENSE_KEYS must be a JSON object {"<packageName>": "<base64 license key>"}');
  }
  const keys = new Map<string, KeyObject>();
  for (const [packageName, value] of Object.entries(parsed)) {
    if (packageName.trim() === '') throw new Error('PLAY_LICENSE_KEYS has an empty package name');
    const hint =
      "expected the base64 RSA public key from Play Console (Monetization setup > Licensing), e.g. 'MIIBIjANBgkqh...'";
    if (typeof value !== 'string') {
      throw new Error(`PLAY_LICENSE_KEYS: the key for "${packageName}" is not a string; ${hint}`);
    }
    const der = decodeBase64(value);
    if (!der) throw new Error(`PLAY_LICENSE_KEYS: the key for "${packageName}" is not valid base64; ${hint}`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    } catch {
      throw new Error(
        `PLAY_LICENSE_KEYS: the key for "${packageName}" is not an X.509 SubjectPublicKeyInfo public key; ${hint}`,
      );
    }
    if (key.asymmetricKeyType !== 'rsa') {
      throw new Error(
        `PLAY_LICENSE_KEYS: the key for "${packageName}" is not an RSA key (it is ${key.asymmetricKeyType ?? 'unknown'}); ${hint}`,
      );
    }
    keys.set(packageName, key);
  }
  return keys;
}

/** True when `signature` (base64) is a valid SHA1withRSA signature of `signedData`'s UTF-8 bytes. Never throws. */
export function verifyPlaySignature(args: { key: KeyObject; signedData: string; signature: string }): boolean {
  const sig = decodeBase64(args.signature);
  if (!sig) return false;
  try {
    return verify('sha1', Buffer.from(args.signedData, 'utf8'), args.key, sig);
  } catch {
    return false;
  }
}

/** The fields of Play's originalJson this product relies on; everything else passes through. */
export const PlaySignedDataSchema = z.looseObject({
  packageName: z.string(),
  productId: z.string(),
  purchaseToken: z.string(),
  orderId: z.optional(z.string()),
  purchaseTime: z.optional(z.number()),
  purchaseState: z.optional(z.number()),
  quantity: z.optional(z.number()),
  acknowledged: z.optional(z.boolean()),
  autoRenewing: z.optional(z.boolean()),
  obfuscatedAccountId: z.optional(z.string()),
  obfuscatedProfileId: z.optional(z.string()),
});
export type PlaySignedData = z.infer<typeof PlaySignedDataSchema>;

export interface SignedPurchaseRequest {
  packageName: string;
  productId: string;
  purchaseToken: string;
  signedData?: string | null;
  signature?: string | null;
}

/**
 * Checks the optional signedData/signature pair of a verifyPurchase request. Returns the parsed signed
 * data when the pair was given and is valid, undefined when there was nothing to check; otherwise throws
 * `invalid_argument` (only one of the pair) or `invalid_signature`.
 */
export function checkSignedPurchase(args: {
  keys: ReadonlyMap<string, KeyObject>;
  request: SignedPurchaseRequest;
}): PlaySignedData | undefined {
  const { keys, request } = args;
  const hasData = request.signedData !== undefined && request.signedData !== null;
  const hasSignature = request.signature !== undefined && request.signature !== null;
  if (!hasData && !hasSignature) return undefined;
  if (!hasData || !hasSignature) {
    throw new DomainError(
      'invalid_argument',
      `signedData and signature go together: got only ${hasData ? 'signedData' : 'signature'}; ` +
        "send both (Play Billing's Purchase.getOriginalJson() and getSignature()) or neither",
    );
  }
  const signedData = request.signedData as string;
  const signature = request.signature as string;

  const key = keys.get(request.packageName);
  if (!key) {
    throw new DomainError(
      'invalid_signature',
      `no license key configured for ${request.packageName}; remove signedData/signature or set PLAY_LICENSE_KEYS`,
    );
  }
  if (!verifyPlaySignature({ key, signedData, signature })) {
    throw new DomainError(
      'invalid_signature',
      `signature is not valid for signedData with the license key of ${request.packageName}; ` +
        'send originalJson and signature exactly as Play Billing returned them',
    );
  }

  let json: unknown;
  try {
    json = JSON.parse(signedData);
  } catch {
    throw new DomainError('invalid_signature', 'signedData is correctly signed but is not JSON');
  }
  const parsed = PlaySignedDataSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
    throw new DomainError('invalid_signature', `signedData is not a Play purchase JSON (bad fields: ${fields})`);
  }
  const data = parsed.data;
  if (data.packageName !== request.packageName) {
    throw new DomainError(
      'invalid_signature',
      `signedData packageName is ${show(data.packageName)}, but the request's packageName is ${show(request.packageName)}`,
    );
  }
  if (data.productId !== request.productId) {
    throw new DomainError(
      'invalid_signature',
      `signedData productId is ${show(data.productId)}, but the request's productId is ${show(request.productId)}`,
    );
  }
  if (data.purchaseToken !== request.purchaseToken) {
    throw new DomainError('invalid_signature', "signedData purchaseToken does not match the request's purchaseToken");
  }
  return data;
}
