import { readFileSync } from 'node:fs';
import { CatalogSchema, type Catalog } from '../../shared/catalog';

/**
 * Products of the stack's catalog (--catalog FILE, IAP_CATALOG) that the printed commands, the self
 * check and the demo buy at the simulators: the simulators sell any id, the catalog decides what it grants.
 */
export interface CatalogPicks {
  /** A non-consumable (what the quick-start curl buys) and the first entitlement it grants. */
  nonConsumable?: { productId: string; entitlement: string };
  subscription?: { productId: string; entitlement: string };
  consumable?: { productId: string; credit: string; amount: number };
}

export function readCatalog(path: string): Catalog {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`catalog ${path}: cannot read it as JSON (${(e as Error).message})`);
  }
  const parsed = CatalogSchema.safeParse(json);
  if (!parsed.success) throw new Error(`catalog ${path}: not a valid catalog (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
  return parsed.data;
}

export function pickProducts(catalog: Catalog): CatalogPicks {
  const picks: CatalogPicks = {};
  for (const [productId, p] of Object.entries(catalog.products)) {
    if (p.type === 'non_consumable' && !p.duration && !picks.nonConsumable) picks.nonConsumable = { productId, entitlement: p.entitlements[0]! };
    if (p.type === 'subscription' && !picks.subscription) picks.subscription = { productId, entitlement: p.entitlements[0]! };
    if (p.type === 'consumable' && !picks.consumable) {
      const [credit, amount] = Object.entries(p.credits)[0]!;
      picks.consumable = { productId, credit, amount };
    }
  }
  return picks;
}
