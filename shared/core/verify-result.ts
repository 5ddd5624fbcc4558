import type { CatalogProduct } from '../catalog';
import type { EntitlementView } from '../model/entitlements';
import type { Platform } from '../store/purchase-record';

/** What verifyPurchase answers, whichever store: the purchase and the caller's resulting entitlements. */
export interface VerifyResult<P extends Platform = Platform> {
  purchase: {
    id: string;
    platform: P;
    packageName: string;
    productId: string;
    productType: CatalogProduct['type'];
    state: string;
    active: boolean;
    expiresAt: Date | null;
    orderId: string | null;
    test: boolean;
    acknowledged: boolean;
    consumed: boolean;
    quantity: number;
    /** App Store only */
    environment?: string;
    familyShared?: boolean;
  };
  entitlements: Record<string, EntitlementView>;
  balances: Record<string, number>;
  /** Google Play: whether Play was read (`play`) or the stored state was current enough (`store`). */
  source?: 'play' | 'store';
}
