import { connect } from 'node:net';
import { startFirestoreEmulator, type RunningEmulator } from '../../tools/emulators/gcloud';
import { freePort } from '../../tools/emulators/process';

/**
 * A Firestore emulator of a test file's own, on a fixed port, that the test can freeze (SIGSTOP: every
 * call hangs, data kept), thaw, kill (SIGKILL: connections refused, data lost: the emulator keeps it
 * in memory) and start again on the same port. Signals go to its process group, which this file
 * started; nothing else is touched.
 */
export interface OwnFirestore {
  host: string;
  port: number;
  freeze(): void;
  thaw(): void;
  /** SIGKILL, then waits until the port refuses connections. */
  kill(): Promise<void>;
  /** Starts a new emulator on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const refuses = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

export async function startOwnFirestore(): Promise<OwnFirestore> {
  const port = await freePort();
  let emulator: RunningEmulator = await startFirestoreEmulator(port);
  let frozen = false;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-emulator.process.pid, sig);
    } catch {
      /* already gone */
    }
  };
  const own: OwnFirestore = {
    host: `127.0.0.1:${port}`,
    port,
    freeze() {
      signal('SIGSTOP');
      frozen = true;
    },
    thaw() {
      signal('SIGCONT');
      frozen = false;
    },
    async kill() {
      if (frozen) own.thaw();
      signal('SIGKILL');
      await emulator.stop();
      const deadline = Date.now() + 30_000;
      while (!(await refuses(port))) {
        if (Date.now() > deadline) throw new Error(`the Firestore emulator on ${port} is still answering after SIGKILL`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async restart() {
      emulator = await startFirestoreEmulator(port);
    },
    async stop() {
      if (frozen) own.thaw();
      await emulator.stop();
    },
  };
  return own;
}
