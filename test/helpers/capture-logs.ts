import { vi } from 'vitest';

/** The structured lines written to stdout and stderr (in process) until vi.restoreAllMocks(). */
export function captureLogs(): Record<string, any>[] {
  const lines: Record<string, any>[] = [];
  const spy = (stream: NodeJS.WriteStream) =>
    vi.spyOn(stream, 'write').mockImplementation((chunk: unknown) => {
      for (const l of String(chunk).split('\n')) {
        if (!l.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(l));
        } catch {
          /* not one of our lines */
        }
      }
      return true;
    });
  spy(process.stdout);
  spy(process.stderr);
  return lines;
}
