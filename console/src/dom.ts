/** Small DOM helpers: text only (never innerHTML with data), so nothing stored can inject markup. */
export function el(tag: string, text = '', attrs: Record<string, string> = {}): HTMLElement {
  const e = document.createElement(tag);
  if (text) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

export function link(text: string, hash: string, attrs: Record<string, string> = {}): HTMLAnchorElement {
  const a = el('a', text, { href: `#${hash}`, ...attrs }) as HTMLAnchorElement;
  return a;
}

type Cell = string | Node;

/** A table; `testid` names it for the browser test and for anyone scripting the page. */
export function table(testid: string, head: string[], rows: Cell[][], empty = 'none'): HTMLElement {
  if (rows.length === 0) return el('p', empty, { 'data-testid': testid, class: 'muted' });
  const t = el('table', '', { 'data-testid': testid });
  if (head.some((h) => h !== '')) {
    const tr = el('tr');
    for (const h of head) tr.append(el('th', h));
    t.append(tr);
  }
  for (const r of rows) {
    const row = el('tr');
    for (const c of r) {
      const td = el('td');
      td.append(c);
      row.append(td);
    }
    t.append(row);
  }
  return t;
}

/** Firestore Timestamps, ISO strings, Dates, null. */
export function when(v: unknown): string {
  if (v === null || v === undefined) return '';
  const d = typeof (v as { toDate?: unknown }).toDate === 'function' ? (v as { toDate(): Date }).toDate() : new Date(v as string);
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().replace('.000Z', 'Z');
}

export const short = (id: string) => (id.length > 16 ? `${id.slice(0, 12)}…` : id);

/** A compact JSON rendering of an object's remaining fields (Timestamps as ISO). */
export function json(v: unknown): HTMLElement {
  const text = JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && typeof x.toDate === 'function' ? when(x) : x), 2);
  return el('pre', text);
}

export function section(title: string, ...children: Node[]): HTMLElement {
  const s = el('section');
  s.append(el('h2', title), ...children);
  return s;
}

export const yes = (b: unknown) => (b === true ? 'yes' : b === false ? 'no' : '');
