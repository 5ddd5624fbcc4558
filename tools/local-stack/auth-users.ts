import { setCustomClaims } from '../emulators/auth';

/**
 * The stack's two Auth-emulator accounts: a demo user, and a demo admin with the admin claim (what
 * refundPurchase and the support console check). Local only: fixed, printed passwords.
 */
export interface DemoAccount {
  uid: string;
  email: string;
  password: string;
}

export const DEMO_PASSWORD = 'demo-password';

export function demoAccounts(adminClaim: string): { user: DemoAccount; admin: DemoAccount & { claims: Record<string, unknown> } } {
  return {
    user: { uid: 'demo-user', email: 'demo-user@example.com', password: DEMO_PASSWORD },
    admin: { uid: 'demo-admin', email: 'demo-admin@example.com', password: DEMO_PASSWORD, claims: { [adminClaim]: true } },
  };
}

const identityToolkit = (host: string) => `http://${host}/identitytoolkit.googleapis.com/v1`;

/** Creates both accounts (the emulator takes `Bearer owner` as an admin credential, which may choose the uid). */
export async function createDemoAccounts(host: string, projectId: string, adminClaim: string) {
  const accounts = demoAccounts(adminClaim);
  for (const a of [accounts.user, accounts.admin]) {
    const res = await fetch(`${identityToolkit(host)}/projects/${projectId}/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer owner' },
      body: JSON.stringify({ localId: a.uid, email: a.email, password: a.password }),
    });
    if (!res.ok) throw new Error(`Auth emulator: creating ${a.email} failed: HTTP ${res.status} ${await res.text()}`);
  }
  await setCustomClaims(host, projectId, accounts.admin.uid, accounts.admin.claims);
  return accounts;
}

/** An ID token for the account, signed in with email and password as an app would. */
export async function signIn(host: string, a: DemoAccount): Promise<string> {
  const res = await fetch(`${identityToolkit(host)}/accounts:signInWithPassword?key=local-stack`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: a.email, password: a.password, returnSecureToken: true }),
  });
  const body = (await res.json()) as { idToken?: string; error?: { message?: string } };
  if (!res.ok || !body.idToken) throw new Error(`Auth emulator: signing in ${a.email} failed: HTTP ${res.status} ${body.error?.message ?? ''}`);
  return body.idToken;
}

/** The same sign-in as a shell line that sets VAR to a fresh ID token (tokens last an hour: run it again then). */
export function signInLine(varName: string, host: string, a: DemoAccount): string {
  const body = JSON.stringify({ email: a.email, password: a.password, returnSecureToken: true });
  return (
    `${varName}=$(curl -sf -X POST '${identityToolkit(host)}/accounts:signInWithPassword?key=local-stack' -H 'content-type: application/json' \\\n` +
    `  -d '${body}' | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).idToken')`
  );
}
