import { createHmac, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { emulatorIdToken, type CertServer } from './id-tokens';
import { nastyString } from './hostile';

/**
 * Forged and tampered Firebase ID tokens, as fast-check recipes (the signing is asynchronous, so
 * an arbitrary yields a recipe and `forge` makes the token). Every recipe must be refused by a
 * deployment with production token checks (FIREBASE_AUTH_EMULATOR_HOST unset).
 */
export type TokenRecipe =
  | { kind: 'unsigned'; withSignature: boolean }
  | { kind: 'wrong_key' }
  | { kind: 'unknown_kid' }
  | { kind: 'expired'; ageSeconds: number }
  | { kind: 'issued_in_future'; aheadSeconds: number; field: 'iat' | 'auth_time' }
  | { kind: 'wrong_audience'; aud: string }
  | { kind: 'wrong_issuer'; iss: string }
  | { kind: 'other_project' }
  | { kind: 'bad_subject'; sub: string }
  | { kind: 'ill_typed_claim'; claim: 'sub' | 'exp' | 'iat' | 'auth_time' | 'aud' | 'iss'; value: unknown }
  | { kind: 'tampered_payload'; edit: 'uid' | 'admin' | 'exp' | 'aud' }
  | { kind: 'tampered_header'; header: Record<string, unknown> }
  | { kind: 'hs256_with_public_cert' }
  | { kind: 'stripped_signature' }
  | { kind: 'garbage'; parts: string[] }
  | { kind: 'authorization_header'; value: string };

export interface ForgeContext {
  projectId: string;
  uid: string;
  /** Claims the forger wants (e.g. `{ admin: true }`). */
  claims?: Record<string, unknown>;
  certs: CertServer;
  /** The certificate PEM the server publishes (for the HS256 key-confusion attack). */
  publicCertPem: string;
}

const otherKey: KeyObject = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A printable header value (what an HTTP client can send at all). */
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, '');

export const tokenRecipe: fc.Arbitrary<TokenRecipe> = fc.oneof(
  fc.record({ kind: fc.constant('unsigned' as const), withSignature: fc.boolean() }),
  fc.constant({ kind: 'wrong_key' as const }),
  fc.constant({ kind: 'unknown_kid' as const }),
  fc.record({ kind: fc.constant('expired' as const), ageSeconds: fc.integer({ min: 30, max: 10 * 365 * 86_400 }) }),
  fc.record({ kind: fc.constant('issued_in_future' as const), aheadSeconds: fc.integer({ min: 60, max: 365 * 86_400 }), field: fc.constantFrom('iat' as const, 'auth_time' as const) }),
  fc.record({ kind: fc.constant('wrong_audience' as const), aud: fc.oneof(nastyString, fc.constantFrom('other-project', 'demo-iap', '')) }),
  fc.record({ kind: fc.constant('wrong_issuer' as const), iss: fc.oneof(nastyString, fc.constantFrom('https://securetoken.google.com/other-project', 'https://accounts.google.com', 'https://evil.example/')) }),
  fc.constant({ kind: 'other_project' as const }),
  fc.record({ kind: fc.constant('bad_subject' as const), sub: fc.constantFrom('', 'x'.repeat(129)) }),
  // A claim of the wrong type (a string sub or aud of the right type would just be another user or project).
  fc.record({
    kind: fc.constant('ill_typed_claim' as const),
    claim: fc.constantFrom('sub' as const, 'aud' as const, 'iss' as const),
    value: fc.oneof(fc.constantFrom(null, true, 0, -1, 1e309, {}), fc.array(fc.string(), { maxLength: 2 })),
  }),
  fc.record({
    kind: fc.constant('ill_typed_claim' as const),
    claim: fc.constantFrom('exp' as const, 'iat' as const, 'auth_time' as const),
    value: fc.constantFrom(null, true, 'NaN', '9999999999', '1', [], {}, [9_999_999_999]),
  }),
  fc.record({ kind: fc.constant('tampered_payload' as const), edit: fc.constantFrom('uid' as const, 'admin' as const, 'exp' as const, 'aud' as const) }),
  fc.record({
    kind: fc.constant('tampered_header' as const),
    header: fc.constantFrom<Record<string, unknown>>(
      { alg: 'none' },
      { alg: 'HS256' },
      { alg: 'RS512' },
      { alg: 'ES256' },
      { alg: 'PS256' },
      { alg: 'RS256', kid: 'another-kid' },
      { alg: 'RS256', kid: '' },
      { alg: 'RS256', kid: 7 },
      { alg: 'RS256', jku: 'http://127.0.0.1:1/keys' },
      { alg: 'RS256', crit: ['exp'] },
      { alg: ['RS256'] },
    ),
  }),
  fc.constant({ kind: 'hs256_with_public_cert' as const }),
  fc.constant({ kind: 'stripped_signature' as const }),
  fc.record({ kind: fc.constant('garbage' as const), parts: fc.array(fc.oneof(fc.base64String({ maxLength: 60 }), nastyString), { minLength: 1, maxLength: 5 }) }),
  fc.record({
    kind: fc.constant('authorization_header' as const),
    value: fc.oneof(fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Token abc', 'Bearer a b', 'Bearer\tx.y.z', 'bearer .', 'Bearer ..', 'Bearer ...'), nastyString.map((s) => `Bearer ${s}`)),
  }),
);

/** The token a recipe makes; `authorization` is the whole header value to send. */
export async function forge(r: TokenRecipe, c: ForgeContext): Promise<{ authorization: string }> {
  const base = { projectId: c.projectId, uid: c.uid, ...(c.claims ? { claims: c.claims } : {}) };
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  switch (r.kind) {
    case 'unsigned': {
      const t = emulatorIdToken(base);
      return bearer(r.withSignature ? `${t}${b64url('sig')}` : t);
    }
    case 'wrong_key':
      return bearer(await c.certs.signIdToken({ ...base, signingKey: otherKey }));
    case 'unknown_kid':
      return bearer(await c.certs.signIdToken({ ...base, kid: randomBytes(20).toString('hex'), signingKey: otherKey }));
    case 'expired': {
      const exp = nowSeconds() - r.ageSeconds;
      return bearer(await c.certs.signIdToken({ ...base, iat: exp - 3600, exp }));
    }
    case 'issued_in_future': {
      const later = nowSeconds() + r.aheadSeconds;
      return bearer(
        await c.certs.signIdToken(r.field === 'iat' ? { ...base, iat: later, exp: later + 3600 } : { ...base, authTime: later }),
      );
    }
    case 'wrong_audience':
      return bearer(await c.certs.signIdToken({ ...base, aud: r.aud === c.projectId ? `${r.aud}x` : r.aud }));
    case 'wrong_issuer':
      return bearer(await c.certs.signIdToken({ ...base, iss: `${r.iss}` === `https://securetoken.google.com/${c.projectId}` ? 'x' : r.iss }));
    case 'other_project':
      return bearer(await c.certs.signIdToken({ ...base, projectId: `${c.projectId}-other` }));
    case 'bad_subject':
      return bearer(await c.certs.signIdToken({ ...base, sub: r.sub }));
    case 'ill_typed_claim':
      return bearer(await c.certs.signIdToken({ ...base, claims: { ...c.claims, [r.claim]: r.value } }));
    case 'tampered_payload': {
      const [h, p, s] = (await c.certs.signIdToken(base)).split('.') as [string, string, string];
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (r.edit === 'uid') Object.assign(payload, { sub: 'victim', user_id: 'victim' });
      if (r.edit === 'admin') payload.admin = payload.admin === true ? 'true' : true; // always a change
      if (r.edit === 'exp') payload.exp = (payload.exp as number) + 86_400 * 365;
      if (r.edit === 'aud') payload.aud = 'other-project';
      return bearer(`${h}.${b64url(payload)}.${s}`);
    }
    case 'tampered_header': {
      const [h, p, s] = (await c.certs.signIdToken(base)).split('.') as [string, string, string];
      const header = { ...(JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>), ...r.header };
      return bearer(`${b64url(header)}.${p}.${s}`);
    }
    case 'hs256_with_public_cert': {
      // The classic confusion: sign with HMAC, using the published certificate as the secret.
      const [, p] = (await c.certs.signIdToken(base)).split('.') as [string, string, string];
      const h = b64url({ alg: 'HS256', kid: c.certs.kid, typ: 'JWT' });
      const sig = createHmac('sha256', c.publicCertPem).update(`${h}.${p}`).digest('base64url');
      return bearer(`${h}.${p}.${sig}`);
    }
    case 'stripped_signature': {
      const [h, p] = (await c.certs.signIdToken(base)).split('.') as [string, string, string];
      return bearer(`${h}.${p}.`);
    }
    case 'garbage':
      return { authorization: headerSafe(`Bearer ${r.parts.join('.')}`) };
    case 'authorization_header':
      return { authorization: headerSafe(r.value) };
  }
}
