import { errors, PlayError } from './google-errors';
import { VoidedReason, VoidedSource, type ProductRecord, type SubscriptionRecord } from './model';
import { productResource, productResourceV2 } from './product-resources';
import { reviewAnswer } from './refund-reviews';
import { subscriptionResource } from './resources';
import type { Simulator } from './sim';
import { items } from './subscription-items';
import { listVoided } from './voided';

/** What a handler answers: a JSON body, or nothing (204, like Play's empty responses). */
export type PlayReply = { status: 200; body: unknown } | { status: 204 };
type Handler = (sim: Simulator, body: Record<string, unknown>, query: URLSearchParams) => PlayReply;

/** A matched Play API route; `method` is the client's method name, used in stats. */
export interface PlayRoute {
  method: string;
  handle: Handler;
}

const ok = (body: unknown): PlayReply => ({ status: 200, body });
const empty: PlayReply = { status: 204 };

function findProduct(sim: Simulator, pkg: string, productId: string, token: string): ProductRecord {
  const rec = sim.store.get(token);
  if (!rec) throw errors.tokenNotFound();
  // Play answers 400, not 404, for a token that exists under another package, product or type.
  if (rec.type !== 'product' || rec.packageName !== pkg || rec.productId !== productId) throw errors.invalidValue();
  return rec;
}

/** productsv2 reads by token alone; a subscription token or one of another package is a 400 too. */
function findProductV2(sim: Simulator, pkg: string, token: string): ProductRecord {
  const rec = sim.store.get(token);
  if (!rec) throw errors.tokenNotFound();
  if (rec.type !== 'product' || rec.packageName !== pkg) throw errors.invalidValue();
  return rec;
}

function findSubscription(sim: Simulator, pkg: string, token: string): SubscriptionRecord {
  const rec = sim.store.get(token);
  if (!rec) throw errors.tokenNotFound();
  if (rec.type !== 'subscription' || rec.packageName !== pkg) throw errors.invalidValue();
  return rec;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** protobuf Duration JSON ("86400s", "1.5s") → ms */
function durationMs(v: unknown): number | undefined {
  const m = typeof v === 'string' ? /^(\d+)(\.\d{1,9})?s$/.exec(v) : null;
  return m ? Math.round(Number(`${m[1]}${m[2] ?? ''}`) * 1000) : undefined;
}

/** Decodes each segment, so `%3Aacknowledge` and `:acknowledge` read the same. */
function segments(pathname: string): string[] | undefined {
  try {
    return pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** Matches an `/androidpublisher/v3/applications/{pkg}/...` request to its handler. */
export function matchPlayRoute(httpMethod: string, pathname: string): PlayRoute | undefined {
  const seg = segments(pathname);
  if (!seg || seg[0] !== 'androidpublisher' || seg[1] !== 'v3' || seg[2] !== 'applications' || !seg[3]) return undefined;
  const pkg = seg[3];
  const rest = seg.slice(4);
  const last = rest.at(-1) ?? '';
  const colon = last.lastIndexOf(':');
  const action = colon >= 0 ? last.slice(colon + 1) : undefined;
  if (colon >= 0) rest[rest.length - 1] = last.slice(0, colon);
  const [a, b, c, d, e] = rest;
  const get = httpMethod === 'GET';
  const post = httpMethod === 'POST';

  if (a === 'purchases' && b === 'products' && c && d === 'tokens' && e && rest.length === 5) {
    if (get && !action) return { method: 'purchases.products.get', handle: (sim) => ok(productResource(findProduct(sim, pkg, c, e))) };
    if (post && action === 'acknowledge') {
      return {
        method: 'purchases.products.acknowledge',
        handle: (sim, body) => {
          findProduct(sim, pkg, c, e);
          sim.store.apply(e, 'acknowledge', { developerPayload: str(body.developerPayload) });
          return empty;
        },
      };
    }
    if (post && action === 'consume') {
      return {
        method: 'purchases.products.consume',
        handle: (sim) => {
          findProduct(sim, pkg, c, e);
          sim.store.apply(e, 'consume');
          return empty;
        },
      };
    }
  }

  if (a === 'purchases' && b === 'productsv2' && c === 'tokens' && d && rest.length === 4 && get && !action) {
    return { method: 'purchases.productsv2.getproductpurchasev2', handle: (sim) => ok(productResourceV2(findProductV2(sim, pkg, d))) };
  }

  if (a === 'purchases' && b === 'subscriptionsv2' && c === 'tokens' && d && rest.length === 4) {
    if (get && !action) {
      return { method: 'purchases.subscriptionsv2.get', handle: (sim) => ok(subscriptionResource(findSubscription(sim, pkg, d))) };
    }
    if (post && action === 'revoke') {
      return {
        method: 'purchases.subscriptionsv2.revoke',
        handle: (sim, body) => {
          const ctx = obj(body.revocationContext);
          const item = obj(ctx?.itemBasedRefund);
          if (!ctx || !(obj(ctx.fullRefund) || obj(ctx.proratedRefund) || item)) {
            throw errors.required('revocationContext');
          }
          const productId = item && str(item.productId);
          if (item && !productId) throw errors.required('revocationContext.itemBasedRefund.productId');
          findSubscription(sim, pkg, d);
          sim.store.apply(d, 'revoke', productId ? { refund: 'item', productId } : { refund: obj(ctx.fullRefund) ? 'full' : 'prorated' });
          return ok({});
        },
      };
    }
    if (post && action === 'cancel') {
      return {
        method: 'purchases.subscriptionsv2.cancel',
        handle: (sim, body) => {
          const type = str(obj(body.cancellationContext)?.cancellationType);
          if (!type) throw errors.required('cancellationContext.cancellationType');
          const by = { USER_REQUESTED_STOP_RENEWALS: 'user', DEVELOPER_REQUESTED_STOP_PAYMENTS: 'developer' }[type];
          if (!by) throw errors.invalidValue('cancellationContext.cancellationType');
          findSubscription(sim, pkg, d);
          sim.store.apply(d, 'cancel', { by });
          return ok({});
        },
      };
    }
    if (post && action === 'defer') {
      return {
        method: 'purchases.subscriptionsv2.defer',
        handle: (sim, body) => {
          const ctx = obj(body.deferralContext);
          const ms = durationMs(ctx?.deferDuration);
          if (!ctx || ms === undefined || ms <= 0) throw errors.required('deferralContext.deferDuration');
          const rec = findSubscription(sim, pkg, d);
          if (ctx.etag !== subscriptionResource(rec).etag) {
            throw new PlayError(409, 'concurrentUpdate', 'The etag does not match the current state of the subscription.');
          }
          const validateOnly = ctx.validateOnly === true;
          if (!validateOnly) sim.store.apply(d, 'defer', { durationMs: ms });
          // Items that no longer renew keep their expiry.
          const details = items(rec).map((i) => {
            const expiry = (i.expiryTime ?? sim.now()) + (validateOnly && i.autoRenewEnabled ? ms : 0);
            return { productId: i.productId, expiryTime: new Date(expiry).toISOString() };
          });
          return ok({ itemExpiryTimeDetails: details });
        },
      };
    }
  }

  // Legacy subscriptions.acknowledge: still the way to acknowledge a subscription.
  if (a === 'purchases' && b === 'subscriptions' && c && d === 'tokens' && e && rest.length === 5 && post && action === 'acknowledge') {
    return {
      method: 'purchases.subscriptions.acknowledge',
      handle: (sim, body) => {
        const rec = findSubscription(sim, pkg, e);
        if (rec.productId !== c) throw errors.invalidValue('subscriptionId');
        sim.store.apply(e, 'acknowledge', { developerPayload: str(body.developerPayload) });
        const ids = obj(body.externalAccountIds);
        rec.obfuscatedExternalAccountId ??= str(ids?.obfuscatedAccountId);
        rec.obfuscatedExternalProfileId ??= str(ids?.obfuscatedProfileId);
        return empty;
      },
    };
  }

  if (a === 'orders' && b && rest.length === 2 && post && action === 'refund') {
    return {
      method: 'orders.refund',
      handle: (sim, _body, query) => {
        const rec = sim.store.orderOwner(b);
        if (rec.packageName !== pkg) throw errors.orderNotFound();
        const revoke = query.get('revoke') === 'true';
        sim.store.apply(rec.token, 'refund', {
          orderId: b,
          revoke,
          voidedSource: VoidedSource.DEVELOPER,
          voidedReason: VoidedReason.OTHER,
        });
        return empty;
      },
    };
  }

  if (a === 'orders' && b && rest.length === 2 && post && action === 'reviewrefund') {
    return {
      method: 'orders.reviewrefund',
      handle: (sim, body) => {
        const rec = sim.store.orderOwner(b);
        if (rec.packageName !== pkg) throw errors.orderNotFound();
        sim.store.apply(rec.token, 'answerRefundReview', reviewAnswer(b, body));
        return empty;
      },
    };
  }

  if (a === 'purchases' && b === 'voidedpurchases' && rest.length === 2 && get && !action) {
    return {
      method: 'purchases.voidedpurchases.list',
      handle: (sim, _body, query) => ok(listVoided((q) => sim.store.listVoided(q), pkg, query, sim.now())),
    };
  }
  return undefined;
}
