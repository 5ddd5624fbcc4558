import { request } from 'node:http';

/** What a raw HTTP exchange gave back. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The JSON body, or undefined when it is not JSON. */
  json: any;
}

export interface RawRequest {
  method?: string;
  /** Path and query, default `/`. */
  path?: string;
  headers?: Record<string, string>;
  /** Sent as is (a string is UTF-8). */
  body?: string | Buffer;
  timeoutMs?: number;
}

/**
 * One HTTP request with node:http, so that anything can be sent (any method with a body, any
 * Content-Type or none, bytes that are not UTF-8). A connection dropped by the server, or no answer
 * within the timeout, rejects: the callers treat that as a crash.
 */
export function rawRequest(baseUrl: string, r: RawRequest = {}): Promise<RawResponse> {
  const url = new URL(r.path ?? '/', baseUrl);
  const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, 'utf8');
  const headers: Record<string, string | number> = { ...r.headers };
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
    headers['content-length'] = body.length;
  }
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: r.method ?? 'POST', headers, timeout: r.timeoutMs ?? 20_000, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.href} within ${r.timeoutMs ?? 20_000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
