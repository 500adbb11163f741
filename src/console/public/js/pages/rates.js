import { get, qs, useCursor, useLoad, when } from '../api.js';
import { Badge, ErrorNotice, html, Page, Pager, Table } from '../ui.js';

function component(c) {
  const unit = { ENERGY: 'per kWh', TIME: 'per hour', FLAT: 'per session' }[c.type] ?? '';
  const step = c.step_size ? `, step ${c.step_size} ${c.type === 'TIME' ? 's' : 'Wh'}` : '';
  return `${c.type}: ${c.price} ¢ ${unit}${c.tax ? ` + ${c.tax} % tax` : ''}${step}`;
}

export function Rates() {
  const cursor = useCursor('rates');
  const list = useLoad(() => get(`/v1/rates${qs({ limit: 50, cursor: cursor.cursor })}`), [cursor.cursor]);
  return html`
    <${Page} title="Rates">
      <p class="hint">Prices are in cents (up to 4 decimals). A running session keeps the rate it started with.</p>
      <${ErrorNotice} error=${list.error} />
      ${list.data
        ? html`
            <${Table} caption="Rates" head=${['Description', 'Currency', 'Price components', 'Active', 'Updated', 'Id']}>
              ${list.data.data.map(
                (r) => html`<tr>
                  <td>${r.description ?? '–'}</td>
                  <td>${r.currency}</td>
                  <td>${r.price_components.map((c) => html`<div>${component(c)}</div>`)}</td>
                  <td>${r.active ? 'yes' : html`<${Badge} value="inactive" />`}</td>
                  <td>${when(r.updatedAt)}</td>
                  <td><code>${r._id}</code></td>
                </tr>`,
              )}
            </${Table}>
            ${list.data.data.length ? null : html`<p>No rates yet.</p>`}
            <${Pager} label="Rates" cursor=${cursor} nextCursor=${list.data.next_cursor} onNext=${cursor.next} onPrev=${cursor.prev} />
          `
        : html`<p>Loading…</p>`}
    </${Page}>
  `;
}
