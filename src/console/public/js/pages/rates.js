import { get, qs, useCursor, useLoad, when } from '../api.js';
import { Badge, html, Page, PagedTable } from '../ui.js';

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
      <${PagedTable}
        list=${list}
        cursor=${cursor}
        label="Rates"
        caption="Rates"
        head=${['Description', 'Currency', 'Price components', 'Active', 'Updated', 'Id']}
        empty=${html`No rates yet.`}
        row=${(r) => html`<tr>
            <td>${r.description ?? '–'}</td>
            <td>${r.currency}</td>
            <td>${r.price_components.map((c) => html`<div>${component(c)}</div>`)}</td>
            <td>${r.active ? 'yes' : html`<${Badge} value="inactive" />`}</td>
            <td>${when(r.updatedAt)}</td>
            <td><code>${r._id}</code></td>
          </tr>`}
      />
    </${Page}>
  `;
}
