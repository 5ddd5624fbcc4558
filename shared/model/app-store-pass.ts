import { AppStoreProductType } from '../app-store/transaction';
import type { CatalogProduct } from '../catalog';
import { addDuration, parseDuration, type Duration } from './duration';

/**
 * Non-renewing subscriptions ("passes"): each one grants its catalog `duration`, counted from its
 * purchase date. Passes of the same user and entitlement stack: each starts at the later of its own
 * purchase date and the end of the pass bought before it, so buying a second 30-day pass on day 10
 * gives access until day 60. Pure: the caller says which passes count (see shared/app-store/passes.ts).
 */
export interface PassWindow {
  startsAt: Date;
  endsAt: Date;
}

/** Per entitlement: each has its own chain of passes. */
export type PassWindows = Record<string, PassWindow>;

/** One pass as the stacking rule needs it. */
export interface PassPurchase {
  /** The originalTransactionId (each pass is its own purchase at Apple). */
  id: string;
  purchasedAt: Date;
  duration: Duration;
  entitlements: readonly string[];
}

/**
 * The duration a purchase of `product` grants, when it is a pass: a `non_renewing_subscription`, or
 * (older catalogs) a `non_consumable` with a `duration` that the App Store sold as a Non-Renewing
 * Subscription. null = not a pass (a `non_consumable` without duration stays lifetime, as before).
 */
export function passDuration(product: CatalogProduct, appleType: string): Duration | null {
  if (appleType !== AppStoreProductType.NON_RENEWING) return null;
  if (product.type === 'non_renewing_subscription') return parseDuration(product.duration);
  if (product.type === 'non_consumable' && product.duration) return parseDuration(product.duration);
  return null;
}

/** A pass on its own: from its purchase date, for every entitlement. */
export function ownWindows(pass: PassPurchase): PassWindows {
  const window = { startsAt: pass.purchasedAt, endsAt: addDuration(pass.purchasedAt, pass.duration) };
  return Object.fromEntries(pass.entitlements.map((e) => [e, window]));
}

/**
 * The windows of pass `id` among `passes` (which must include it): per entitlement, the passes that
 * grant it in purchase order (ties by id), each from max(its purchase date, the previous end). Only
 * earlier passes matter, so buying another pass later never moves this one.
 */
export function stackedWindows(passes: readonly PassPurchase[], id: string): PassWindows {
  const self = passes.find((p) => p.id === id);
  if (!self) throw new Error(`stackedWindows: pass ${id} is not among the passes`);
  const ordered = [...passes].sort(byPurchase);
  const out: PassWindows = {};
  for (const entitlement of self.entitlements) {
    let end = Number.NEGATIVE_INFINITY;
    for (const p of ordered) {
      if (!p.entitlements.includes(entitlement)) continue;
      const start = new Date(Math.max(p.purchasedAt.getTime(), end));
      const window = { startsAt: start, endsAt: addDuration(start, p.duration) };
      end = window.endsAt.getTime();
      if (p.id === id) {
        out[entitlement] = window;
        break;
      }
    }
  }
  return out;
}

/** The latest end over the windows (what the purchase's `expiresAt` shows). */
export const lastEnd = (w: PassWindows): Date | null => {
  const ends = Object.values(w).map((x) => x.endsAt.getTime());
  return ends.length === 0 ? null : new Date(Math.max(...ends));
};

const byPurchase = (a: PassPurchase, b: PassPurchase): number =>
  a.purchasedAt.getTime() - b.purchasedAt.getTime() || compareIds(a.id, b.id);

/** Apple's ids are decimal strings: numeric order, whatever their length. */
const compareIds = (a: string, b: string): number => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
