import { describe, expect, it } from 'vitest';
import { accountHash, appAccountToken } from '../../examples/clients/web/account-binding';
import vectorsFile from '../../examples/clients/vectors.json';
import { appAccountTokenFor, isAppAccountTokenOf } from '../../shared/app-store/app-account-token';
import { obfuscatedAccountIdFor } from '../../shared/ids';

/** examples/clients/vectors.json agrees with the server's own derivations and with the web client's. */
const { vectors } = vectorsFile;

describe('client account-binding vectors', () => {
  it('cover short, unicode (multi-byte, astral) and 128-character uids', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(6);
    expect(vectors.some((v) => /[^\u0000-\u007f]/.test(v.uid))).toBe(true);
    expect(vectors.some((v) => /[\u{10000}-\u{10ffff}]/u.test(v.uid))).toBe(true);
    expect(vectors.some((v) => v.uid.length === 128)).toBe(true);
    expect(new Set(vectors.map((v) => v.accountHash)).size).toBe(vectors.length);
  });

  for (const v of vectors) {
    it(`${JSON.stringify(v.uid.length > 24 ? `${v.uid.slice(0, 24)}…` : v.uid)}: server and web client agree with the vector`, async () => {
      expect(v.accountHash).toMatch(/^[0-9a-f]{64}$/);
      expect(v.appAccountToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(obfuscatedAccountIdFor(v.uid)).toBe(v.accountHash);
      expect(appAccountTokenFor(v.uid)).toBe(v.appAccountToken);
      expect(isAppAccountTokenOf(v.appAccountToken.toUpperCase(), v.uid), 'StoreKit sends it uppercase').toBe(true);
      expect(await accountHash(v.uid)).toBe(v.accountHash);
      expect(await appAccountToken(v.uid)).toBe(v.appAccountToken);
    });
  }

  it('a uid differing in one character gets other values (no normalisation, no truncation)', async () => {
    const long = vectors.find((v) => v.uid.length === 128)!;
    const other = `${long.uid.slice(0, 127)}y`;
    expect(await accountHash(other)).not.toBe(long.accountHash);
    expect(await appAccountToken(other)).not.toBe(long.appAccountToken);
    expect(await accountHash('e\u0301')).not.toBe(await accountHash('\u00e9')); // NFD vs NFC: bytes decide
  });
});
