import type { TestProject } from 'vitest/node';
import 'vitest';
import { startFirestoreEmulator, startPubSubEmulator, type RunningEmulator } from '../../tools/emulators/gcloud';

/**
 * One Firestore and one Pub/Sub emulator for the whole run, started here and stopped by process group.
 * Test files isolate themselves by project id, so they can run in parallel against it.
 */
let firestore: RunningEmulator | undefined;
let pubsub: RunningEmulator | undefined;

export async function setup(project: TestProject): Promise<void> {
  // A run stopped by a signal still stops the emulators (via the process-exit hook of startGroup).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => process.exit(130));
  [firestore, pubsub] = await Promise.all([startFirestoreEmulator(), startPubSubEmulator('iap-tests')]);
  project.provide('firestoreEmulatorHost', firestore.host);
  project.provide('pubsubEmulatorHost', pubsub.host);
}

export async function teardown(): Promise<void> {
  await Promise.all([firestore?.stop(), pubsub?.stop()]);
}

declare module 'vitest' {
  export interface ProvidedContext {
    firestoreEmulatorHost: string;
    pubsubEmulatorHost: string;
  }
}
