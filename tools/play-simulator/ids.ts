import { randomBytes, randomInt } from 'node:crypto';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const digits = (n: number): string => Array.from({ length: n }, () => randomInt(10)).join('');

/** Shaped like Play's: 24 lowercase letters, a dot, then a long base64url run (letters, digits, `-`, `_`). */
export function newPurchaseToken(): string {
  let head = '';
  for (let i = 0; i < 24; i++) head += LOWER[randomInt(LOWER.length)];
  return `${head}.AO-J1O${randomBytes(96).toString('base64url')}`;
}

/** `GPA.1234-5678-9012-34567`; renewals append `..0`, `..1`, ... (see renewalOrderId). */
export function newOrderId(): string {
  return `GPA.${digits(4)}-${digits(4)}-${digits(4)}-${digits(5)}`;
}

export function renewalOrderId(firstOrderId: string, renewalIndex: number): string {
  return `${firstOrderId}..${renewalIndex}`;
}

export function newAccessToken(): string {
  return `ya29.sim-${randomBytes(32).toString('base64url')}`;
}
