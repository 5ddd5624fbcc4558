import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';

/**
 * Structured JSON logs in Cloud Logging's format (one line per entry, `severity` + `message`).
 * Secrets never reach this module raw: callers pass `fingerprint(token)` instead of a token.
 */
export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
const RANK: Record<Severity, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };

function threshold(): number {
  const level = (process.env.LOG_LEVEL ?? 'INFO').toUpperCase();
  return level in RANK ? RANK[level as Severity] : RANK.INFO;
}

/** Fields every line of the current request or event carries (trace, execution id, function label). */
const context = new AsyncLocalStorage<Record<string, unknown>>();

export function withLogContext<T>(fields: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
  return context.run(fields, fn);
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
