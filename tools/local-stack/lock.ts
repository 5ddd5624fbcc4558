import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One stack per state directory: `stack.lock` holds the pid of the `npm start` that owns it (and, once
 * it is up, where its parts listen). A lock whose pid is gone, or is no longer a local stack, is stale
 * and taken over. A second stack would overwrite stack.json and the simulators' keys under the first.
 */
export interface LockInfo {
  pid: number;
  startedAt: string;
  /** What runs where, once the stack is up. */
  urls?: Record<string, string>;
}

export const lockPath = (stateDir: string) => join(stateDir, 'stack.lock');

/** True when `pid` runs a local stack (its command line names start.ts). Linux reads /proc; elsewhere any live pid counts. */
export function isStackProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('local-stack/start');
  } catch {
    return true;
  }
}

export function readLock(stateDir: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(lockPath(stateDir), 'utf8')) as LockInfo;
    return Number.isInteger(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock, or returns the live owner. A stale or unreadable lock is replaced. */
export function acquireLock(stateDir: string): { ok: true } | { ok: false; owner: LockInfo } {
  const mine: LockInfo = { pid: process.pid, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(lockPath(stateDir), `${JSON.stringify(mine)}\n`, { flag: 'wx' });
      return { ok: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = readLock(stateDir);
    if (owner && owner.pid !== process.pid && isStackProcess(owner.pid)) return { ok: false, owner };
    try {
      unlinkSync(lockPath(stateDir)); // stale: its owner is gone
    } catch {
      /* another start removed it first */
    }
  }
  throw new Error(`could not take ${lockPath(stateDir)}: it keeps changing (another npm start?)`);
}

/** Adds where the parts listen, for a second start to report. Only while we own the lock. */
export function updateLock(stateDir: string, urls: Record<string, string>): void {
  const current = readLock(stateDir);
  if (current?.pid !== process.pid) return;
  writeFileSync(lockPath(stateDir), `${JSON.stringify({ ...current, urls })}\n`);
}

/** Removes the lock if it is ours. Synchronous (runs on process exit). */
export function releaseLock(stateDir: string): void {
  if (readLock(stateDir)?.pid !== process.pid) return;
  try {
    unlinkSync(lockPath(stateDir));
  } catch {
    /* gone */
  }
}

/** --force: SIGTERM to the running stack, then wait until it exited (it stops its own processes). */
export async function stopOwner(owner: LockInfo, timeoutMs = 30_000): Promise<boolean> {
  try {
    process.kill(owner.pid, 'SIGTERM');
  } catch {
    return true;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isStackProcess(owner.pid)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
