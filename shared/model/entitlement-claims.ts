/**
 * The entitlements custom claim: `{ "<entitlementId>": <expiresAt in epoch seconds, 0 = lifetime> }`
 * for the active ones, merged into the user's other custom claims. Pure. Because each value is an
 * expiry, rules can check it against request.time: a claim never grants past its end, however old
 * the app's ID token. Docs: docs/entitlement-events.md.
 */
export interface ClaimSource {
  active: boolean;
  expiresAt: Date | null;
}

/** Firebase's limit on a user's custom claims (their JSON). */
export const CLAIMS_LIMIT_BYTES = 1000;

export function entitlementClaim(entitlements: Record<string, ClaimSource>, now: Date): Record<string, number> {
  const claim: Record<string, number> = {};
  for (const id of Object.keys(entitlements).sort()) {
    const e = entitlements[id]!;
    if (!e.active || (e.expiresAt !== null && e.expiresAt <= now)) continue;
    claim[id] = e.expiresAt === null ? 0 : Math.ceil(e.expiresAt.getTime() / 1000);
  }
  return claim;
}

/**
 * The user's custom claims with `key` set to `claim` (removed when empty), every other key kept. When
 * they would pass the limit, the entitlements that last longest are kept (lifetime first, then the
 * latest expiry, then by id) and the rest are `dropped`.
 */
export function mergeClaims(
  existing: Record<string, unknown>,
  key: string,
  claim: Record<string, number>,
  limit = CLAIMS_LIMIT_BYTES,
): { claims: Record<string, unknown>; dropped: string[] } {
  const others = Object.fromEntries(Object.entries(existing).filter(([k]) => k !== key));
  const ranked = Object.entries(claim).sort(([ia, a], [ib, b]) => rank(b) - rank(a) || (ia < ib ? -1 : 1));
  const dropped: string[] = [];
  while (ranked.length > 0) {
    const claims = { ...others, [key]: Object.fromEntries(ranked) };
    if (Buffer.byteLength(JSON.stringify(claims)) <= limit) return { claims, dropped };
    dropped.push(ranked.pop()![0]);
  }
  return { claims: others, dropped };
}

const rank = (expiresAt: number): number => (expiresAt === 0 ? Number.POSITIVE_INFINITY : expiresAt);

/** Whether the key's value already is `claim` (nothing to write). */
export function claimUnchanged(existing: Record<string, unknown>, key: string, claim: Record<string, number>): boolean {
  const held = existing[key];
  if (Object.keys(claim).length === 0) return held === undefined;
  if (!held || typeof held !== 'object') return false;
  const sorted = (o: object) => JSON.stringify(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  return sorted(held) === sorted(claim);
}
