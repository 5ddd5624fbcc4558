import { collection, onSnapshot, type Firestore, type Timestamp, type Unsubscribe } from 'firebase/firestore';

/** users/{uid}/entitlements/{id} as the server writes it (CONTRACT section 3); read-only for apps. */
export interface Entitlement {
  id: string;
  active: boolean;
  /** null = lifetime */
  expiresAt: Date | null;
  productId: string;
  state: string;
  updatedAt: Date | null;
}

const toDate = (t: unknown): Date | null => (t && typeof (t as Timestamp).toDate === 'function' ? (t as Timestamp).toDate() : null);

/**
 * Calls `onChange` with all of the user's entitlements now and after every change the server makes
 * (a verification, a renewal, a refund). This listener, not the verifyPurchase answer, is what the app
 * should unlock features from: it also sees pending purchases completing and refunds.
 */
export function watchEntitlements(
  db: Firestore,
  uid: string,
  onChange: (entitlements: Record<string, Entitlement>) => void,
  onError: (e: Error) => void = (e) => console.error('entitlements listener failed', e),
): Unsubscribe {
  return onSnapshot(
    collection(db, 'users', uid, 'entitlements'),
    (snap) => {
      const all: Record<string, Entitlement> = {};
      for (const d of snap.docs) {
        const x = d.data();
        all[d.id] = {
          id: d.id,
          active: x.active === true,
          expiresAt: toDate(x.expiresAt),
          productId: String(x.productId ?? ''),
          state: String(x.state ?? ''),
          updatedAt: toDate(x.updatedAt),
        };
      }
      onChange(all);
    },
    onError,
  );
}

/** Access now: active, and not past its expiry (guards a device whose listener is offline). */
export const hasAccess = (e: Entitlement | undefined, now = new Date()): boolean =>
  !!e?.active && (e.expiresAt === null || e.expiresAt > now);
