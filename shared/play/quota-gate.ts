/**
 * Play's quota is counted per project (3,000 queries a minute per bucket), so once Play has answered
 * 429 every further call from this instance would only spend quota on more refusals. The gate holds
 * the instance's Play calls until Play's Retry-After has passed or, when Play gives none (whether it
 * does is unconfirmed), until an exponential backoff of its own has: held calls answer 503 with
 * Retry-After at once instead of hammering. A success resets the backoff.
 */
export interface QuotaGate {
  /** Milliseconds until calls may go out again; 0 when open. */
  heldForMs(): number;
  /** Records a 429 and closes the gate; `retryAfterMs` is Play's Retry-After when it sent one. Returns the hold. */
  refused(retryAfterMs: number | undefined): number;
  succeeded(): void;
}

export interface QuotaGateOptions {
  /** First hold when Play sends no Retry-After; doubles with each 429 in a row. */
  baseHoldMs?: number;
  maxHoldMs?: number;
  /** Play's Retry-After is honoured up to this, so that a bogus value cannot silence an instance for good. */
  maxRetryAfterMs?: number;
  now?: () => number;
}

export function createQuotaGate(opts: QuotaGateOptions = {}): QuotaGate {
  const base = opts.baseHoldMs ?? 1_000;
  const max = opts.maxHoldMs ?? 60_000;
  const maxRetryAfter = opts.maxRetryAfterMs ?? 15 * 60_000;
  const now = opts.now ?? Date.now;
  let openAt = 0;
  let strikes = 0;
  return {
    heldForMs: () => Math.max(0, openAt - now()),
    refused(retryAfterMs) {
      strikes++;
      const hold = retryAfterMs !== undefined ? Math.min(maxRetryAfter, retryAfterMs) : Math.min(max, base * 2 ** (strikes - 1));
      openAt = Math.max(openAt, now() + hold);
      return openAt - now();
    },
    succeeded() {
      strikes = 0;
    },
  };
}

/** Retry-After in seconds or as an HTTP date (RFC 9110), from a Headers object or a plain header map. */
export function parseRetryAfter(headers: unknown, now = Date.now()): number | undefined {
  const raw =
    headers && typeof (headers as { get?: unknown }).get === 'function'
      ? (headers as { get(name: string): string | null }).get('retry-after')
      : (headers as Record<string, unknown> | undefined)?.['retry-after'];
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000;
  if (!/GMT$/.test(raw.trim())) return undefined; // an IMF-fixdate, or nothing we read
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
