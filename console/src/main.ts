import { initializeApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, onAuthStateChanged, signInWithEmailAndPassword, signOut, type User } from 'firebase/auth';
import { connectFirestoreEmulator, getFirestore } from 'firebase/firestore';
import { createActions } from './actions';
import { createReads } from './data';
import { el } from './dom';
import { playPurchaseId } from './ids';
import { createPages } from './views';

/** Runtime config, served next to index.html (tools/console/serve.ts locally, written by deploy on Hosting). */
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
  const reads = createReads(db);
  /** Tokens the admin searched by, in this page's memory only: actions need the raw token. */
  const tokens = new Map<string, string>();
  const pages = createPages(reads, createActions(fb, config.functionsBaseUrl), tokens);
  let cleanup: (() => void) | null = null;
  let admin = false;
  /** Only the latest search may act: an earlier one answering late must not replace its page. */
  let searches = 0;

  onAuthStateChanged(auth, async (user) => {
    admin = false;
    cleanup?.();
    cleanup = null;
    app.replaceChildren();
    who.replaceChildren();
    if (!user) return renderSignIn();
    who.append(user.email ?? user.uid, ' ', signOutButton());
    const token = await user.getIdTokenResult();
    if (token.claims[claim] !== true) return renderNotAdmin(user);
    admin = true;
    route();
  });
  window.addEventListener('hashchange', () => admin && route());

  function signOutButton(): HTMLElement {
    const b = el('button', 'Sign out', { 'data-testid': 'sign-out' });
    b.onclick = () => void signOut(auth);
    return b;
  }

  function renderNotAdmin(user: User): void {
    app.append(el('p', `${user.email ?? user.uid} is not an admin (no "${claim}": true claim on the account): nothing to show.`, { class: 'error', 'data-testid': 'not-admin' }));
  }

  function renderSignIn(): void {
    const form = el('form', '', { 'data-testid': 'sign-in' }) as HTMLFormElement;
    const email = el('input', '', { type: 'email', placeholder: 'email', 'data-testid': 'email', required: '' }) as HTMLInputElement;
    const password = el('input', '', { type: 'password', placeholder: 'password', 'data-testid': 'password', required: '' }) as HTMLInputElement;
    const err = el('p', '', { class: 'error' });
    form.append(email, ' ', password, ' ', el('button', 'Sign in', { type: 'submit' }), err);
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      try {
        await signInWithEmailAndPassword(auth, email.value, password.value);
      } catch (e) {
        err.textContent = (e as Error).message;
      }
    };
    app.append(form);
  }

  /** #user/UID, #purchase/ID, #ops; the search bar on every page. */
  function route(): void {
    cleanup?.();
    cleanup = null;
    const page = el('div');
    const message = el('p', '', { class: 'error', 'data-testid': 'search-message' });
    app.replaceChildren(searchBar(message), message, page);
    const [kind, ...rest] = location.hash.slice(1).split('/');
    const arg = decodeURIComponent(rest.join('/'));
    if (kind === 'user' && arg) cleanup = pages.user(page, arg);
    else if (kind === 'purchase' && arg) pages.purchase(page, arg);
    else if (kind === 'ops') pages.lists(page);
    else page.append(el('p', 'Search a user by uid, or a purchase by its token or its order id.', { class: 'muted' }));
  }

  function searchBar(message: HTMLElement): HTMLElement {
    const form = el('form', '', { class: 'search', 'data-testid': 'search' }) as HTMLFormElement;
    const kind = el('select', '', { 'data-testid': 'search-kind' }) as HTMLSelectElement;
    for (const [v, label] of [['uid', 'uid'], ['token', 'purchase token'], ['order', 'order id']]) kind.append(el('option', label, { value: v! }));
    const input = el('input', '', { 'data-testid': 'search-input', placeholder: 'uid, purchase token or GPA.… order id', size: '50', required: '' }) as HTMLInputElement;
    form.append(kind, ' ', input, ' ', el('button', 'Search', { type: 'submit' }), ' ', el('a', 'Operations: refund reviews, dead letters, notices', { href: '#ops' }));
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      const mine = ++searches;
      const say = (text: string) => void (mine === searches && (message.textContent = text));
      message.textContent = '';
      try {
        if (kind.value === 'uid') return go(`user/${encodeURIComponent(value)}`);
        if (kind.value === 'token') {
          const id = await playPurchaseId(value); // the server's purchase id for this token, computed here
          if (!(await reads.purchase(id))) return say(`No purchase for this token (purchase id ${id}).`);
          tokens.set(id, value);
          return mine === searches ? go(`purchase/${id}`) : undefined;
        }
        const found = await reads.purchasesByOrderId(value);
        if (found.length === 0) return say(`No purchase with order id ${value} (a subscription's record holds its latest order).`);
        return mine === searches ? go(`purchase/${found[0]!.id}`) : undefined;
      } catch (e) {
        say(`Could not search: ${(e as Error).message}`);
      }
    };
    return form;
  }

  function go(hash: string): void {
    if (location.hash === `#${hash}`) route();
    else location.hash = hash;
  }
}

start().catch((e: unknown) => {
  app.replaceChildren(el('p', `Could not start: ${(e as Error).message}`, { class: 'error' }));
});
