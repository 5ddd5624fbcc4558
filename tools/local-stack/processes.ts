import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * Child processes in their own process group (detached): a Ctrl-C in the terminal does not reach
 * them directly, and stopping the group also stops what they started (the gcloud wrapper's java).
 * Never stopped by name: only by the group id we got when starting them.
 */
export interface GroupProcess {
  readonly name: string;
  /** pid of the leader = the process group id. */
  readonly pid: number;
  /** Resolves with the exit code (or signal) once the leader exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True while the leader runs. */
  running(): boolean;
  /** The last ~20 kB of stdout+stderr. */
  output(): string;
  /** SIGTERM to the group, SIGKILL after graceMs, then makes sure the group is empty. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnGroupOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with each complete line of stdout / stderr. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

/** Every group started in this process, so that an abrupt exit can still kill them (see killAllSync). */
const started = new Set<GroupProcess>();

export function spawnGroup(name: string, command: string, args: string[], options: SpawnGroupOptions = {}): GroupProcess {
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  let tail = '';
  const keep = (s: string) => {
    tail = (tail + s + '\n').slice(-20_000);
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    const rl = createInterface({ input: child[stream]! });
    rl.on('line', (line) => {
      keep(line);
      options.onLine?.(line, stream);
    });
  }
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    void spawnError.then((e) => {
      keep(`could not start ${command}: ${e.message}`);
      resolve({ code: null, signal: null });
    });
  });
  // A command that cannot start (ENOENT) reports through `exited` and output(); pid -1 matches no group.
  const pid = child.pid ?? -1;
  let leaderDone = false;
  void exited.then(() => {
    leaderDone = true;
  });

  const proc: GroupProcess = {
    name,
    pid,
    exited,
    running: () => !leaderDone && pid > 0,
    output: () => tail,
    async stop(graceMs = 3000) {
      if (pid <= 0) return;
      signalGroup(pid, 'SIGTERM');
      const killer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs + 2000))]);
      clearTimeout(killer);
      // The leader may be gone while its children (java) still run in the group.
      const deadline = Date.now() + graceMs;
      while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (groupAlive(pid)) {
        signalGroup(pid, 'SIGKILL');
        const end = Date.now() + 2000;
        while (groupAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      }
      started.delete(proc);
    },
  };
  if (pid > 0) started.add(proc);
  return proc;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* the group is empty */
  }
}

/** True while any process of the group exists (zombies of our own children excluded: we reap them). */
export function groupAlive(pgid: number): boolean {
  if (pgid <= 0) return false;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Groups started elsewhere (tools/emulators) that killAllSync must also cover. */
const tracked = new Map<number, string>();
export function trackGroup(name: string, pgid: number): void {
  tracked.set(pgid, name);
}
export function untrackGroup(pgid: number): void {
  tracked.delete(pgid);
}

/**
 * Tracks (for killAllSync) every direct child of this process that leads its own process group and
 * is not tracked yet: tools/emulators spawns an emulator synchronously but hands out its pid only
 * once the emulator answers, and an abrupt exit before that must not orphan it. Linux (/proc) only.
 */
export function adoptChildGroups(name: string): number[] {
  const adopted: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return adopted;
  }
  const known = new Set([...started].map((p) => p.pid).concat([...tracked.keys()]));
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === process.pid && Number(f[2]) === pid && !known.has(pid)) {
        tracked.set(pid, name);
        adopted.push(pid);
      }
    } catch {
      /* exited meanwhile */
    }
  }
  return adopted;
}

/** Last resort on process exit: SIGKILL every group still registered. Synchronous. */
export function killAllSync(): void {
  for (const p of started) signalGroup(p.pid, 'SIGKILL');
  for (const pgid of tracked.keys()) signalGroup(pgid, 'SIGKILL');
  started.clear();
  tracked.clear();
}

/** Groups started here that still have a live process. */
export function leftovers(groups: readonly GroupProcess[]): GroupProcess[] {
  return groups.filter((g) => groupAlive(g.pid));
}

/** Peak resident set size (VmHWM) of a process in bytes, from /proc (Linux); undefined elsewhere. */
export function peakRssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system, ms) used so far by every live process of a process group, from /proc
 * (Linux; undefined elsewhere). Clock ticks are assumed to be 100 per second (Linux's USER_HZ).
 */
export function groupCpuMs(pgid: number): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) !== pgid) continue;
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* exited meanwhile */
    }
  }
  return ticks * 10;
}
