import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, createHmac } from 'node:crypto';

/**
 * Structured JSON logs in Cloud Logging's format (one line per entry, `severity` + `message`).
 * Secrets never reach this module raw: callers pass `fingerprint(token)` instead of a token, and a
 * user is named by `uidHash` (a keyed hash) unless LOG_USER_IDS=true. Format: docs/logging.md.
 */
export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
const RANK: Record<Severity, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };

function threshold(): number {
  const level = (process.env.LOG_LEVEL ?? 'INFO').toUpperCase();
  return level in RANK ? RANK[level as Severity] : RANK.INFO;
}

export const debugEnabled = (): boolean => threshold() === RANK.DEBUG;

/** Fields every line of the current request or event carries (trace, execution id, function label, user). */
const context = new AsyncLocalStorage<Record<string, unknown>>();

export function withLogContext<T>(fields: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
  return context.run({ ...fields }, fn);
}

/** A nested scope (one purchase of a sweep, one user's delivery): what is set in it stays in it. */
export function withLogScope<T>(fn: () => Promise<T>): Promise<T> {
  return context.run({ ...context.getStore() }, fn);
}

export function log(severity: Severity, message: string, fields: Record<string, unknown> = {}): void {
  if (RANK[severity] < threshold()) return;
  const line = JSON.stringify({ severity, message, time: new Date().toISOString(), ...context.getStore(), ...fields });
  (severity === 'ERROR' || severity === 'WARNING' ? process.stderr : process.stdout).write(line + '\n');
}

/** A short, stable, non-reversible tag for a secret (purchase token, ID token) fit for logs. */
export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 12);
}

/** How users are named in logs: LOG_HASH_KEY (else the project id, so every instance agrees); LOG_USER_IDS. */
export interface UserLogSettings {
  hashKey: string;
  userIds: boolean;
}

export function userLogSettingsFrom(env: NodeJS.ProcessEnv): UserLogSettings {
  return { hashKey: env.LOG_HASH_KEY || env.GOOGLE_CLOUD_PROJECT || '', userIds: env.LOG_USER_IDS === 'true' };
}

let settings: UserLogSettings | undefined;

/** Set once from the validated config; until then (tools, tests) read from the environment. */
export function configureUserLogs(s: UserLogSettings): void {
  settings = s;
}

/** HMAC-SHA256 of the uid, 16 hex characters: stable per user and key, not reversible without the key. */
export function uidHash(uid: string, key: string = (settings ??= userLogSettingsFrom(process.env)).hashKey): string {
  return createHmac('sha256', key).update(uid).digest('hex').slice(0, 16);
}

function userFields(uid: string, prefix: '' | 'admin'): Record<string, string> {
  const s = (settings ??= userLogSettingsFrom(process.env));
  const hash = uidHash(uid, s.hashKey);
  if (prefix === '') return s.userIds ? { uidHash: hash, uid } : { uidHash: hash };
  return s.userIds ? { adminUidHash: hash, adminUid: uid } : { adminUidHash: hash };
}

/** Who the current request or event is about, set where the code learns it. */
export const logContext = {
  /** The user whose purchase or access this is: every later line of the scope carries `uidHash`. */
  setUser(uid: string | null | undefined): void {
    const store = context.getStore();
    if (store && uid) Object.assign(store, userFields(uid, ''));
  },
  /** The admin acting (refundPurchase): `adminUidHash`. */
  setAdmin(uid: string): void {
    const store = context.getStore();
    if (store) Object.assign(store, userFields(uid, 'admin'));
  },
  /** `fn` about one user, in its own scope (a sweep or delivery that goes through several users). */
  withUser<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    return withLogScope(() => {
      logContext.setUser(uid);
      return fn();
    });
  },
};

/**
 * One call to a store (Play, App Store, Firestore, Pub/Sub, Auth) as a DEBUG line with its duration and
 * outcome. With DEBUG off it is the call itself, after one level check. `statusOf` names a failure
 * (an HTTP status, a gRPC code), never its message: messages may quote what was sent.
 */
export function timed<T>(kind: string, op: string, work: () => Promise<T>, statusOf: (e: unknown) => unknown = defaultStatus): Promise<T> {
  if (!debugEnabled()) return work();
  const started = performance.now();
  const done = (outcome: 'ok' | 'error', extra: Record<string, unknown> = {}) =>
    log('DEBUG', 'store call', { kind, op, durationMs: Math.round((performance.now() - started) * 10) / 10, outcome, ...extra });
  return work().then(
    (r) => {
      done('ok');
      return r;
    },
    (e: unknown) => {
      done('error', { status: statusOf(e) ?? null });
      throw e;
    },
  );
}

function defaultStatus(e: unknown): unknown {
  const x = e as { code?: unknown; status?: unknown; httpStatusCode?: unknown; response?: { status?: unknown } } | null;
  return x?.response?.status ?? x?.httpStatusCode ?? x?.status ?? x?.code ?? (e as Error)?.name;
}
