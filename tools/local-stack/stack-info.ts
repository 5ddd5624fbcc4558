import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** `STATE_DIR/stack.json`: where the running stack's parts listen (ports may have moved), for the scripts. */
export interface StackInfo {
  pid: number;
  projectId: string;
  firestoreHost: string;
  pubsubHost: string | null;
  authEmulatorHost: string | null;
  simUrl: string;
  appStoreSimUrl: string | null;
  consoleUrl: string | null;
  catalog: string;
  playPackage: string;
  appleBundleId: string | null;
  accounts: { user: { uid: string; email: string; password: string }; admin: { uid: string; email: string; password: string } } | null;
  functions: Record<string, string>;
}

export const DEFAULT_STATE_DIR = resolve(__dirname, '../../.local');

/** `--state-dir DIR` of the scripts (default .local/ of the repository). */
export function stateDirFrom(arg: string | undefined): string {
  return arg ? resolve(arg) : DEFAULT_STATE_DIR;
}

export function readStackInfo(stateDir: string): StackInfo | undefined {
  const file = join(stateDir, 'stack.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as StackInfo;
}
