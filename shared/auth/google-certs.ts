import { importX509, type CryptoKey } from 'jose';
import { DomainError } from '../errors';
import { log, timed } from '../log';

/**
 * Google's public signing certificates for Firebase ID tokens: a JSON map `{kid: PEM X.509}` served with
 * `Cache-Control: max-age=N`. Keys are cached until that age, concurrent callers share one fetch, and a
 * kid that is not in the cache triggers at most one early refetch per `minRefetchIntervalMs` (key rotation).
 */

export const GOOGLE_SECURETOKEN_CERTS_URL =
  'https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com';

export interface CertCacheOptions {
  url?: string;
  fetch?: typeof fetch;
  /** Clock in milliseconds. */
  now?: () => number;
  /** How long certs are kept when the response carries no usable max-age. */
  defaultMaxAgeSeconds?: number;
  /** Minimum time between two fetches forced by an unknown kid. */
  minRefetchIntervalMs?: number;
  /** Per-request timeout. */
  timeoutMs?: number;
}

export interface CertCache {
  /** The key for `kid`, or undefined when Google does not (or no longer) publish it. */
  getKey(kid: string): Promise<CryptoKey | undefined>;
}

interface Snapshot {
  keys: Map<string, CryptoKey>;
  expiresAt: number;
  fetchedAt: number;
}

const MAX_CACHE_SECONDS = 24 * 60 * 60;
const RETRY_AFTER_SECONDS = 5;

/** `max-age` in seconds from a Cache-Control header, or undefined if absent / uncacheable. */
export function parseMaxAge(cacheControl: string | null): number | undefined {
  if (!cacheControl) return undefined;
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0;
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(cacheControl);
  if (!m?.[1]) return undefined;
  return Math.min(Number(m[1]), MAX_CACHE_SECONDS);
}

function unavailable(reason: string, cause?: unknown): DomainError {
  return new DomainError(
    'upstream_unavailable',
    `Could not load Google's ID token signing certificates (${reason}); please retry later.`,
    { retryAfterSeconds: RETRY_AFTER_SECONDS, cause },
  );
}

export function createCertCache(options: CertCacheOptions = {}): CertCache {
  const url = options.url ?? GOOGLE_SECURETOKEN_CERTS_URL;
  const doFetch = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const defaultMaxAgeSeconds = options.defaultMaxAgeSeconds ?? 60;
  const minRefetchIntervalMs = options.minRefetchIntervalMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 5_000;

  let snapshot: Snapshot | undefined;
  let inFlight: Promise<Snapshot> | undefined;

  async function load(): Promise<Snapshot> {
    let res: Response;
    try {
      res = await timed('auth', 'fetchCertificates', () => doFetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) }));
    } catch (e) {
      log('WARNING', 'ID token certificate fetch failed', { url, error: String(e) });
      throw unavailable('network error', e);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      log('WARNING', 'ID token certificate fetch failed', { url, status: res.status });
      throw unavailable(`HTTP ${res.status}`);
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch (e) {
      throw unavailable('response is not JSON', e);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw unavailable('response is not a JSON object');
    }
    const keys = new Map<string, CryptoKey>();
    for (const [kid, pem] of Object.entries(body)) {
      if (typeof pem !== 'string') continue;
      try {
        keys.set(kid, await importX509(pem, 'RS256'));
      } catch (e) {
        log('WARNING', 'Skipping an unparseable ID token certificate', { kid, error: String(e) });
      }
    }
    if (keys.size === 0) throw unavailable('no usable certificate in the response');
    const fetchedAt = now();
    const maxAge = parseMaxAge(res.headers.get('cache-control')) ?? defaultMaxAgeSeconds;
    return { keys, fetchedAt, expiresAt: fetchedAt + maxAge * 1000 };
  }

  function refresh(): Promise<Snapshot> {
    if (!inFlight) {
      inFlight = load()
        .then((s) => {
          snapshot = s;
          return s;
        })
        .finally(() => {
          inFlight = undefined;
        });
    }
    return inFlight;
  }

  return {
    async getKey(kid) {
      let current = snapshot;
      if (!current || now() >= current.expiresAt) current = await refresh();
      const key = current.keys.get(kid);
      if (key) return key;
      // Possibly a freshly rotated key: refetch early, but not more often than minRefetchIntervalMs.
      if (now() - current.fetchedAt < minRefetchIntervalMs) return undefined;
      current = await refresh();
      return current.keys.get(kid);
    },
  };
}
