import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** The part of V8's .cpuprofile (node --cpu-prof) this file reads. */
const CpuProfileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string() }),
      children: z.array(z.number()).optional(),
    }),
  ),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
export type CpuProfile = z.infer<typeof CpuProfileSchema>;

export const readCpuProfile = (file: string): CpuProfile => CpuProfileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));

/** Where a function's CPU went, by whose code: its own (main.js), the libraries it bundles, the rest. */
export type CodeOwner = 'ours' | 'libraries' | 'functionsFramework' | 'gc' | 'runtime';

/**
 * Shares of the busy (non-idle) samples by owner. A sample belongs to the innermost frame that is
 * JavaScript from a file (Node's own built-ins and native frames count for whoever called them):
 * `main.js` is ours (our code and zod), the vendor chunks the Google libraries, anything under
 * node_modules the functions framework (express and its middleware); garbage collection apart; what
 * has no file frame at all (the event loop, timers) is the runtime. Samples in the first `fromMs` of
 * the profile (start-up) are left out.
 */
export function cpuShares(profile: CpuProfile, fromMs = 0): { busyMs: number; shares: Record<CodeOwner, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownerOf = (url: string): CodeOwner | null => {
    if (url.endsWith('/main.js')) return 'ours';
    if (/\/vendor\/[^/]+\.js$/.test(url)) return 'libraries';
    if (url.includes('/node_modules/')) return 'functionsFramework';
    return null;
  };
  const memo = new Map<number, CodeOwner>();
  const owner = (id: number): CodeOwner => {
    const seen: number[] = [];
    let found: CodeOwner = 'runtime';
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const known = memo.get(x);
      if (known) {
        found = known;
        break;
      }
      seen.push(x);
      const o = ownerOf(byId.get(x)!.callFrame.url);
      if (o) {
        found = o;
        break;
      }
    }
    for (const x of seen) memo.set(x, found);
    return found;
  };
  const ms: Record<CodeOwner, number> = { ours: 0, libraries: 0, functionsFramework: 0, gc: 0, runtime: 0 };
  let atUs = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    atUs += delta;
    const name = byId.get(id)?.callFrame.functionName;
    if (name === '(idle)' || atUs < fromMs * 1000) return;
    ms[name === '(garbage collector)' ? 'gc' : owner(id)] += delta / 1000;
  });
  const busyMs = Object.values(ms).reduce((a, b) => a + b, 0);
  const shares = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, busyMs ? v / busyMs : 0])) as Record<CodeOwner, number>;
  return { busyMs, shares };
}
