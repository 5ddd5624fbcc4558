import { afterEach, describe, expect, it, vi } from 'vitest';
import { instrumentEvent, instrumentHttp } from '../../functions/instrument';
import { DomainError } from '../../shared/errors';
import { countCall } from '../../shared/metrics';
import { captureLogs } from '../helpers/capture-logs';

/** One structured line per request, with trace, label, outcome and outbound calls. */
afterEach(() => vi.restoreAllMocks());

const fakeReq = (headers: Record<string, string>) => ({ get: (h: string) => headers[h.toLowerCase()] }) as never;

describe('instrumentHttp', () => {
  it('logs the outcome, latency, calls, label and trace of a request', async () => {
    process.env.GOOGLE_CLOUD_PROJECT = 'acme';
    const lines = captureLogs();
    const handler = instrumentHttp(
      'verifyPurchase',
      async () => {
        countCall('play:get');
        return { status: 200 };
      },
      () => 500,
    );
    await handler(fakeReq({ 'x-cloud-trace-context': '0123456789abcdef0123456789abcdef/42;o=1', 'function-execution-id': 'ex1' }), {} as never);
    const line = lines.find((l) => l.message === 'verifyPurchase')!;
    expect(line).toMatchObject({
      severity: 'INFO',
      status: 200,
      calls: { 'play:get': 1 },
      executionId: 'ex1',
      'logging.googleapis.com/trace': 'projects/acme/traces/0123456789abcdef0123456789abcdef',
      'logging.googleapis.com/spanId': '42',
      'logging.googleapis.com/labels': { function: 'verifyPurchase' },
    });
    expect(typeof line.latencyMs).toBe('number');
  });

  it('maps a thrown error through sendError and logs its code and severity; unexpected errors get their stack once', async () => {
    const lines = captureLogs();
    const sent: number[] = [];
    const fail = (e: Error) =>
      instrumentHttp('f', async () => Promise.reject(e), (_res, err) => {
        sent.push((err as DomainError).code === 'internal' ? 500 : 404);
        return sent.at(-1)!;
      });
    await fail(new DomainError('purchase_not_found', 'x'))(fakeReq({}), {} as never);
    await fail(new Error('boom'))(fakeReq({}), {} as never);
    expect(sent).toEqual([404, 500]);
    expect(lines.filter((l) => l.message === 'f').map((l) => l.code)).toEqual(['purchase_not_found', 'internal']);
    expect(lines.filter((l) => l.message === 'f').map((l) => l.severity)).toEqual(['WARNING', 'ERROR']);
    expect(lines.filter((l) => l.message === 'f failed')).toHaveLength(1); // the stack, once
  });
});

describe('instrumentEvent', () => {
  it('rethrows so the event is retried, after logging an error (a retry is our 5xx)', async () => {
    const lines = captureLogs();
    const handler = instrumentEvent('playRtdn', async () => {
      throw new DomainError('upstream_unavailable', 'later');
    });
    await expect(handler({ id: 'e1' } as never)).rejects.toThrow('later');
    expect(lines.find((l) => l.message === 'playRtdn will be retried')).toMatchObject({ severity: 'ERROR', code: 'upstream_unavailable', eventId: 'e1' });
  });
});
