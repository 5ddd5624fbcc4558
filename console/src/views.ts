import { createActions, PURCHASE_ACTIONS, resultBox, TRANSFER_LABEL, type PurchaseAction } from './actions';
import { el, json, link, section, short, table, when, yes } from './dom';
import { sha256Hex } from './ids';
import type { Reads, Row } from './data';

/** The pages: a user, a purchase, the operator lists. Each renders into `root` and returns a cleanup. */
export interface Pages {
  user(root: HTMLElement, uid: string): () => void;
  purchase(root: HTMLElement, id: string): void;
  lists(root: HTMLElement): void;
}

const millis = (v: unknown) => (v && typeof (v as { toMillis?: unknown }).toMillis === 'function' ? (v as { toMillis(): number }).toMillis() : null);
/** As apps see it: active and not past its expiry (the stored flag is as of the last write). */
const activeNow = (e: Row) => e.active === true && (e.expiresAt == null || (millis(e.expiresAt) ?? 0) > Date.now());
const purchaseLink = (id: string) => link(short(id), `purchase/${id}`, { title: id });
const userLink = (uid: string | null | undefined) => (uid ? link(uid, `user/${encodeURIComponent(uid)}`) : el('span', '(no owner yet)', { class: 'muted' }));
const failed = (root: HTMLElement) => (e: unknown) => root.append(el('p', `Could not read: ${(e as Error).message}`, { class: 'error' }));

export function createPages(reads: Reads, actions: ReturnType<typeof createActions>, tokens: Map<string, string>): Pages {
  const pages: Pages = {
    user(root, uid) {
      root.replaceChildren(el('h2', `User ${uid}`, { 'data-testid': 'user-title' }));
      const live = el('div');
      const rest = el('div');
      root.append(live, rest);
      void sha256Hex(uid).then((h) => root.querySelector('h2')!.after(el('p', `Play obfuscatedAccountId: ${h}`, { class: 'muted' })));
      const stop = reads.watchUser(
        uid,
        (user, ents) => {
          live.replaceChildren(
            section('Entitlements', entitlementsTable(ents)),
            section('Balances', balancesTable(user)),
          );
          if (!user && ents.length === 0) live.prepend(el('p', 'No such user in Firestore (no document, no entitlements).', { 'data-testid': 'no-user', class: 'muted' }));
        },
        failed(live),
      );
      Promise.all([reads.purchasesOf(uid), reads.eventsOf(uid)]).then(([purchases, events]) => {
        rest.append(section('Purchases', purchasesTable(purchases)), section('Timeline (entitlement events, newest first)', timelineTable(events)));
      }, failed(rest));
      return stop;
    },

    purchase(root, id) {
      root.replaceChildren(el('h2', `Purchase ${id}`, { 'data-testid': 'purchase-title' }));
      Promise.all([reads.purchase(id), reads.storeEventsOf(id), reads.ledgerOf(id), reads.auditOf(id)]).then(([p, events, ledger, audit]) => {
        if (!p) return root.append(el('p', 'No such purchase.', { class: 'error', 'data-testid': 'not-found' }));
        const buttons = el('div', '', { class: 'actions' });
        if (p.platform === 'google_play') {
          for (const action of Object.keys(PURCHASE_ACTIONS) as PurchaseAction[]) {
            if (action === 'cancel' && p.productType !== 'subscription') continue;
            const b = el('button', PURCHASE_ACTIONS[action], { 'data-testid': `action-${action}` });
            b.onclick = () =>
              actions.onPurchase(action, { purchaseId: id, packageName: String(p.packageName), productType: String(p.productType), ...(tokens.has(id) ? { token: tokens.get(id)! } : {}) }, (r) => {
                // show the new state (refused attempts are audited too), the answer first
                pages.purchase(root, id);
                root.querySelector('h2')!.after(resultBox(r));
              });
            buttons.append(b);
          }
        } else buttons.append(el('p', 'App Store purchases are refunded by Apple (the customer asks at reportaproblem.apple.com); refundPurchase acts on Play purchases.', { class: 'muted' }));
        if (p.productType !== 'consumable') {
          const b = el('button', TRANSFER_LABEL, { 'data-testid': 'action-transfer' });
          b.onclick = () =>
            actions.onTransfer({ purchaseId: id, packageName: String(p.packageName), productType: String(p.productType) }, (r) => {
              pages.purchase(root, id);
              root.querySelector('h2')!.after(resultBox(r));
            });
          buttons.append(b);
        }
        root.append(
          section('Store state', purchaseSummary(p)),
          section('Actions (refundPurchase)', buttons),
          section('Store notifications and admin events', table('store-events', ['received', 'id', 'source', 'type', 'applied', 'detail'], events.map((e) => [when(e.receivedAt), short(e.id), String(e.source ?? ''), String(e.type ?? ''), yes(e.applied), e.detail ? json(e.detail) : '']))),
          section('Refund ledger', table('ledger', ['started', 'status', 'action', 'attempts', 'result / error'], ledger.map((l) => [when(l.startedAt), String(l.status), String(l.request?.action ?? ''), String(l.attempts ?? ''), json(l.result ?? l.error ?? null)]))),
          section('Audit log', table('audit', ['at', 'who', 'action', 'reason', 'outcome', 'result / error'], audit.map((a) => [when(a.at), String(a.actor?.email ?? a.actor?.uid ?? ''), String(a.action), String(a.reason ?? ''), String(a.outcome), json(a.result ?? a.error ?? null)]))),
        );
      }, failed(root));
    },

    lists(root) {
      root.replaceChildren(el('h2', 'Operations'));
      Promise.all([reads.pendingRefundReviews(), reads.deadLetters(), reads.adminNotices(), reads.reconcileRuns()]).then(([reviews, letters, notices, runs]) => {
        const shown = (r: Parameters<typeof resultBox>[0]) => {
          pages.lists(root);
          root.querySelector('h2')!.after(resultBox(r));
        };
        const reviewRows = reviews.map((n) => {
          const buttons = el('span');
          for (const pref of ['approve', 'decline'] as const) {
            const b = el('button', pref, { 'data-testid': `review-${pref}` });
            b.onclick = () => actions.onReview({ id: n.id, packageName: String(n.detail?.packageName ?? '') }, pref, shown);
            buttons.append(b);
          }
          return [when(n.createdAt), String(n.detail?.orderId ?? ''), n.purchaseId ? purchaseLink(String(n.purchaseId)) : '', json(n.detail ?? null), buttons];
        });
        root.append(
          section('Pending refund reviews (answer within 24 h of the notification)', table('refund-reviews', ['notified', 'order', 'purchase', 'detail', 'answer'], reviewRows)),
          section('Dead letters (newest 50)', table('dead-letters', ['received', 'source', 'reason', 'replayable', 'payload'], letters.map((d) => [when(d.receivedAt), String(d.source ?? ''), String(d.reason ?? ''), yes(d.replayable), el('code', String(d.payload ?? '').slice(0, 300))]))),
          section('Admin notices (newest 50)', table('admin-notices', ['created', 'kind', 'status', 'purchase', 'detail'], notices.map((n) => [when(n.createdAt), String(n.kind ?? ''), String(n.status ?? ''), n.purchaseId ? purchaseLink(String(n.purchaseId)) : '', json(n.detail ?? null)]))),
          section('Reconcile runs (latest 10)', table('reconcile-runs', ['started', 'status', 'Play calls', 'counts'], runs.map((r) => [when(r.startedAt), String(r.status ?? ''), String(r.playCalls ?? ''), json(r.counts ?? null)]))),
        );
      }, failed(root));
    },
  };
  return pages;
}

function entitlementsTable(ents: Row[]): HTMLElement {
  return table(
    'entitlements',
    ['entitlement', 'active now', 'state', 'product', 'expires', 'why (each purchase granting it)'],
    ents.map((e) => {
      const why = el('ul');
      for (const [pid, s] of Object.entries((e.sources ?? {}) as Record<string, Row>)) {
        const li = el('li');
        li.append(purchaseLink(pid), ` ${s.productId}: ${s.state}, ${s.active ? 'granting' : 'not granting'}${s.expiresAt ? `, until ${when(s.expiresAt)}` : ', no expiry'}${pid === e.purchaseId ? ' (shown)' : ''}`);
        why.append(li);
      }
      const active = el('span', activeNow(e) ? 'active' : 'inactive', { class: activeNow(e) ? 'ok' : 'error', 'data-testid': `entitlement-${e.id}` });
      return [e.id, active, String(e.state ?? ''), String(e.productId ?? ''), when(e.expiresAt) || 'never', why];
    }),
    'no entitlements',
  );
}

function balancesTable(user: Row | null): HTMLElement {
  const balances = (user?.balances ?? {}) as Record<string, number>;
  return table('balances', ['balance', 'amount'], Object.entries(balances).map(([k, v]) => [k, String(v)]), 'no balances');
}

function purchasesTable(ps: Row[]): HTMLElement {
  return table(
    'purchases',
    ['purchase', 'platform', 'product', 'state', 'active', 'expires', 'order', 'created'],
    ps.map((p) => [purchaseLink(p.id), String(p.platform), String(p.productId), `${p.state}${p.revoked ? ' (revoked)' : ''}${p.test ? ' (test)' : ''}`, yes(p.active), when(p.expiresAt), String(p.orderId ?? ''), when(p.createdAt)]),
    'no purchases',
  );
}

function timelineTable(events: Row[]): HTMLElement {
  return table(
    'timeline',
    ['#', 'type', 'occurred', 'purchase', 'product', 'state', 'active', 'entitlements', 'delivered'],
    events.map((e) => {
      const m = JSON.parse(String(e.data ?? '{}')) as Row;
      return [
        String(e.sequence),
        String(e.type),
        when(m.occurredAt),
        m.purchaseId ? purchaseLink(String(m.purchaseId)) : '',
        String(m.productId ?? ''),
        `${m.previousState ?? '∅'} → ${m.state ?? ''}`,
        yes(m.active),
        [...((m.entitlements as string[]) ?? []), ...Object.entries((m.credits ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`)].join(', '),
        e.pending ? 'pending' : 'yes',
      ];
    }),
    'no events',
  );
}

function purchaseSummary(p: Row): HTMLElement {
  const { id: _id, ...rest } = p;
  const facts: [string, string | Node][] = [
    ['owner', userLink(p.uid as string | null)],
    ['platform', String(p.platform)],
    ['package', String(p.packageName)],
    ['product', `${p.productId} (${p.productType})`],
    ['state', `${p.state}${p.revoked ? ', revoked' : ''}${p.supersededBy ? `, superseded by ${p.supersededBy}` : ''}`],
    ['active', yes(p.active)],
    ['expires', when(p.expiresAt) || 'never'],
    ['order', String(p.orderId ?? '')],
    ['acknowledged / consumed', `${yes(p.acknowledged)} / ${yes(p.consumed)}`],
    ['updated', when(p.updatedAt)],
  ];
  const t = table('purchase-facts', ['', ''], facts.map(([k, v]) => [k, v]));
  const details = el('details');
  details.append(el('summary', 'the whole document'), json(rest));
  const box = el('div');
  box.append(t, details);
  return box;
}
