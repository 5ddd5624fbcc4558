import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Outbound calls made while serving one request or event (Play reads and writes, Firestore commits),
 * reported on the request's log line: operators see the cost of each request, benchmarks count it.
 */
const current = new AsyncLocalStorage<Record<string, number>>();

export function countCall(name: string, n = 1): void {
  const calls = current.getStore();
  if (calls) calls[name] = (calls[name] ?? 0) + n;
}

export async function withCallCounts<T>(fn: () => Promise<T>): Promise<{ result: T; calls: Record<string, number> }> {
  const calls: Record<string, number> = {};
  const result = await current.run(calls, fn);
  return { result, calls };
}
