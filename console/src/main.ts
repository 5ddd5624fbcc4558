import { initializeApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, onAuthStateChanged, signInWithEmailAndPassword, signOut } from 'firebase/auth';
import { collection, connectFirestoreEmulator, getDocs, getFirestore } from 'firebase/firestore';

/** Runtime config, served next to index.html (tools/console/serve.ts locally, deploy on Hosting). */
interface ConsoleConfig {
  projectId: string;
  apiKey: string;
  authEmulatorUrl?: string;
  firestoreEmulatorHost?: string;
  functionsBaseUrl: string;
  adminClaim?: string;
}

const app = document.getElementById('app')!;
const who = document.getElementById('who')!;

function el(tag: string, text = '', cls = ''): HTMLElement {
  const e = document.createElement(tag);
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

async function start(): Promise<void> {
  const config = (await (await fetch('config.json')).json()) as ConsoleConfig;
  const fb = initializeApp({ projectId: config.projectId, apiKey: config.apiKey });
  const auth = getAuth(fb);
  const db = getFirestore(fb);
  if (config.authEmulatorUrl) connectAuthEmulator(auth, config.authEmulatorUrl, { disableWarnings: true });
  if (config.firestoreEmulatorHost) {
    const [host, port] = config.firestoreEmulatorHost.split(':');
    connectFirestoreEmulator(db, host!, Number(port));
  }
  const claim = config.adminClaim ?? 'admin';

  onAuthStateChanged(auth, async (user) => {
    app.replaceChildren();
    who.textContent = user?.email ?? '';
    if (!user) return renderSignIn();
    const token = await user.getIdTokenResult();
    if (token.claims[claim] !== true) {
      app.append(el('p', `${user.email ?? user.uid} is not an admin (no "${claim}": true claim): nothing to show.`, 'error'));
      const out = el('button', 'Sign out');
      out.onclick = () => void signOut(auth);
      app.append(out);
      return;
    }
    renderSearch();
  });

  function renderSignIn(): void {
    const form = document.createElement('form');
    form.innerHTML = '<input id="email" type="email" placeholder="email"> <input id="password" type="password" placeholder="password"> <button>Sign in</button> <p id="err" class="error"></p>';
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      const email = (form.querySelector('#email') as HTMLInputElement).value;
      const password = (form.querySelector('#password') as HTMLInputElement).value;
      try {
        await signInWithEmailAndPassword(auth, email, password);
      } catch (e) {
        form.querySelector('#err')!.textContent = (e as Error).message;
      }
    };
    app.append(form);
  }

  function renderSearch(): void {
    const form = document.createElement('form');
    form.innerHTML = '<input id="uid" placeholder="uid"> <button>Find user</button>';
    const result = el('div');
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      const uid = (form.querySelector('#uid') as HTMLInputElement).value.trim();
      result.replaceChildren();
      try {
        const snap = await getDocs(collection(db, 'users', uid, 'entitlements'));
        const table = el('table');
        table.append(row('th', ['entitlement', 'active', 'expires']));
        for (const d of snap.docs) {
          const v = d.data();
          table.append(row('td', [d.id, String(v.active ?? ''), String(v.expiresAt?.toDate?.().toISOString() ?? '')]));
        }
        result.append(el('h2', `Entitlements of ${uid}`), table);
      } catch (e) {
        result.append(el('p', (e as Error).message, 'error'));
      }
    };
    app.append(form, result);
  }
}

function row(cell: string, values: string[]): HTMLElement {
  const tr = el('tr');
  for (const v of values) tr.append(el(cell, v));
  return tr;
}

start().catch((e: unknown) => {
  app.replaceChildren(el('p', `Could not start: ${(e as Error).message}`, 'error'));
});
