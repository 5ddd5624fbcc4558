import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdTokenVerifier, parseBearer } from '../../shared/auth/id-token';
import { parseMaxAge } from '../../shared/auth/google-certs';
import { DomainError } from '../../shared/errors';
import { emulatorIdToken, startCertServer, type CertServer } from '../helpers/id-tokens';

const projectId = 'demo-iap-test';
const uid = 'user-123';

let certs: CertServer;
beforeAll(async () => {
  certs = await startCertServer();
});
afterAll(async () => {
  await certs.close();
});

const prodVerifier = (extra: Partial<Parameters<typeof createIdTokenVerifier>[0]> = {}) =>
  createIdTokenVerifier({ projectId, emulator: false, certsUrl: certs.url, ...extra });

async function refusal(p: Promise<unknown>): Promise<DomainError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DomainError);
  return e as DomainError;
}

async function expectUnauthenticated(p: Promise<unknown>, message: RegExp, token?: string) {
  const e = await refusal(p);
  expect(e.code).toBe('unauthenticated');
  expect(e.message).toMatch(message);
  if (token) expect(e.message).not.toContain(token);
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('production mode (RS256 against the cert endpoint)', () => {
  it('accepts a good token and returns uid, claims and provider', async () => {
    const token = await certs.signIdToken({ projectId, uid, claims: { admin: true, email: 'a@example.com' } });
    const user = await prodVerifier().verify(token);
    expect(user.uid).toBe(uid);
    expect(user.claims.admin).toBe(true);
    expect(user.claims.email).toBe('a@example.com');
    expect(user.signInProvider).toBe('password');
  });

  it('refuses an expired token', async () => {
    const iat = Math.floor(Date.now() / 1000) - 7200;
    const token = await certs.signIdToken({ projectId, uid, iat, expiresInSeconds: 3600 });
    await expectUnauthenticated(prodVerifier().verify(token), /ID token expired/, token);
  });

  it('refuses a token issued in the future', async () => {
    const iat = Math.floor(Date.now() / 1000) + 600;
    const token = await certs.signIdToken({ projectId, uid, iat });
    await expectUnauthenticated(prodVerifier().verify(token), /issued-at time \(iat\) is in the future/, token);
  });

  it('refuses an auth_time in the future or missing', async () => {
    const t1 = await certs.signIdToken({ projectId, uid, authTime: Math.floor(Date.now() / 1000) + 600 });
    await expectUnauthenticated(prodVerifier().verify(t1), /auth_time\) is in the future/);
    const t2 = await certs.signIdToken({ projectId, uid, claims: { auth_time: undefined } });
    await expectUnauthenticated(prodVerifier().verify(t2), /no numeric authentication time/);
  });

  it('refuses a wrong audience, naming both projects', async () => {
    const token = await certs.signIdToken({ projectId, uid, aud: 'other-project' });
    await expectUnauthenticated(
      prodVerifier().verify(token),
      /audience is "other-project", expected project "demo-iap-test"/,
      token,
    );
  });

  it('refuses a wrong issuer', async () => {
    const token = await certs.signIdToken({ projectId, uid, iss: 'https://securetoken.google.com/other-project' });
    await expectUnauthenticated(prodVerifier().verify(token), /issuer is .*other-project.*expected/, token);
  });

  it('refuses an empty sub and a sub over 128 characters', async () => {
    const empty = await certs.signIdToken({ projectId, uid, sub: '' });
    await expectUnauthenticated(prodVerifier().verify(empty), /subject \(sub\) must be a non-empty string/);
    const long = await certs.signIdToken({ projectId, uid, sub: 'x'.repeat(129) });
    await expectUnauthenticated(prodVerifier().verify(long), /longer than 128 characters/);
    const max = await certs.signIdToken({ projectId, uid, sub: 'y'.repeat(128) });
    expect((await prodVerifier().verify(max)).uid).toBe('y'.repeat(128));
  });

  it('refuses an unknown kid', async () => {
    const token = await certs.signIdToken({ projectId, uid, kid: 'not-a-google-kid' });
    await expectUnauthenticated(prodVerifier().verify(token), /kid "not-a-google-kid" is not one of Google's/, token);
  });

  it('refuses a token signed by another key', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const token = await certs.signIdToken({ projectId, uid, signingKey: privateKey });
    await expectUnauthenticated(prodVerifier().verify(token), /ID token signature is invalid/, token);
  });

  it('refuses a tampered payload', async () => {
    const token = await certs.signIdToken({ projectId, uid });
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${h}.${b64({ ...payload, sub: 'someone-else', user_id: 'someone-else' })}.${s}`;
    await expectUnauthenticated(prodVerifier().verify(tampered), /ID token signature is invalid/, tampered);
  });

  it('always refuses alg none, with a hint about FIREBASE_AUTH_EMULATOR_HOST', async () => {
    const token = emulatorIdToken({ projectId, uid });
    await expectUnauthenticated(
      prodVerifier().verify(token),
      /unsigned ID tokens are accepted only with FIREBASE_AUTH_EMULATOR_HOST/,
      token,
    );
  });

  it('refuses other algorithms and a missing kid', async () => {
    const hs = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: uid })}.c2ln`;
    await expectUnauthenticated(prodVerifier().verify(hs), /algorithm is "HS256", expected "RS256"/);
    const noKid = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub: uid })}.c2ln`;
    await expectUnauthenticated(prodVerifier().verify(noKid), /no "kid" header/);
  });

  it('refuses malformed input with a clear message', async () => {
    const v = prodVerifier();
    await expectUnauthenticated(v.verify(''), /Missing Firebase ID token/);
    await expectUnauthenticated(v.verify('abc'), /three dot-separated parts/);
    await expectUnauthenticated(v.verify('a.b.c.d'), /three dot-separated parts/);
    await expectUnauthenticated(v.verify('!!!.e30.'), /header is not base64url/);
    await expectUnauthenticated(v.verify(`${Buffer.from('nope').toString('base64url')}.e30.`), /header is not JSON/);
    await expectUnauthenticated(v.verify(`${b64([1])}.e30.`), /header is not a JSON object/);
    await expectUnauthenticated(v.verify(`${b64({ alg: 'RS256', kid: certs.kid })}..sig`), /payload is not base64url/);
    await expectUnauthenticated(v.verify(`${b64({ alg: 'RS256', kid: certs.kid })}.${b64('x')}.sig`), /payload is not a JSON object/);
    await expectUnauthenticated(v.verify(`${b64({ alg: 'RS256', kid: certs.kid })}.e30.`), /has no signature/);
    await expectUnauthenticated(v.verify(`${b64({ alg: 'RS256', kid: certs.kid })}.e30.a+b/`), /signature is not base64url/);
    await expectUnauthenticated(v.verify('x'.repeat(20_000)), /too long/);
  });
});

describe('certificate cache', () => {
  it('fetches the certs once for many verifications, including concurrent ones', async () => {
    const v = prodVerifier();
    const token = await certs.signIdToken({ projectId, uid });
    const before = certs.requests();
    await Promise.all(Array.from({ length: 10 }, () => v.verify(token)));
    for (let i = 0; i < 5; i++) await v.verify(token);
    expect(certs.requests() - before).toBe(1);
  });

  it('refetches after max-age expires', async () => {
    let clock = Date.now();
    const v = prodVerifier({ now: () => clock });
    const iat = Math.floor(clock / 1000);
    const before = certs.requests();
    await v.verify(await certs.signIdToken({ projectId, uid, iat, expiresInSeconds: 10_000 }));
    clock += 3599_000;
    await v.verify(await certs.signIdToken({ projectId, uid, iat, expiresInSeconds: 10_000 }));
    expect(certs.requests() - before).toBe(1);
    clock += 2_000; // past max-age=3600
    await v.verify(await certs.signIdToken({ projectId, uid, iat, expiresInSeconds: 10_000 }));
    expect(certs.requests() - before).toBe(2);
  });

  it('refetches once on an unknown kid (rotation), rate-limited', async () => {
    let clock = Date.now();
    const v = prodVerifier({ now: () => clock });
    const iat = Math.floor(clock / 1000);
    const before = certs.requests();
    await v.verify(await certs.signIdToken({ projectId, uid, iat, expiresInSeconds: 10_000 }));
    expect(certs.requests() - before).toBe(1);

    const unknown = await certs.signIdToken({ projectId, uid, iat, kid: 'rotated-away', expiresInSeconds: 10_000 });
    await expectUnauthenticated(v.verify(unknown), /is not one of Google's current signing keys/);
    expect(certs.requests() - before).toBe(1); // just fetched: no early refetch

    const newKid = await certs.addKey();
    const rotated = await certs.signIdToken({ projectId, uid, iat, kid: newKid, expiresInSeconds: 10_000 });
    clock += 60_000;
    expect((await v.verify(rotated)).uid).toBe(uid);
    expect(certs.requests() - before).toBe(2);

    // garbage kids right after cannot make it refetch again
    await expectUnauthenticated(v.verify(unknown), /not one of Google's/);
    await expectUnauthenticated(v.verify(unknown), /not one of Google's/);
    expect(certs.requests() - before).toBe(2);
  });

  it('reports upstream_unavailable when the cert endpoint is down or unreachable', async () => {
    const token = await certs.signIdToken({ projectId, uid });
    certs.setFailure(503);
    try {
      const e = await refusal(prodVerifier().verify(token));
      expect(e.code).toBe('upstream_unavailable');
      expect(e.options.retryAfterSeconds).toBe(5);
      expect(e.message).toMatch(/HTTP 503/);
    } finally {
      certs.setFailure(undefined);
    }

    const down = createIdTokenVerifier({ projectId, emulator: false, certsUrl: 'http://127.0.0.1:1/certs' });
    expect((await refusal(down.verify(token))).code).toBe('upstream_unavailable');

    const notJson = createIdTokenVerifier({
      projectId,
      emulator: false,
      fetch: async () => new Response('<html>', { status: 200 }),
    });
    expect((await refusal(notJson.verify(token))).code).toBe('upstream_unavailable');

    // the failure is not cached: the next call fetches again and succeeds
    const v = prodVerifier();
    certs.setFailure(500);
    expect((await refusal(v.verify(token))).code).toBe('upstream_unavailable');
    certs.setFailure(undefined);
    expect((await v.verify(token)).uid).toBe(uid);
  });

  it('parses Cache-Control max-age', () => {
    expect(parseMaxAge('public, max-age=19302, must-revalidate, no-transform')).toBe(19302);
    expect(parseMaxAge('max-age=0')).toBe(0);
    expect(parseMaxAge('no-cache')).toBe(0);
    expect(parseMaxAge('public')).toBeUndefined();
    expect(parseMaxAge(null)).toBeUndefined();
  });
});

describe('emulator mode', () => {
  const emuVerifier = () => createIdTokenVerifier({ projectId, emulator: true, certsUrl: certs.url });

  it('accepts the unsigned emulator token', async () => {
    const token = emulatorIdToken({ projectId, uid, claims: { admin: true } });
    expect(token.endsWith('.')).toBe(true);
    const [h] = token.split('.');
    expect(JSON.parse(Buffer.from(h!, 'base64url').toString())).toEqual({ alg: 'none', typ: 'JWT' });
    const user = await emuVerifier().verify(token);
    expect(user).toMatchObject({ uid, signInProvider: 'anonymous', claims: { admin: true, user_id: uid } });
  });

  it('still accepts a properly signed RS256 token', async () => {
    const token = await certs.signIdToken({ projectId, uid });
    expect((await emuVerifier().verify(token)).uid).toBe(uid);
  });

  it('refuses wrong aud, wrong iss, expired and empty-sub emulator tokens', async () => {
    const v = emuVerifier();
    await expectUnauthenticated(v.verify(emulatorIdToken({ projectId, uid, aud: 'other' })), /audience is "other"/);
    await expectUnauthenticated(
      v.verify(emulatorIdToken({ projectId, uid, iss: 'https://securetoken.google.com/other' })),
      /issuer is/,
    );
    const old = Math.floor(Date.now() / 1000) - 7200;
    await expectUnauthenticated(v.verify(emulatorIdToken({ projectId, uid, iat: old })), /ID token expired/);
    await expectUnauthenticated(v.verify(emulatorIdToken({ projectId, uid: '' })), /non-empty/);
  });

  it('refuses alg none with a non-empty signature', async () => {
    const token = `${emulatorIdToken({ projectId, uid })}c2ln`;
    await expectUnauthenticated(emuVerifier().verify(token), /must have an empty signature/);
  });
});

describe('parseBearer', () => {
  it('extracts the token, scheme case-insensitive', () => {
    expect(parseBearer('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(parseBearer('bearer abc.def.')).toBe('abc.def.');
    expect(parseBearer('BEARER   tok  ')).toBe('tok');
  });

  it('refuses missing or malformed headers', () => {
    const codeOf = (h: string | undefined) => {
      try {
        parseBearer(h);
      } catch (e) {
        return e as DomainError;
      }
      throw new Error('expected a refusal');
    };
    for (const h of [undefined, '', '   ']) {
      const e = codeOf(h);
      expect(e.code).toBe('unauthenticated');
      expect(e.message).toBe('Missing Authorization: Bearer <Firebase ID token> header');
    }
    for (const h of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'tok']) {
      const e = codeOf(h);
      expect(e.code).toBe('unauthenticated');
      expect(e.message).toMatch(/Bearer <Firebase ID token>/);
      expect(e.message).not.toContain('dXNlcjpwYXNz');
    }
  });
});
