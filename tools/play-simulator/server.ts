import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ZodError, z } from 'zod';
import { handleControl } from './control';
import { errors, PlayError, sendGoogleError } from './google-errors';
import { parseJson, readBody, safeDecode, sendJson, sleep } from './http-util';
import { matchPlayRoute, type PlayReply, type PlayRoute } from './play-api';
import type { FaultSpec } from './schemas';
import type { Simulator } from './sim';

const PLAY_PREFIX = '/androidpublisher/';

/**
 * Applies an injected fault before the request is handled. 'done' when the fault answered or dropped the
 * request itself; a `stale` or `lost` fault is returned to act on the answer after handling.
 */
async function serveFault(sim: Simulator, target: 'api' | 'token', req: IncomingMessage, res: ServerResponse, path: string, closing: AbortSignal): Promise<'done' | FaultSpec | undefined> {
  const fault = sim.faults.take(target, path, req.method);
  if (!fault) return undefined;
  sim.stats.bump('faultsServed');
  if (fault.mode === 'stale' || fault.mode === 'lost') return fault;
  if (fault.mode === 'delay') {
    await sleep(fault.delayMs ?? 1000, closing);
    return undefined;
  }
  if (fault.mode === 'hang') {
    await sleep(fault.delayMs ?? 60_000, closing);
    req.socket.destroy();
    return 'done';
  }
  if (fault.delayMs) await sleep(fault.delayMs, closing);
  if (fault.mode === 'malformed') {
    sendJson(res, 200, fault.body ?? {});
    return 'done';
  }
  const headers: Record<string, string> = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
  if (target === 'token') {
    // OAuth-style body: google-auth-library builds its error message from error/error_description.
    sendJson(res, fault.status, { error: 'simulated_fault', error_description: fault.message ?? `Simulated HTTP ${fault.status}` }, headers);
  } else {
    sendGoogleError(res, errors.fault(fault.status, fault.message), headers);
  }
  return 'done';
}

/** Sends an answer computed on arrival: at once, late (`stale`), or never, dropping the connection (`lost`). */
async function answer(req: IncomingMessage, fault: FaultSpec | undefined, send: () => void, closing: AbortSignal): Promise<void> {
  if (fault?.mode === 'lost') return void req.socket.destroy();
  if (fault?.mode === 'stale') await sleep(fault.delayMs ?? 1000, closing);
  send();
}

async function handleToken(sim: Simulator, req: IncomingMessage, res: ServerResponse, closing: AbortSignal): Promise<void> {
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'POST only' });
  const fault = await serveFault(sim, 'token', req, res, '/token', closing);
  if (fault === 'done') return;
  const reply = sim.oauth.exchange(new URLSearchParams(await readBody(req)));
  sim.stats.bump(reply.status === 200 ? 'tokenExchanges' : 'tokenRejections');
  await answer(req, fault, () => sendJson(res, reply.status, reply.body, { 'cache-control': 'no-store' }), closing);
}

/** Handles a Play API call now; returns how to send its answer (the body is serialized now, so it is the state at arrival). */
async function handlePlayCall(sim: Simulator, req: IncomingMessage, url: URL, route: PlayRoute | undefined): Promise<(res: ServerResponse) => void> {
  if (!route) throw errors.methodNotFound(`${req.method} ${url.pathname}`);
  const denied = sim.oauth.check(req.headers.authorization);
  if (denied) {
    sim.stats.bump('unauthorized');
    return (res) => sendGoogleError(res, denied, { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' });
  }
  const body = parseJson(await readBody(req));
  let reply: PlayReply;
  try {
    reply = route.handle(sim, body && typeof body === 'object' ? (body as Record<string, unknown>) : {}, url.searchParams);
  } finally {
    // Like Play, RTDNs go out after the call, without holding up its response.
    sim.deliverLater();
  }
  if (reply.status === 204) {
    return (res) => {
      res.writeHead(204);
      res.end();
    };
  }
  const json = JSON.stringify(reply.body);
  return (res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(json);
  };
}

async function handlePlay(sim: Simulator, req: IncomingMessage, res: ServerResponse, url: URL, closing: AbortSignal): Promise<void> {
  const route = matchPlayRoute(req.method ?? 'GET', url.pathname);
  sim.stats.call(route?.method ?? 'unknown');
  const fault = await serveFault(sim, 'api', req, res, safeDecode(url.pathname), closing);
  if (fault === 'done') return;
  const send = await handlePlayCall(sim, req, url, route).catch((err: unknown) => (r: ServerResponse) => sendFailure(r, err));
  await answer(req, fault, () => send(res), closing);
}

function sendFailure(res: ServerResponse, err: unknown): void {
  if (res.headersSent) return void res.destroy();
  if (err instanceof PlayError) return sendGoogleError(res, err);
  if (err instanceof ZodError) return sendGoogleError(res, errors.badRequest(`Invalid input: ${z.prettifyError(err)}`));
  console.error('play-simulator: internal error:', err);
  sendGoogleError(res, new PlayError(500, 'internalError', `Simulator error: ${String(err)}`, 'global'));
}

/** The HTTP front: OAuth token endpoint, Play API, control API. `closing` aborts pending fault sleeps. */
export function createSimServer(sim: Simulator, closing: AbortSignal): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const path = url.pathname;
    const work =
      path === '/_sim' || path.startsWith('/_sim/')
        ? handleControl(sim, req, res, url)
        : path === '/token'
          ? handleToken(sim, req, res, closing)
          : path.startsWith(PLAY_PREFIX)
            ? handlePlay(sim, req, res, url, closing)
            : Promise.reject(errors.methodNotFound(`${req.method} ${path}`));
    work.catch((err: unknown) => sendFailure(res, err));
  });
}
