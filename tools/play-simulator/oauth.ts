import { verify, type KeyObject } from 'node:crypto';
import { errors, type PlayError } from './google-errors';
import { newAccessToken } from './ids';

export const GOOGLE_TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token';
export const PLAY_SCOPE = 'https://www.googleapis.com/auth/androidpublisher';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const MAX_LIFETIME_S = 3600;
const CLOCK_SKEW_S = 300;

type TokenReply = { status: number; body: Record<string, unknown> };
const refuse = (error: string, description: string): TokenReply => ({
  status: 400,
  body: { error, error_description: description },
});

function decodePart(part: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The service-account JWT bearer exchange of oauth2.googleapis.com, and the bearer check of API calls.
 * Times here are wall-clock (Date.now), not the simulated clock: the client signs its assertion and
 * caches its access token by real time, so advancing the purchase clock must not invalidate them.
 */
export class OAuthService {
  /** access token → expiry (ms, wall clock) */
  private tokens = new Map<string, number>();

  constructor(
    private readonly account: { clientEmail: string; publicKey: KeyObject },
    private readonly ttlSeconds: number,
    /** google-auth-library always uses Google's URL as aud; other clients use the key's token_uri. */
    private readonly audiences: string[],
  ) {}

  exchange(form: URLSearchParams): TokenReply {
    if (form.get('grant_type') !== JWT_BEARER) {
      return refuse('unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
    }
    const assertion = form.get('assertion');
    if (!assertion) return refuse('invalid_request', 'Missing required parameter: assertion');
    const problem = this.checkAssertion(assertion);
    if (problem) return problem;
    const token = newAccessToken();
    this.tokens.set(token, Date.now() + this.ttlSeconds * 1000);
    return { status: 200, body: { access_token: token, expires_in: this.ttlSeconds, token_type: 'Bearer' } };
  }

  /** undefined when the Authorization header carries a live token this simulator issued. */
  check(authorization: string | undefined): PlayError | undefined {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match?.[1]) return errors.loginRequired();
    const expiry = this.tokens.get(match[1]);
    if (expiry === undefined || expiry <= Date.now()) return errors.invalidCredentials();
    return undefined;
  }

  private checkAssertion(assertion: string): TokenReply | undefined {
    const [h, p, s] = assertion.split('.');
    const header = decodePart(h);
    const claims = decodePart(p);
    if (!header || !claims || s === undefined) return refuse('invalid_grant', 'Invalid JWT: malformed assertion.');
    if (claims.iss !== this.account.clientEmail) return refuse('invalid_grant', 'Invalid grant: account not found');
    const signed = header.alg === 'RS256' && verify('sha256', Buffer.from(`${h}.${p}`), this.account.publicKey, Buffer.from(s, 'base64url'));
    if (!signed) return refuse('invalid_grant', 'Invalid JWT Signature.');
    if (typeof claims.aud !== 'string' || !this.audiences.includes(claims.aud)) {
      return refuse('invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${GOOGLE_TOKEN_AUDIENCE}`);
    }
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || typeof exp !== 'number' || exp <= now || iat > now + CLOCK_SKEW_S || exp - iat > MAX_LIFETIME_S) {
      return refuse(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(/\s+/) : [];
    if (!scopes.includes(PLAY_SCOPE)) return refuse('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    return undefined;
  }
}
