import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors } from './google-errors';
import { parseJson, readBody, safeDecode, sendJson } from './http-util';
import type { TransitionName } from './schemas';
import type { Simulator } from './sim';

/**
 * The control API under /_sim/ (JSON in and out) for tests in other processes and `npm run play-sim`
 * users. It mirrors the in-process methods of the handle. Errors use Google's error shape too.
 */
export async function handleControl(sim: Simulator, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const parts = url.pathname.split('/').filter((s) => s !== '').map(safeDecode).slice(1);
  const route = `${req.method ?? 'GET'} ${parts.map((p, i) => (parts[0] === 'purchases' && i > 0 ? (i === 1 ? ':token' : ':transition') : p)).join('/')}`;
  const json = async (): Promise<unknown> => parseJson(await readBody(req));

  switch (route) {
    case 'GET health':
      return sendJson(res, 200, { ok: true, now: sim.now() });
    case 'POST purchases':
      return sendJson(res, 201, await sim.createPurchase((await json()) as never));
    case 'GET purchases/:token': {
      const purchase = sim.get(parts[1] ?? '');
      if (!purchase) throw errors.tokenNotFound();
      return sendJson(res, 200, purchase);
    }
    case 'POST purchases/:token/:transition':
      return sendJson(res, 200, await sim.transition(parts[1] ?? '', parts[2] as TransitionName, (await json()) as never));
    case 'POST faults':
      sim.injectFaults((await json()) as never);
      return sendJson(res, 200, { pendingFaults: sim.faults.pending() });
    case 'DELETE faults':
      sim.faults.clear();
      return sendJson(res, 200, { pendingFaults: 0 });
    case 'GET clock':
      return sendJson(res, 200, { now: sim.now() });
    case 'POST clock': {
      const body = (await json()) as { advanceMs?: unknown };
      return sendJson(res, 200, { now: await sim.advanceTime(body.advanceMs as number) });
    }
    case 'GET stats':
      return sendJson(res, 200, sim.stats.snapshot());
    case 'POST stats/reset':
      sim.stats.reset();
      return sendJson(res, 200, sim.stats.snapshot());
    case 'POST reset':
      await sim.idle();
      sim.reset();
      return sendJson(res, 200, { ok: true });
    case 'GET notifications':
      await sim.idle();
      return sendJson(res, 200, { notifications: sim.notifications() });
    case 'POST notifications': {
      // JSON bodies pass as parsed values; any other content type passes as the raw text.
      const text = await readBody(req);
      const isJson = (req.headers['content-type'] ?? '').includes('application/json');
      const value = isJson ? parseJson(text) : text;
      await sim.sendNotification(value as never);
      return sendJson(res, 202, { ok: true });
    }
    default:
      return sendJson(res, 404, { error: { code: 404, message: `No control route ${req.method} ${url.pathname}` } });
  }
}
