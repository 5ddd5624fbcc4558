import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../shared/errors';
import {
  checkSignedPurchase,
  parseLicenseKeys,
  verifyPlaySignature,
  type SignedPurchaseRequest,
} from '../../shared/play/signature';

const packageName = 'com.example.app';
const productId = 'remove_ads';
const purchaseToken = 'opaque-token-abcdefghijklmnopqrstuvwxyz.AO-J1Oz_secret';

function rsaPair() {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}
const spkiBase64 = (key: KeyObject) => key.export({ format: 'der', type: 'spki' }).toString('base64');
const playSign = (privateKey: KeyObject, data: string) => sign('sha1', Buffer.from(data, 'utf8'), privateKey).toString('base64');

const app = rsaPair();
const other = rsaPair();
const keys = parseLicenseKeys(JSON.stringify({ [packageName]: spkiBase64(app.publicKey) }));

// Exactly what Play Billing's Purchase.getOriginalJson() looks like (field order and spacing preserved).
const originalJson = JSON.stringify({
  orderId: 'GPA.3301-2521-0164-82938',
  packageName,
  productId,
  purchaseTime: 1735689600000,
  purchaseState: 0,
  purchaseToken,
  obfuscatedAccountId: 'acc-hash',
  quantity: 1,
  acknowledged: false,
});
const signature = playSign(app.privateKey, originalJson);

const request = (extra: Partial<SignedPurchaseRequest> = {}): SignedPurchaseRequest => ({
  packageName,
  productId,
  purchaseToken,
  signedData: originalJson,
  signature,
  ...extra,
});

function refusal(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    return e as DomainError;
  }
  throw new Error('expected a refusal');
}

describe('verifyPlaySignature', () => {
  const key = keys.get(packageName)!;

  it('accepts a SHA1withRSA signature over the exact bytes', () => {
    expect(verifyPlaySignature({ key, signedData: originalJson, signature })).toBe(true);
    // Android's Base64.DEFAULT wraps lines; whitespace is ignored
    const wrapped = signature.replace(/(.{76})/g, '$1\n');
    expect(verifyPlaySignature({ key, signedData: originalJson, signature: wrapped })).toBe(true);
  });

  it('refuses tampered JSON, even a whitespace change', () => {
    expect(verifyPlaySignature({ key, signedData: originalJson.replace('"quantity":1', '"quantity":9'), signature })).toBe(false);
    expect(verifyPlaySignature({ key, signedData: originalJson + ' ', signature })).toBe(false);
  });

  it('refuses a signature made with another key', () => {
    expect(verifyPlaySignature({ key, signedData: originalJson, signature: playSign(other.privateKey, originalJson) })).toBe(false);
  });

  it('returns false (never throws) for garbage signatures', () => {
    for (const bad of ['', 'not base64!!', '%%%', 'AAAA', 'A', Buffer.alloc(300).toString('base64')]) {
      expect(verifyPlaySignature({ key, signedData: originalJson, signature: bad })).toBe(false);
    }
  });
});

describe('checkSignedPurchase', () => {
  it('accepts a valid pair and returns the signed data', () => {
    const data = checkSignedPurchase({ keys, request: request() });
    expect(data).toMatchObject({ packageName, productId, purchaseToken, orderId: 'GPA.3301-2521-0164-82938', quantity: 1 });
    expect(data?.obfuscatedAccountId).toBe('acc-hash');
  });

  it('keeps unknown fields (passthrough)', () => {
    const json = JSON.stringify({ packageName, productId, purchaseToken, productIds: [productId], newField: 'x' });
    const data = checkSignedPurchase({ keys, request: request({ signedData: json, signature: playSign(app.privateKey, json) }) });
    expect(data).toMatchObject({ newField: 'x', productIds: [productId] });
  });

  it('has nothing to check when neither is sent', () => {
    expect(checkSignedPurchase({ keys, request: request({ signedData: undefined, signature: undefined }) })).toBeUndefined();
    expect(checkSignedPurchase({ keys: new Map(), request: { packageName, productId, purchaseToken } })).toBeUndefined();
  });

  it('requires both of the pair', () => {
    for (const r of [request({ signature: undefined }), request({ signedData: undefined })]) {
      const e = refusal(() => checkSignedPurchase({ keys, request: r }));
      expect(e.code).toBe('invalid_argument');
      expect(e.message).toMatch(/signedData and signature go together/);
    }
  });

  it('refuses when the package has no license key', () => {
    const e = refusal(() => checkSignedPurchase({ keys, request: request({ packageName: 'com.other.app' }) }));
    expect(e.code).toBe('invalid_signature');
    expect(e.message).toBe(
      'no license key configured for com.other.app; remove signedData/signature or set PLAY_LICENSE_KEYS',
    );
  });

  it('refuses tampered JSON, another key and a garbage signature', () => {
    const cases = [
      request({ signedData: originalJson.replace('"purchaseState":0', '"purchaseState":1') }),
      request({ signature: playSign(other.privateKey, originalJson) }),
      request({ signature: 'garbage!' }),
    ];
    for (const r of cases) {
      const e = refusal(() => checkSignedPurchase({ keys, request: r }));
      expect(e.code).toBe('invalid_signature');
      expect(e.message).toMatch(/signature is not valid for signedData/);
    }
  });

  it('refuses signed data that does not match the request, naming the field', () => {
    const pkg = refusal(() => {
      const k = parseLicenseKeys(JSON.stringify({ 'com.example.other': spkiBase64(app.publicKey) }));
      checkSignedPurchase({ keys: k, request: request({ packageName: 'com.example.other' }) });
    });
    expect(pkg.code).toBe('invalid_signature');
    expect(pkg.message).toMatch(/packageName is "com.example.app", but the request's packageName is "com.example.other"/);

    const product = refusal(() => checkSignedPurchase({ keys, request: request({ productId: 'coins_100' }) }));
    expect(product.code).toBe('invalid_signature');
    expect(product.message).toMatch(/productId is "remove_ads", but the request's productId is "coins_100"/);

    const otherToken = 'another-token-xyz';
    const token = refusal(() => checkSignedPurchase({ keys, request: request({ purchaseToken: otherToken }) }));
    expect(token.code).toBe('invalid_signature');
    expect(token.message).toMatch(/purchaseToken does not match/);
    expect(token.message).not.toContain(otherToken);
    expect(token.message).not.toContain(purchaseToken);
  });

  it('refuses correctly signed data that is not a Play purchase JSON', () => {
    const notJson = 'hello';
    const e1 = refusal(() =>
      checkSignedPurchase({ keys, request: request({ signedData: notJson, signature: playSign(app.privateKey, notJson) }) }),
    );
    expect(e1.code).toBe('invalid_signature');
    expect(e1.message).toMatch(/not JSON/);

    const partial = JSON.stringify({ packageName, productId });
    const e2 = refusal(() =>
      checkSignedPurchase({ keys, request: request({ signedData: partial, signature: playSign(app.privateKey, partial) }) }),
    );
    expect(e2.code).toBe('invalid_signature');
    expect(e2.message).toMatch(/bad fields: purchaseToken/);
  });
});

describe('parseLicenseKeys', () => {
  it('parses several packages', () => {
    const m = parseLicenseKeys(
      JSON.stringify({ 'com.a': spkiBase64(app.publicKey), 'com.b': spkiBase64(other.publicKey) }),
    );
    expect([...m.keys()]).toEqual(['com.a', 'com.b']);
    expect(m.get('com.a')?.asymmetricKeyType).toBe('rsa');
    expect(parseLicenseKeys('{}').size).toBe(0);
  });

  it('names the bad package', () => {
    const good = spkiBase64(app.publicKey);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const cases: Array<[string, RegExp]> = [
      ['not json', /not valid JSON/],
      ['[]', /must be a JSON object/],
      ['"x"', /must be a JSON object/],
      [JSON.stringify({ 'com.ok': good, 'com.bad': 'not base64 !!' }), /"com\.bad" is not valid base64/],
      [JSON.stringify({ 'com.bad': Buffer.from('hello world').toString('base64') }), /"com\.bad" is not an X\.509 SubjectPublicKeyInfo/],
      [JSON.stringify({ 'com.bad': 42 }), /"com\.bad" is not a string/],
      [JSON.stringify({ 'com.bad': spkiBase64(ec) }), /"com\.bad" is not an RSA key \(it is ec\)/],
      [JSON.stringify({ '': good }), /empty package name/],
    ];
    for (const [json, message] of cases) {
      expect(() => parseLicenseKeys(json)).toThrow(message);
      try {
        parseLicenseKeys(json);
      } catch (e) {
        expect(e).not.toBeInstanceOf(DomainError);
      }
    }
  });
});
