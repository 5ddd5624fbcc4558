import { dirname } from 'node:path';
import { log } from '../shared/log';

/**
 * The functions framework parses JSON bodies (and converts events) before our code runs, and what
 * fails there (not JSON, too large, an unsupported charset, a body the event conversion cannot read,
 * a method an event function has no route for) ends in Express's HTML error page, with a 500 for
 * the conversion failures. Apps, callable clients and Pub/Sub expect our JSON error shape and a 4xx,
 * so those are answered here, and compressed bodies are refused before they are inflated.
 * The reply carries both the HTTP code (`code`) and the callable status (`status`).
 */
type Handle = (this: { get(k: string): unknown }, req: unknown, res: NodeResponse, cb?: (err?: unknown) => void) => unknown;
interface NodeResponse {
  headersSent: boolean;
  statusCode: number;
  setHeader(name: string, value: string): void;
  end(body: string): void;
}

let installed = false;

export function answerBodyParseErrorsAsJson(): void {
  if (installed) return;
  installed = true;
  try {
    const expressPath = require.resolve('express', { paths: [require.resolve('@google-cloud/functions-framework')] });
    const express = require(expressPath) as { application: { handle: Handle } };
    const finalhandler = require(require.resolve('finalhandler', { paths: [dirname(expressPath)] })) as (
      req: unknown,
      res: unknown,
      opts: { env: unknown },
    ) => (err?: unknown) => void;
    const original = express.application.handle;
    const answer = (res: NodeResponse, status: number, code: string, message: string) => {
      res.statusCode = status;
      res.setHeader('Content-Type', 'application/json');
      if (status === 405) res.setHeader('Allow', 'POST');
      res.end(JSON.stringify({ error: { code, status: 'INVALID_ARGUMENT', message } }));
    };
    express.application.handle = function handle(req, res, callback) {
      // body-parser inflates a compressed body (up to the framework's 1 GiB limit) before any of our
      // code runs: a 255 KiB gzip body cost an instance 700 MiB. Nobody needs to send compressed JSON.
      const encoding = String((req as { headers?: Record<string, unknown> }).headers?.['content-encoding'] ?? '').trim().toLowerCase();
      if (encoding !== '' && encoding !== 'identity' && !res.headersSent) {
        answer(res, 400, 'invalid_argument', 'Compressed request bodies (Content-Encoding) are not accepted; send the JSON uncompressed.');
        return undefined;
      }
      return original.call(this, req, res, (err?: unknown) => {
        if (res.headersSent || (callback && !err)) return (callback ?? finalhandler(req, res, { env: this.get('env') }))(err);
        const type = (err as { type?: string } | undefined)?.type;
        if (!err) {
          // No route took it: an event function (playRtdn) only answers POST.
          answer(res, 405, 'method_not_allowed', `Use POST (got ${(req as { method?: string }).method}).`);
        } else if (type === 'entity.too.large') {
          answer(res, 413, 'payload_too_large', 'The body is too large.');
        } else if (type?.startsWith('entity.')) {
          answer(res, 400, 'invalid_argument', 'The body is not valid JSON.');
        } else {
          // Anything else failed in the framework's request handling before a function ran: an
          // unsupported charset or encoding, or a body the event conversion cannot read.
          log('WARNING', 'request refused before reaching the function', { error: String((err as Error)?.message ?? err).slice(0, 300) });
          answer(res, 400, 'invalid_argument', 'The request is malformed: not a JSON body (or an event) this function can read.');
        }
        return undefined;
      });
    };
  } catch {
    // An unexpected framework layout: keep its own behaviour rather than fail to start.
  }
}
