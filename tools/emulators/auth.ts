import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, startGroup, waitForHttp } from './process';
import type { RunningEmulator } from './gcloud';

/**
 * The Firebase Auth emulator from firebase-tools (pure JS, works offline). Its ID tokens are the real
 * emulator format: unsigned, with the project's `aud`/`iss`. Use a `demo-` project id so that
 * firebase-tools needs no credentials.
 */
export async function startAuthEmulator(projectId: string, port?: number): Promise<RunningEmulator> {
  const p = port ?? (await freePort());
  // The hub and the logging port default to 4400/4500: a second emulator on the machine (another test
  // file, a running `npm start`) would take them, and this one would die after saying it is ready.
  const [hub, logging] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'auth-emulator-'));
  const config = join(dir, 'firebase.json');
  const emulators = {
    auth: { host: '127.0.0.1', port: p },
    hub: { host: '127.0.0.1', port: hub },
    logging: { host: '127.0.0.1', port: logging, quiet: true },
    ui: { enabled: false },
  };
  writeFileSync(config, JSON.stringify({ emulators }));
  const bin = resolve(__dirname, '../../node_modules/.bin/firebase');
  const proc = startGroup(bin, ['emulators:start', '--only', 'auth', '--project', projectId, '--config', config], {
    ...process.env,
    FIREBASE_CLI_DISABLE_UPDATE_CHECK: 'true',
    CI: 'true',
  });
  await waitForHttp(`http://127.0.0.1:${p}/`, proc, 60_000);
  return { host: `127.0.0.1:${p}`, process: proc, stop: () => proc.stop() };
}

/** Sets custom claims on an emulator user (the emulator accepts `Bearer owner` as an admin credential). */
export async function setCustomClaims(host: string, projectId: string, uid: string, claims: Record<string, unknown>): Promise<void> {
  const res = await fetch(`http://${host}/identitytoolkit.googleapis.com/v1/projects/${projectId}/accounts:update`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer owner' },
    body: JSON.stringify({ localId: uid, customAttributes: JSON.stringify(claims) }),
  });
  if (!res.ok) throw new Error(`setting custom claims failed: ${res.status} ${await res.text()}`);
}
