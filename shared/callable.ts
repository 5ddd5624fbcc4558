import type { Request, Response } from '@google-cloud/functions-framework';
import { DomainError, toCallableError } from './errors';
import { MAX_BODY_BYTES } from './http';

/**
 * The Firebase callable protocol: POST `{"data": ...}` -> 200 `{"result": ...}`, errors as
 * `{"error": {"status", "message", "details"}}` with canonical statuses. CORS so that browser admin
 * consoles can call it.
 */
const ALLOWED_HEADERS = 'Authorization, Content-Type, X-Firebase-AppCheck, Firebase-Instance-ID-Token, X-Firebase-GMPID, X-Client-Version';

/** Sets CORS headers; answers a preflight and returns true when the request was one. */
export function answerCors(req: Request, res: Response): boolean {
  const origin = req.get('origin');
  res.setHeader('Access-Control-Allow-Origin', origin ?? '*');
  res.setHeader('Vary', 'Origin');
  if (req.method !== 'OPTIONS') return false;
  res.setHeader('Access-Control-Allow-Methods', 'POST');
  res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
  res.setHeader('Access-Control-Max-Age', '3600');
  res.status(204).end();
  return true;
}

const badRequest = (why: string) => new DomainError('invalid_argument', `Bad Request: ${why}`);

/** The `data` of a well-formed callable request; anything else is INVALID_ARGUMENT. */
export function readCallableData(req: Request): unknown {
  if (req.method !== 'POST') throw badRequest(`callable functions take POST, not ${req.method}`);
  if (!/^application\/json(\s*;.*)?$/i.test(req.get('content-type') ?? '')) throw badRequest('Content-Type must be application/json');
  const raw = req.rawBody;
  if (raw && raw.length > MAX_BODY_BYTES) throw new DomainError('payload_too_large', `The body is larger than ${MAX_BODY_BYTES / 1024} KiB.`);
  let body: unknown;
  try {
    body = raw && raw.length > 0 ? JSON.parse(raw.toString('utf8')) : req.body;
  } catch {
    throw badRequest('the body is not JSON');
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be {"data": ...}');
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'data') throw badRequest('the body must have exactly one field, "data"');
  return (body as { data: unknown }).data;
}

export function sendCallableResult(res: Response, result: unknown): void {
  res.status(200).type('application/json').send(JSON.stringify({ result }));
}

export function sendCallableError(res: Response, error: unknown): number {
  const { status, headers, body } = toCallableError(error);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(status).type('application/json').send(JSON.stringify(body));
  return status;
}
