import * as z from '../zod';
import type { ClaimsAccount } from '../core/deliver-events';
import { countCall } from '../metrics';

/**
 * A user's custom claims through the Firebase Auth Admin REST API (Identity Toolkit v1:
 * `accounts:lookup` and `accounts:update`, where `customAttributes` is the claims as a JSON string),
 * with the function's own credentials; the Auth emulator (FIREBASE_AUTH_EMULATOR_HOST) takes
 * `Bearer owner`. Each call is bounded; a failure throws and the delivery leaves the claim pending.
 */
const LookupResponse = z.object({
  users: z.optional(z.array(z.object({ localId: z.string(), customAttributes: z.optional(z.string()) }))),
});

/** What custom claims may be: a JSON object (the Auth API stores whatever string it is given). */
const Claims = z.record(z.string(), z.unknown());

export interface ClaimsAccountOptions {
  projectId: string;
  /** host:port of the Auth emulator; unset = the real API. */
  emulatorHost?: string;
  /** An access token for the real API (google-auth-library's by default). */
  accessToken?: () => Promise<string>;
  timeoutMs?: number;
}

const SCOPES = ['https://www.googleapis.com/auth/identitytoolkit', 'https://www.googleapis.com/auth/cloud-platform'];

export function createClaimsAccount(o: ClaimsAccountOptions): ClaimsAccount {
  const base = o.emulatorHost
    ? `http://${o.emulatorHost}/identitytoolkit.googleapis.com/v1/projects/${o.projectId}`
    : `https://identitytoolkit.googleapis.com/v1/projects/${o.projectId}`;
  const timeoutMs = o.timeoutMs ?? 5_000;
  const token = o.emulatorHost ? async () => 'owner' : (o.accessToken ?? defaultAccessToken());

  async function call(method: 'lookup' | 'update', body: unknown): Promise<unknown> {
    countCall(`auth:${method}`);
    const res = await fetch(`${base}/accounts:${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Firebase Auth accounts:${method} answered ${res.status}: ${authErrorMessage(text)}`);
    return text ? JSON.parse(text) : {};
  }

  return {
    async read(uid) {
      const { users } = LookupResponse.parse(await call('lookup', { localId: [uid] }));
      const user = users?.find((u) => u.localId === uid);
      if (!user) return null;
      if (!user.customAttributes) return {};
      const parsed = Claims.safeParse(JSON.parse(user.customAttributes));
      // claims that are not an object were not set by Firebase's SDKs; writing over them would lose them
      if (!parsed.success) throw new Error('the user\'s custom claims are not a JSON object; left as they are');
      return parsed.data;
    },
    async write(uid, claims) {
      await call('update', { localId: uid, customAttributes: JSON.stringify(claims) });
    },
  };
}

/** Only the API's own error message (never the request, which names the user). */
function authErrorMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    return typeof m === 'string' ? m : 'no error message';
  } catch {
    return 'a body that is not JSON';
  }
}

/** google-auth-library's application default credentials, loaded on first use. */
function defaultAccessToken(): () => Promise<string> {
  let client: import('google-auth-library').GoogleAuth | undefined;
  return async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    client ??= new (require('google-auth-library') as typeof import('google-auth-library')).GoogleAuth({ scopes: SCOPES });
    const t = await client.getAccessToken();
    if (!t) throw new Error('no access token for the Firebase Auth API (application default credentials)');
    return t;
  };
}
