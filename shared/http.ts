import type { Request, Response } from '@google-cloud/functions-framework';
import type * as z from './zod';
import { DomainError, toHttpError } from './errors';

/** Request plumbing shared by the HTTP functions: size limit, JSON, schema, error replies. */
export const MAX_BODY_BYTES = 64 * 1024;

export function requirePost(req: Request, res: Response): void {
  if (req.method !== 'POST') {
    res.setHeader('Allow', 'POST');
    throw new DomainError('method_not_allowed', `Use POST (got ${req.method}).`);
  }
}

/** The JSON body, from the raw bytes (whatever Content-Type claimed), within the size limit. */
export function readJsonBody(req: Request): unknown {
  const raw: Buffer | undefined = req.rawBody;
  const declared = Number(req.headers['content-length'] ?? 0);
  if ((raw?.length ?? 0) > MAX_BODY_BYTES || declared > MAX_BODY_BYTES) {
    throw new DomainError('payload_too_large', `The body is larger than ${MAX_BODY_BYTES / 1024} KiB.`);
  }
  if (!raw || raw.length === 0) {
    if (req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body) && Object.keys(req.body).length > 0) return req.body;
    throw new DomainError('invalid_argument', 'The body must be a JSON object.');
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new DomainError('invalid_argument', 'The body is not valid JSON.');
  }
}

/** Validates with zod; the message names every offending field (never echoing values). */
export function parseWith<S extends z.ZodMiniType>(schema: S, value: unknown): z.infer<S> {
  let parsed: z.util.SafeParseResult<z.infer<S>>;
  try {
    parsed = schema.safeParse(value);
  } catch {
    // zod 4 runs length checks on a mistyped value that has a `length`: {"length":{"toString":{}}} throws.
    throw new DomainError('invalid_argument', 'Invalid request: a field has a value of the wrong type.');
  }
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => {
    const where = i.path.length ? i.path.join('.') : 'body';
    if (i.code === 'unrecognized_keys') return `${where}: unknown field(s) ${i.keys.join(', ')}`;
    return `${where}: ${i.message}`;
  });
  throw new DomainError('invalid_argument', `Invalid request: ${problems.join('; ')}.`);
}

export function sendJson(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(status).type('application/json').send(JSON.stringify(body));
}

export function sendHttpError(res: Response, error: unknown): number {
  const { status, headers, body } = toHttpError(error);
  sendJson(res, status, body, headers);
  return status;
}
