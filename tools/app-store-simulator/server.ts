import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ZodError, z } from 'zod';
import { checkBearer } from './api';
import { handleControl } from './control';
import { readJson, sendJson } from './http-util';
import type { Simulator } from './sim';
import { SimError } from './state';

/** The HTTP front: App Store Server API (Production at /, Sandbox at /sandbox/) and the control API. */
export function createSimServer(sim: Simulator, closing: AbortSignal): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const work =
      url.pathname === '/_sim' || url.pathname.startsWith('/_sim/') ? handleControl(sim, req, res, url) : handleApi(sim, req, res, url, closing);
    work.catch((err: unknown) => sendFailure(res, err));
  });
}

async function handleApi(sim: Simulator, req: IncomingMessage, res: ServerResponse, url: URL, closing: AbortSignal): Promise<void> {
  const sandbox = url.pathname.startsWith('/sandbox/');
  const path = sandbox ? url.pathname.slice('/sandbox'.length) : url.pathname;
  if (!path.startsWith('/inApps/')) return sendJson(res, 404, { errorCode: 4040000, errorMessage: 'Not found.' });
  const fault = sim.faults.take(url.pathname);
  if (fault) {
    sim.state.stats.faultsServed += 1;
    if (fault.delayMs) await sleep(fault.delayMs, closing);
    const errorCode = fault.errorCode ?? (fault.status === 429 ? 4290000 : 5000001);
    return sendJson(res, fault.status, { errorCode, errorMessage: 'Simulated failure.' });
  }
  const denied = await checkBearer(req.headers.authorization, sim.apiKey, sim.state.bundleId);
  if (denied) {
    sim.state.stats.unauthorized += 1;
    res.writeHead(401, { 'x-simulator-reason': denied }).end(); // Apple answers 401 without a body
    return;
  }
  let body: unknown;
  if (req.method === 'POST' || req.method === 'PUT') {
    try {
      body = await readJson(req);
    } catch {
      return sendJson(res, 400, { errorCode: 4000000, errorMessage: 'Invalid request.' });
    }
  }
  const reply = await sim.api.handle(sandbox ? 'Sandbox' : 'Production', req.method ?? 'GET', path, url.searchParams, body);
  if (!reply) return sendJson(res, 404, { errorCode: 4040000, errorMessage: 'Not found.' });
  sendJson(res, reply.status, reply.body);
}

function sendFailure(res: ServerResponse, err: unknown): void {
  if (res.headersSent) return void res.destroy();
  if (err instanceof SimError) return sendJson(res, err.status, { error: err.message });
  if (err instanceof ZodError) return sendJson(res, 400, { error: z.prettifyError(err) });
  console.error('app-store-simulator: internal error:', err);
  sendJson(res, 500, { error: String(err) });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
