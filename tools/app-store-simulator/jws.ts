import { CompactSign } from 'jose';
import type { TestCa } from './ca';

/** Signs a payload as the App Store does: ES256, the certificate chain in the `x5c` header. */
export async function signJws(payload: unknown, ca: TestCa, extraHeader: Record<string, unknown> = {}): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', x5c: [...ca.x5c], ...extraHeader })
    .sign(ca.leafKey);
}

/** The JWS with its payload replaced but the original signature kept (a tampered payload). */
export function tamper(jws: string, edit: (payload: Record<string, unknown>) => void): string {
  const [header, body, signature] = jws.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(payload);
  return `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
}

/** Decodes a JWS payload WITHOUT verification (simulator and tests only). */
export const decodeJwsPayload = <T = Record<string, unknown>>(jws: string): T =>
  JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as T;
