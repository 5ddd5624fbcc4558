import { describe, expect, it } from 'vitest';
import { cpuShares, type CpuProfile } from '../../tools/bench/cpu-profile';

const DIR = '/srv/fn';
const frame = (id: number, url: string, functionName: string, children: number[] = []) => ({
  id,
  callFrame: { url, functionName },
  children,
});

// root → main.js handler → vendor chunk (Firestore) → node:internal write; main.js → node:buffer;
// express middleware; GC; idle; a libuv callback with no file frame.
const profile: CpuProfile = {
  nodes: [
    frame(1, '', '(root)', [2, 6, 7, 8, 9]),
    frame(2, `file://${DIR}/main.js`, 'verify', [3, 5]),
    frame(3, `file://${DIR}/vendor/google.js`, 'commit', [4]),
    frame(4, 'node:internal/stream_base_commons', 'writeGeneric'),
    frame(5, 'node:buffer', 'from'),
    frame(6, `file://${DIR}/node_modules/express/lib/router/index.js`, 'handle'),
    frame(7, '', '(garbage collector)'),
    frame(8, '', '(idle)'),
    frame(9, 'node:internal/http2/core', 'onStreamRead'),
  ],
  // 1 ms each, except the idle sample (5 ms, never counted)
  samples: [2, 3, 4, 5, 6, 7, 8, 9, 4, 2],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 5000, 1000, 1000, 1000],
};

describe('cpuShares', () => {
  it('gives each busy sample to the innermost frame with a file: built-ins count for their caller', () => {
    const { busyMs, shares } = cpuShares(profile);
    expect(busyMs).toBe(9);
    expect(shares.ours).toBeCloseTo(3 / 9); // verify twice, node:buffer under it once
    expect(shares.libraries).toBeCloseTo(3 / 9); // commit, and node:internal under it twice
    expect(shares.functionsFramework).toBeCloseTo(1 / 9);
    expect(shares.gc).toBeCloseTo(1 / 9);
    expect(shares.runtime).toBeCloseTo(1 / 9); // the HTTP/2 read with no file frame
  });

  it('leaves out the samples of the first fromMs (start-up)', () => {
    // the first three samples end at 1, 2 and 3 ms; the fourth (node:buffer under main.js) at 4
    const { busyMs, shares } = cpuShares(profile, 4);
    expect(busyMs).toBe(6);
    expect(shares.ours).toBeCloseTo(2 / 6);
    expect(shares.libraries).toBeCloseTo(1 / 6);
  });
});
