import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, lockPath, releaseLock, stopOwner } from '../../tools/local-stack/lock';

/** The state directory's lock: one npm start per directory; a dead or foreign pid is stale. */
const dir = () => mkdtempSync(join(tmpdir(), 'stack-lock-'));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

/** A process whose command line looks like a running local stack (it exits on SIGTERM, as the stack does). */
async function fakeStack(): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => process.exit(0)); console.log('up'); setInterval(() => {}, 1000)", 'tools/local-stack/start.ts'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(c);
  await new Promise((r) => c.stdout!.once('data', r));
  return c;
}

const write = (d: string, pid: number) => writeFileSync(lockPath(d), JSON.stringify({ pid, startedAt: 'then' }));

describe('local stack lock', () => {
  it('takes a free directory, and releases only its own lock', () => {
    const d = dir();
    expect(acquireLock(d)).toEqual({ ok: true });
    expect(JSON.parse(readFileSync(lockPath(d), 'utf8')).pid).toBe(process.pid);
    releaseLock(d);
    write(d, 12345678);
    releaseLock(d); // not ours: stays
    expect(JSON.parse(readFileSync(lockPath(d), 'utf8')).pid).toBe(12345678);
  });

  it('refuses while another local stack holds it, naming its pid', async () => {
    const d = dir();
    const other = await fakeStack();
    write(d, other.pid!);
    expect(acquireLock(d)).toMatchObject({ ok: false, owner: { pid: other.pid } });
  });

  it('takes over a stale lock: a dead pid, a pid that is no local stack, garbage', () => {
    for (const content of [JSON.stringify({ pid: 2 ** 22 + 7, startedAt: 'x' }), JSON.stringify({ pid: process.ppid, startedAt: 'x' }), 'not json']) {
      const d = dir();
      writeFileSync(lockPath(d), content);
      expect(acquireLock(d)).toEqual({ ok: true });
      expect(JSON.parse(readFileSync(lockPath(d), 'utf8')).pid).toBe(process.pid);
    }
  });

  it('--force: stopOwner stops the running stack, then the lock can be taken', async () => {
    const d = dir();
    const other = await fakeStack();
    write(d, other.pid!);
    const exited = new Promise((r) => other.once('exit', r));
    expect(await stopOwner({ pid: other.pid!, startedAt: 'then' }, 5000)).toBe(true);
    await exited;
    expect(acquireLock(d)).toEqual({ ok: true });
  });
});
