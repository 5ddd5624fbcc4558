import { DomainError } from '../errors';
import type { VerifiedUser } from './id-token';

/** Admins carry a custom claim (IAP_ADMIN_CLAIM, default `admin`) that must be exactly `true`. */
export function requireAdmin(user: VerifiedUser, claim: string): { uid: string; email: string | null } {
  if (user.claims[claim] !== true) {
    throw new DomainError('permission_denied', `This action needs an admin: the ID token lacks the custom claim "${claim}": true.`);
  }
  const email = user.claims.email;
  return { uid: user.uid, email: typeof email === 'string' ? email : null };
}
