import { compactVerify, errors as joseErrors } from 'jose';
import { DomainError, isDomainError } from '../errors';
import { timed } from '../log';
import { createCertCache, GOOGLE_SECURETOKEN_CERTS_URL } from './google-certs';

/**
 * Firebase ID token verification without firebase-admin (the rules of firebase-admin's token verifier):
 * RS256 signed by one of Google's securetoken certs, `aud` = project, `iss` = securetoken/<project>,
 * `exp` future, `iat` and `auth_time` past, `sub` non-empty and at most 128 characters.
 *
 * With `emulator: true` (only when FIREBASE_AUTH_EMULATOR_HOST is set) unsigned Auth-emulator tokens
 * (`alg: none`, empty signature) are accepted too; their claims are still checked. Signed RS256 tokens
 * are verified the normal way in both modes. Error messages never include the token.
 */

export interface VerifiedUser {
  uid: string;
  claims: Record<string, unknown>;
  signInProvider?: string;
}

export interface IdTokenVerifierOptions {
  projectId: string;
  /** True only when FIREBASE_AUTH_EMULATOR_HOST is set. */
  emulator: boolean;
  certsUrl?: string;
  fetch?: typeof fetch;
  /** Clock in milliseconds. */
  now?: () => number;
  clockToleranceSeconds?: number;
}

export interface IdTokenVerifier {
  verify(idToken: string): Promise<VerifiedUser>;
}

const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_UID_LENGTH = 128;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

const unauthenticated = (message: string) => new DomainError('unauthenticated', message);

/** A claim value for an error message: JSON, shortened. Never used for the token or signature. */
function show(value: unknown): string {
  const s = value === undefined ? 'missing' : JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function decodeJsonPart(part: string, what: 'header' | 'payload'): Record<string, unknown> {
  if (!BASE64URL.test(part)) throw unauthenticated(`ID token is malformed: the ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw unauthenticated(`ID token is malformed: the ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw unauthenticated(`ID token is malformed: the ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Extracts the token from `Authorization: Bearer <token>` (scheme case-insensitive). */
export function parseBearer(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw unauthenticated('Missing Authorization: Bearer <Firebase ID token> header');
  }
  const m = /^\s*Bearer[ \t]+(\S+)\s*$/i.exec(header);
  if (!m?.[1]) {
    throw unauthenticated('Authorization header must be "Bearer <Firebase ID token>"');
  }
  return m[1];
}

export function createIdTokenVerifier(options: IdTokenVerifierOptions): IdTokenVerifier {
  const { projectId, emulator } = options;
  if (!projectId) throw new Error('createIdTokenVerifier: projectId is required');
  const now = options.now ?? Date.now;
  const tolerance = options.clockToleranceSeconds ?? 5;
  const expectedIssuer = `https://securetoken.google.com/${projectId}`;
  const certs = createCertCache({
    url: options.certsUrl ?? GOOGLE_SECURETOKEN_CERTS_URL,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    now,
  });

  function checkClaims(payload: Record<string, unknown>): VerifiedUser {
    const { aud, iss, sub, exp, iat, auth_time: authTime } = payload;
    if (aud !== projectId) {
      throw unauthenticated(
        `ID token audience is ${show(aud)}, expected project "${projectId}"; ` +
          'make sure the token comes from the same Firebase project as this deployment',
      );
    }
    if (iss !== expectedIssuer) {
      throw unauthenticated(`ID token issuer is ${show(iss)}, expected "${expectedIssuer}"`);
    }
    if (typeof sub !== 'string' || sub === '') {
      throw unauthenticated('ID token subject (sub) must be a non-empty string');
    }
    if (sub.length > MAX_UID_LENGTH) {
      throw unauthenticated(`ID token subject (sub) is longer than ${MAX_UID_LENGTH} characters`);
    }
    const nowSeconds = now() / 1000;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) {
      throw unauthenticated('ID token has no numeric expiry (exp)');
    }
    if (exp <= nowSeconds - tolerance) {
      throw unauthenticated('ID token expired; get a fresh one from the Firebase client SDK (getIdToken) and retry');
    }
    if (typeof iat !== 'number' || !Number.isFinite(iat)) {
      throw unauthenticated('ID token has no numeric issued-at time (iat)');
    }
    if (iat > nowSeconds + tolerance) {
      throw unauthenticated('ID token issued-at time (iat) is in the future; check the server clock');
    }
    if (typeof authTime !== 'number' || !Number.isFinite(authTime)) {
      throw unauthenticated('ID token has no numeric authentication time (auth_time)');
    }
    if (authTime > nowSeconds + tolerance) {
      throw unauthenticated('ID token authentication time (auth_time) is in the future');
    }
    const firebase = payload.firebase;
    const provider =
      typeof firebase === 'object' && firebase !== null
        ? (firebase as Record<string, unknown>).sign_in_provider
        : undefined;
    return {
      uid: sub,
      claims: payload,
      ...(typeof provider === 'string' ? { signInProvider: provider } : {}),
    };
  }

  return {
    verify: (idToken) => timed('auth', 'verifyIdToken', () => verify(idToken), (e) => (isDomainError(e) ? e.code : 'error')),
  };

  async function verify(idToken: string): Promise<VerifiedUser> {
    if (typeof idToken !== 'string' || idToken === '') throw unauthenticated('Missing Firebase ID token');
    if (idToken.length > MAX_TOKEN_LENGTH) throw unauthenticated('ID token is malformed: too long');
    const parts = idToken.split('.');
    if (parts.length !== 3) {
      throw unauthenticated('ID token is malformed: expected a JWT of three dot-separated parts');
    }
    const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
    const header = decodeJsonPart(headerPart, 'header');
    const payload = decodeJsonPart(payloadPart, 'payload');

    if (header.alg === 'none') {
      if (!emulator) {
        throw unauthenticated(
          'ID token is unsigned (alg "none"); unsigned ID tokens are accepted only with FIREBASE_AUTH_EMULATOR_HOST',
        );
      }
      if (signaturePart !== '') throw unauthenticated('Unsigned (alg "none") ID token must have an empty signature');
      return checkClaims(payload);
    }

    if (header.alg !== 'RS256') throw unauthenticated(`ID token algorithm is ${show(header.alg)}, expected "RS256"`);
    if (typeof header.kid !== 'string' || header.kid === '') throw unauthenticated('ID token has no "kid" header');
    if (signaturePart === '') throw unauthenticated('ID token is malformed: it has no signature');
    if (!BASE64URL.test(signaturePart)) throw unauthenticated('ID token is malformed: the signature is not base64url');

    const key = await certs.getKey(header.kid);
    if (!key) {
      throw unauthenticated(
        `ID token kid ${show(header.kid)} is not one of Google's current signing keys; ` +
          'it is not a Firebase ID token, or it is too old',
      );
    }
    try {
      await compactVerify(idToken, key, { algorithms: ['RS256'] });
    } catch (e) {
      if (e instanceof joseErrors.JWSSignatureVerificationFailed) {
        throw unauthenticated('ID token signature is invalid');
      }
      throw unauthenticated('ID token is malformed: it could not be verified');
    }
    return checkClaims(payload);
  }
}
