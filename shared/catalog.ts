import * as z from './zod';
import { DomainError } from './errors';
import { isDuration } from './model/duration';

/** The product catalog (IAP_CATALOG): which store products exist and what each one grants. */
const idPattern = /^[A-Za-z0-9._-]{1,150}$/;

const entitlements = z.array(z.string().check(z.regex(idPattern, 'entitlement ids are letters, digits, . _ -'))).check(z.minLength(1));
const credits = z
  .record(z.string().check(z.regex(idPattern)), z.int().check(z.positive()))
  .check(z.refine((c) => Object.keys(c).length > 0, 'credits must name at least one balance'));

export const CatalogProductSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('subscription'), entitlements }),
  z.strictObject({
    type: z.literal('non_consumable'),
    entitlements,
    /** Access lasts this long (ISO 8601, e.g. P30D) from purchase completion: a Play rental. */
    duration: z.optional(z.string().check(z.refine(isDuration, 'duration must be an ISO 8601 duration such as P30D, P1M or P1Y'))),
  }),
  z.strictObject({ type: z.literal('consumable'), credits }),
  z.strictObject({
    /** An App Store Non-Renewing Subscription (a pass): access for `duration` from its purchase date, stacked. */
    type: z.literal('non_renewing_subscription'),
    entitlements,
    duration: z.string().check(z.refine(isDuration, 'duration must be an ISO 8601 duration such as P30D, P1M or P1Y')),
  }),
]);
export type CatalogProduct = z.infer<typeof CatalogProductSchema>;

export const CatalogSchema = z.strictObject({
  products: z.record(z.string().check(z.regex(idPattern, 'product ids are letters, digits, . _ -')), CatalogProductSchema),
});
export type Catalog = z.infer<typeof CatalogSchema>;

export function findProduct(catalog: Catalog, productId: string): CatalogProduct {
  const product = Object.hasOwn(catalog.products, productId) ? catalog.products[productId] : undefined;
  if (!product) {
    throw new DomainError('unknown_product', `Product "${productId}" is not in the catalog; nothing can be granted for it.`);
  }
  return product;
}
