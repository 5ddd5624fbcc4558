import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { readJson, sendJson } from './http-util';
import type { Simulator } from './sim';
import { SimError } from './state';
import type { TransitionName } from './lifecycle';

/**
 * The control API under /_sim/ (JSON in and out), mirroring the in-process handle, for tests in other
 * processes and `npm run app-store-sim` users.
 */
const ReceiptInputSchema = z.strictObject({ transactionIds: z.array(z.string().min(1)).min(1) });
const NotifyInputSchema = z.strictObject({ notificationType: z.string().min(1), subtype: z.string().optional() });
/** No count: every delivery fails until DELETE. */
const DeliveryFaultSchema = z.strictObject({ count: z.number().int().positive().optional() });
const ConfigInputSchema = z.strictObject({ notificationUrl: z.url().nullable() });

export async function handleControl(sim: Simulator, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const parts = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
  const method = req.method ?? 'GET';
  const deliver = url.searchParams.get('deliver') === 'false' ? false : undefined;
  const route = `${method} ${parts.map((p, i) => (parts[0] === 'purchases' && i === 1 ? ':id' : parts[0] === 'purchases' && i === 2 ? ':action' : p)).join('/')}`;

  switch (route) {
    case 'GET health':
      return sendJson(res, 200, { ok: true });
    case 'GET config':
      return sendJson(res, 200, sim.publicConfig());
    case 'POST config':
      sim.notifier.url = ConfigInputSchema.parse(await readJson(req)).notificationUrl ?? undefined;
      return sendJson(res, 200, sim.publicConfig());
    case 'GET ca/root.der':
      res.writeHead(200, { 'content-type': 'application/pkix-cert' }).end(sim.ca.rootDer);
      return;
    case 'POST purchases':
      return sendJson(res, 201, await sim.lifecycle.buy((await readJson(req)) as never));
    case 'GET purchases/:id':
      return sendJson(res, 200, sim.state.get(parts[1]!));
    case 'POST purchases/:id/:action': {
      const body = await readJson(req);
      if (parts[2] === 'notify') {
        const n = NotifyInputSchema.parse(body);
        return sendJson(res, 200, await sim.notifier.notify(sim.state.get(parts[1]!), n.notificationType, n.subtype, { deliver: deliver ?? true }));
      }
      if (parts[2] === 'sign') return sendJson(res, 200, { signedTransaction: await sim.signTransaction(parts[1]!) });
      return sendJson(res, 200, await sim.lifecycle.transition(parts[1]!, parts[2] as TransitionName, body as never, { deliver }));
    }
    case 'POST notifications/test':
      return sendJson(res, 200, await sim.notifier.notify(null, 'TEST', undefined, { deliver: deliver ?? true }));
    case 'GET notifications':
      return sendJson(res, 200, { notifications: sim.notifier.sent });
    case 'GET consumption':
      return sendJson(res, 200, { consumption: sim.state.consumption });
    case 'POST receipts':
      return sendJson(res, 200, { receipt: sim.receipt(ReceiptInputSchema.parse(await readJson(req)).transactionIds) });
    case 'POST faults':
      sim.faults.add((await readJson(req)) as never);
      return sendJson(res, 200, { pendingFaults: sim.faults.pending() });
    case 'DELETE faults':
      sim.faults.clear();
      return sendJson(res, 200, { pendingFaults: 0 });
    case 'GET stats':
      return sendJson(res, 200, sim.state.stats);
    case 'POST delivery-faults': {
      const { count } = DeliveryFaultSchema.parse(await readJson(req));
      sim.notifier.failingDeliveries = count ?? Infinity;
      return sendJson(res, 200, { failingDeliveries: count ?? 'all' });
    }
    case 'DELETE delivery-faults':
      sim.notifier.failingDeliveries = 0;
      return sendJson(res, 200, { failingDeliveries: 0 });
    case 'POST reset':
      sim.reset();
      return sendJson(res, 200, { ok: true });
    default:
      throw new SimError(404, `no control route ${method} ${url.pathname}`);
  }
}
