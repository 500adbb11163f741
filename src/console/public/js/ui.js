import { h } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import htm from 'htm';
import { api } from './api.js';

export const html = htm.bind(h);

/** A page: its title becomes the document title and takes focus when the page opens. */
export function Page({ title, children, live }) {
  const heading = useRef(null);
  useEffect(() => {
    document.title = `${title} · Gateway console`;
    heading.current?.focus();
  }, [title]);
  return html`
    <h1 ref=${heading} tabindex="-1">${title}</h1>
    ${live ? html`<p class="muted visually-hidden" data-live=${live}>Live updates: ${live}</p>` : null}
    ${children}
  `;
}

export function Notice({ kind = 'info', children }) {
  return html`<div class=${`notice ${kind}`} role=${kind === 'error' ? 'alert' : 'status'}>${children}</div>`;
}

export function ErrorNotice({ error }) {
  if (!error) return null;
  return html`<${Notice} kind="error">${error.message ?? String(error)}</${Notice}>`;
}

const TONES = {
  active: 'ok',
  online: 'ok',
  Available: 'ok',
  completed: 'neutral',
  Charging: 'ok',
  Preparing: 'warn',
  SuspendedEV: 'warn',
  SuspendedEVSE: 'warn',
  Finishing: 'warn',
  stopping: 'warn',
  rejected: 'bad',
  stop_failed: 'bad',
  Faulted: 'bad',
  Unavailable: 'bad',
  offline: 'bad',
  inactive: 'bad',
  open: 'bad',
  acknowledged: 'neutral',
};

/** A status as text in a badge (the colour only repeats what the text says). */
export function Badge({ value, tone }) {
  if (value === null || value === undefined) return html`<span class="badge neutral">unknown</span>`;
  return html`<span class=${`badge ${tone ?? TONES[value] ?? 'neutral'}`}>${value.replace(/_/g, ' ')}</span>`;
}

export function Pager({ cursor, label, onPrev, onNext, nextCursor }) {
  return html`
    <nav class="pager" aria-label=${`${label} pages`}>
      <button type="button" class="secondary" onClick=${onPrev} disabled=${cursor.page <= 1}>Previous</button>
      <span>Page ${cursor.page}</span>
      <button type="button" class="secondary" onClick=${() => onNext(nextCursor)} disabled=${!nextCursor}>Next</button>
    </nav>
  `;
}

/** A table that scrolls sideways on a small screen and can be reached with the keyboard to do so. */
export function Table({ caption, head, children }) {
  return html`
    <div class="table-wrap" role="region" aria-label=${caption} tabindex="0">
      <table>
        <caption class="visually-hidden">${caption}</caption>
        <thead>
          <tr>${head.map((c) => html`<th scope="col" class=${c.num ? 'num' : ''}>${c.label ?? c}</th>`)}</tr>
        </thead>
        <tbody>${children}</tbody>
      </table>
    </div>
  `;
}

/** One page of a keyset-paged list: the table, an empty-list sentence, and Previous/Next. */
export function PagedTable({ list, cursor, label, caption, head, empty, row }) {
  if (!list.data) return html`<${ErrorNotice} error=${list.error} />${list.error ? null : html`<p>Loading…</p>`}`;
  return html`
    <${ErrorNotice} error=${list.error} />
    <${Table} caption=${caption} head=${head}>${list.data.data.map(row)}</${Table}>
    ${list.data.data.length ? null : html`<p>${empty}</p>`}
    <${Pager} label=${label} cursor=${cursor} nextCursor=${list.data.next_cursor} onNext=${cursor.next} onPrev=${cursor.prev} />
  `;
}

export function Facts({ items }) {
  return html`
    <dl class="facts">
      ${items.map(([k, v, testId]) => html`<dt>${k}</dt><dd data-testid=${testId}>${v ?? '–'}</dd>`)}
    </dl>
  `;
}

export function Field({ id, label, children, hint }) {
  return html`
    <div class="field">
      <label for=${id}>${label}</label>
      ${children}
      ${hint ? html`<small class="muted" id=${`${id}-hint`}>${hint}</small>` : null}
    </div>
  `;
}

/** A detail page whose resource has not arrived: loading, or why it cannot be shown. */
export function Pending({ title, state }) {
  return html`<${Page} title=${title}><${ErrorNotice} error=${state.error} />${state.error ? null : html`<p>Loading…</p>`}</${Page}>`;
}

/** Runs an operator action; what it returns (or its error) becomes the page's notice. */
export async function act(setMsg, action, then) {
  try {
    setMsg(await action());
    then?.();
  } catch (err) {
    setMsg({ kind: 'error', text: err.message });
  }
}

/** POST /v1/sessions/:id/stop, as a notice: the station's first answer. */
export async function remoteStop(sessionId) {
  const r = await api('POST', `/v1/sessions/${sessionId}/stop`);
  return { kind: r.status === 'Accepted' ? 'ok' : 'error', text: `RemoteStopTransaction: ${r.status}.` };
}
