import type { TestProject } from 'vitest/node';
import 'vitest';
import { startFirestoreEmulator, type RunningEmulator } from '../../tools/emulators/gcloud';

/**
 * One Firestore emulator for the whole run, started here and stopped by process group.
 * Test files isolate themselves by project id, so they can run in parallel against it.
 */
let firestore: RunningEmulator | undefined;

export async function setup(project: TestProject): Promise<void> {
  firestore = await startFirestoreEmulator();
  project.provide('firestoreEmulatorHost', firestore.host);
}

export async function teardown(): Promise<void> {
  await firestore?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    firestoreEmulatorHost: string;
  }
}
