import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../../shared/config';

/**
 * The offline half of `npm run deploy -- --check`: what the functions would refuse at start, found
 * before anything is deployed. The functions' own loader (shared/config.ts) decides; nothing here
 * repeats its rules.
 */
export interface CheckedConfig {
  env: Record<string, string>;
  secrets: Record<string, string>;
  catalog: string;
}

/** Values a user must replace: YOUR_PROJECT, YOUR_KEY_ID, <issuer id>, ... */
const PLACEHOLDER = /\bYOUR_[A-Z0-9_]*|<[^<>]*>/;

/** Every string in the raw deploy.json (except `$comment`) that still holds a placeholder. */
export function placeholderProblems(raw: unknown, path: string[] = []): string[] {
  if (typeof raw === 'string') {
    const m = PLACEHOLDER.exec(raw);
    return m ? [`${path.join('.')}: still the placeholder "${m[0]}"; put your own value here`] : [];
  }
  if (raw === null || typeof raw !== 'object') return [];
  return Object.entries(raw).flatMap(([k, v]) => (k === '$comment' && path.length === 0 ? [] : placeholderProblems(v, [...path, k])));
}

/** A stand-in for a secret's value: Secret Manager holds it, so its content cannot be checked here. */
const SECRET_STAND_IN = 'secret-value-from-secret-manager';

/**
 * Runs the functions' loader on the environment a deployed function would see: `env`, the project,
 * the catalog (the local file it is copied from) and every secret present. Problems about a secret's
 * value are dropped (only the function sees it); problems about its presence stay, e.g. an
 * APPLE_PRIVATE_KEY without APPLE_ISSUER_ID and APPLE_KEY_ID.
 */
export function functionConfigProblems(config: CheckedConfig, project: string): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(config.secrets)) {
    if (name in config.env) problems.push(`${name}: both in env and in secrets; keep one`);
  }
  const secretNames = Object.keys(config.secrets);
  const env: Record<string, string> = {
    ...config.env,
    ...Object.fromEntries(secretNames.map((n) => [n, SECRET_STAND_IN])),
    GOOGLE_CLOUD_PROJECT: project,
    IAP_CATALOG: resolve(config.catalog),
    // as in Cloud Run: the loader's cloud-only guards apply
    K_SERVICE: 'deploy-check',
    FUNCTION_TARGET: 'deploy-check',
  };
  try {
    loadConfig(env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const aboutSecretValue = (p: string) => secretNames.some((n) => p.startsWith(`${n}: `));
    problems.push(...e.problems.filter((p) => !aboutSecretValue(p)).map((p) => p.replace(resolve(config.catalog), config.catalog)));
  }
  return problems;
}
