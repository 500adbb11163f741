import { ApiError, get, useLoad, when } from '../api.js';
import { Badge, ErrorNotice, html, Notice, Page, Table } from '../ui.js';

/**
 * Webhook endpoints, read from GET /v1/webhooks (SPEC section 6). A gateway
 * that does not have that route yet gets a plain statement, never invented rows.
 */
export function Webhooks() {
  const list = useLoad(() => get('/v1/webhooks?limit=50'), []);
  const missing = list.error instanceof ApiError && list.error.status === 404;
  return html`
    <${Page} title="Webhooks">
      ${missing
        ? html`<${Notice} kind="info">
            Webhooks are not available on this gateway yet: it has no <code>/v1/webhooks</code> route. This page lists
            the endpoints once it does.
          </${Notice}>`
        : html`<${ErrorNotice} error=${list.error} />`}
      ${list.data
        ? html`
            <${Table} caption="Webhook endpoints" head=${['URL', 'Events', 'Active', 'Created']}>
              ${list.data.data.map(
                (w) => html`<tr>
                  <td>${w.url}</td>
                  <td>${(w.events ?? []).join(', ')}</td>
                  <td><${Badge} value=${w.active ? 'active' : 'inactive'} /></td>
                  <td>${when(w.createdAt)}</td>
                </tr>`,
              )}
            </${Table}>
            ${list.data.data.length ? null : html`<p>No webhook endpoints.</p>`}
          `
        : null}
    </${Page}>
  `;
}
