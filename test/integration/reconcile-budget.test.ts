import { afterAll, beforeAll, expect, it } from 'vitest';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';

/**
 * A reconcile run is bounded in Play calls: with a budget of 4 calls and voided purchases listed 2 per
 * page, five refunds Play listed take several runs; each run stops at its budget, the next resumes from
 * the page it stopped at, and every refund is applied exactly once in the end.
 */
let s: FunctionsStack;
beforeAll(async () => {
  s = await startFunctionsStack({ reconcile: true, env: { RECONCILE_MAX_PLAY_CALLS: '4', RECONCILE_VOIDED_PAGE_SIZE: '2' } });
});
afterAll(async () => {
  await s?.close();
});

it('a run that hits its Play-call budget resumes next run, over more than one page, and applies each void once', async () => {
  const uid = `budget-user-${process.pid}`;
  for (let i = 0; i < 5; i++) {
    const p = await s.sim.createPurchase({ type: 'product', productId: 'coins_100', packageName: PACKAGE } as never);
    expect((await s.post({ packageName: PACKAGE, productId: 'coins_100', purchaseToken: p.purchaseToken }, { uid })).status).toBe(200);
    await s.sim.transition(p.purchaseToken, 'refund', { revoke: true });
  }
  expect((await s.db.doc(`users/${uid}`).get()).data()?.balances).toEqual({ coins: 500 });

  const runs = [];
  for (let i = 0; i < 6; i++) {
    const { status, run } = await s.runReconcile();
    expect(status).toBe(204);
    runs.push(run!);
    if (run!.counts[`voided:${PACKAGE}`].done) break;
  }
  expect(runs.length).toBeGreaterThan(1);
  for (const r of runs) expect(r.playCalls).toBeLessThanOrEqual(4);
  expect(runs[0]!.counts[`voided:${PACKAGE}`]).toMatchObject({ done: false });
  const applied = runs.reduce((n, r) => n + r.counts[`voided:${PACKAGE}`].applied, 0);
  expect(applied).toBe(5);
  expect((await s.db.doc(`users/${uid}`).get()).data()?.balances).toEqual({ coins: 0 });
  const again = await s.runReconcile();
  expect(again.run!.counts[`voided:${PACKAGE}`].applied).toBe(0);
});
