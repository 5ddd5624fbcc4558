import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort, startGroup, waitForHttp, type ManagedProcess } from './process';

/** The gcloud SDK root, or a clear message on how to get the emulators. */
export function gcloudRoot(): string {
  const candidates = [process.env.CLOUDSDK_ROOT_DIR, '/usr/lib/google-cloud-sdk', '/usr/share/google-cloud-sdk'];
  try {
    const out = execFileSync('gcloud', ['info', '--format=value(installation.sdk_root)'], { encoding: 'utf8' }).trim();
    candidates.unshift(out);
  } catch {
    /* gcloud not on PATH: fall through to known locations */
  }
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error(
    'The Google Cloud SDK was not found. Install it with the Firestore and Pub/Sub emulators ' +
      '(apt: google-cloud-cli google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator) and Java 17+.',
  );
}

export interface RunningEmulator {
  host: string; // 127.0.0.1:PORT, the *_EMULATOR_HOST value
  process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startFirestoreEmulator(port?: number): Promise<RunningEmulator> {
  const p = port ?? (await freePort());
  const launcher = join(gcloudRoot(), 'platform/cloud-firestore-emulator/cloud_firestore_emulator');
  const proc = existsSync(launcher)
    ? startGroup(launcher, ['start', '--host=127.0.0.1', `--port=${p}`])
    : startGroup('gcloud', ['emulators', 'firestore', 'start', `--host-port=127.0.0.1:${p}`]);
  await waitForHttp(`http://127.0.0.1:${p}/`, proc);
  return { host: `127.0.0.1:${p}`, process: proc, stop: () => proc.stop() };
}

export async function startPubSubEmulator(projectId: string, port?: number): Promise<RunningEmulator> {
  const p = port ?? (await freePort());
  const proc = startGroup('gcloud', ['beta', 'emulators', 'pubsub', 'start', `--host-port=127.0.0.1:${p}`, `--project=${projectId}`]);
  await waitForHttp(`http://127.0.0.1:${p}/`, proc);
  return { host: `127.0.0.1:${p}`, process: proc, stop: () => proc.stop() };
}
