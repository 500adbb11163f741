import { useState } from 'preact/hooks';
import { api, get, qs, useCursor, useLoad, when } from '../api.js';
import { act, Badge, Facts, Field, html, Notice, Page, PagedTable, Pending } from '../ui.js';

/** Creates an endpoint; the answer's signing secret is shown here once, never again. */
function CreateWebhook({ onDone }) {
  const [msg, setMsg] = useState();
  const [secret, setSecret] = useState();
  // The gateway owns the list of event types (GET /v1/webhooks/event_types).
  const types = useLoad(() => get('/v1/webhooks/event_types'), []);
  const eventTypes = types.data?.data ?? [];
  const submit = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = form.elements;
    const chosen = eventTypes.filter((t) => f.namedItem(`ev-${t}`)?.checked);
    const events = f.namedItem('webhook-all').checked || !chosen.length ? ['*'] : chosen;
    const description = f.namedItem('webhook-description').value.trim();
    try {
      const created = await api('POST', '/v1/webhooks', {
        url: f.namedItem('webhook-url').value.trim(),
        events,
        ...(description ? { description } : {}),
      });
      setSecret({ id: created._id, url: created.url, secret: created.secret });
      setMsg(undefined);
      form.reset();
      onDone();
    } catch (err) {
      setMsg({ kind: 'error', text: err.message });
    }
  };
  return html`
    <section aria-labelledby="new-webhook-title">
      <h2 id="new-webhook-title">New endpoint</h2>
      <form onSubmit=${submit} aria-labelledby="new-webhook-title">
        <${Field} id="webhook-url" label="URL" hint="Events are POSTed here, signed (Standard Webhooks).">
          <input id="webhook-url" name="webhook-url" type="url" required placeholder="https://example.com/hooks" autocomplete="off" aria-describedby="webhook-url-hint" />
        </${Field}>
        <${Field} id="webhook-description" label="Description (optional)">
          <input id="webhook-description" name="webhook-description" autocomplete="off" />
        </${Field}>
        <fieldset>
          <legend>Events</legend>
          <div class="field">
            <input id="webhook-all" name="webhook-all" type="checkbox" checked />
            <label for="webhook-all">Every event (also those added later)</label>
          </div>
          ${types.error ? html`<${Notice} kind="error">The event types could not be loaded: ${types.error.message}</${Notice}>` : null}
          ${eventTypes.map(
            (t) => html`<div class="field">
              <input id=${`ev-${t}`} name=${`ev-${t}`} type="checkbox" />
              <label for=${`ev-${t}`}><code>${t}</code></label>
            </div>`,
          )}
        </fieldset>
        <button type="submit">Create endpoint</button>
      </form>
      ${msg ? html`<${Notice} kind=${msg.kind}>${msg.text}</${Notice}>` : null}
      ${secret
        ? html`<${Notice} kind="ok">
            Endpoint created for ${secret.url}. Its signing secret, shown this once (copy it now):
            <code data-testid="webhook-secret">${secret.secret}</code>
          </${Notice}>`
        : null}
    </section>
  `;
}

/** Webhook endpoints (GET /v1/webhooks): list, create, switch on and off. */
export function Webhooks() {
  const cursor = useCursor('webhooks');
  const list = useLoad(() => get(`/v1/webhooks${qs({ limit: 50, cursor: cursor.cursor })}`), [cursor.cursor]);
  const [msg, setMsg] = useState();
  const toggle = (w) =>
    act(setMsg, async () => {
      await api('PATCH', `/v1/webhooks/${w._id}`, { active: !w.active });
      return { kind: 'ok', text: `Endpoint ${w.url} ${w.active ? 'switched off' : 'switched on'}.` };
    }, list.reload);
  return html`
    <${Page} title="Webhooks">
      <p class="hint">The gateway sends what happens (sessions, wallets, stations, alerts) to these endpoints, at least once, in order per session and per wallet.</p>
      ${msg ? html`<${Notice} kind=${msg.kind}>${msg.text}</${Notice}>` : null}
      <${PagedTable}
        list=${list}
        cursor=${cursor}
        label="Webhook endpoints"
        caption="Webhook endpoints"
        head=${['URL', 'Events', 'State', 'Failures in a row', 'Created', 'Action']}
        empty=${html`No webhook endpoints yet.`}
        row=${(w) => html`<tr>
            <td><a href=${`#/webhooks/${w._id}`}>${w.url}</a></td>
            <td>${w.events.join(', ')}</td>
            <td><${Badge} value=${w.active ? 'active' : w.disabled_at ? 'disabled after failures' : 'inactive'} tone=${w.active ? 'ok' : 'bad'} /></td>
            <td>${w.consecutive_failures}</td>
            <td>${when(w.createdAt)}</td>
            <td><button type="button" class="secondary" onClick=${() => toggle(w)}>${w.active ? 'Switch off' : 'Switch on'}</button></td>
          </tr>`}
      />
      <${CreateWebhook} onDone=${list.reload} />
    </${Page}>
  `;
}

function attempts(d) {
  if (!d.attempt_log.length) return '–';
  return d.attempt_log.map((a) => (a.status_code ? String(a.status_code) : a.error ?? 'error')).join(', ');
}

/** One endpoint and its deliveries (GET /v1/webhooks/:id/deliveries), each can be sent again. */
export function WebhookPage({ id }) {
  const hook = useLoad(() => get(`/v1/webhooks/${id}`), [id]);
  const [status, setStatus] = useState('');
  const cursor = useCursor(`${id}:${status}`);
  const deliveries = useLoad(
    () => get(`/v1/webhooks/${id}/deliveries${qs({ limit: 25, status: status || undefined, cursor: cursor.cursor })}`),
    [id, status, cursor.cursor],
  );
  const [msg, setMsg] = useState();
  if (!hook.data) return html`<${Pending} title="Webhook endpoint" state=${hook} />`;
  const w = hook.data;
  const retry = (d) =>
    act(setMsg, async () => {
      const again = await api('POST', `/v1/webhooks/${id}/deliveries/${d._id}/retry`);
      return { kind: 'ok', text: `${d.event.type} ${again._id === d._id ? 'is due now' : 'will be sent again (replay)'}.` };
    }, deliveries.reload);
  return html`
    <${Page} title=${`Webhook ${w.url}`}>
      <p><a href="#/webhooks">All endpoints</a></p>
      <${Facts}
        items=${[
          ['State', w.active ? 'active' : w.disabled_at ? `disabled ${when(w.disabled_at)}` : 'inactive'],
          ['Events', w.events.join(', ')],
          ['Failed attempts in a row', String(w.consecutive_failures)],
          ['Why disabled', w.disabled_reason ?? '–'],
          ['Description', w.description ?? '–'],
          ['Id', w._id],
        ]}
      />
      <form class="inline" onSubmit=${(e) => e.preventDefault()}>
        <${Field} id="delivery-filter" label="Show">
          <select id="delivery-filter" onChange=${(e) => setStatus(e.currentTarget.value)}>
            <option value="">all deliveries</option>
            <option value="pending">pending</option>
            <option value="delivered">delivered</option>
            <option value="failed">failed</option>
          </select>
        </${Field}>
      </form>
      ${msg ? html`<${Notice} kind=${msg.kind}>${msg.text}</${Notice}>` : null}
      <${PagedTable}
        list=${deliveries}
        cursor=${cursor}
        label="Deliveries"
        caption="Deliveries, newest first"
        head=${['Event', 'Status', 'Attempts (answers)', 'Next attempt', 'Created', 'Action']}
        empty=${html`No deliveries here.`}
        row=${(d) => html`<tr>
            <td><code>${d.event.type}</code></td>
            <td><${Badge} value=${d.status} tone=${d.status === 'delivered' ? 'ok' : d.status === 'failed' ? 'bad' : 'warn'} /></td>
            <td>${d.attempts}: ${attempts(d)}</td>
            <td>${d.next_attempt_at ? when(d.next_attempt_at) : '–'}</td>
            <td>${when(d.createdAt)}</td>
            <td><button type="button" class="secondary" onClick=${() => retry(d)}>${d.status === 'pending' ? 'Send now' : 'Send again'}</button></td>
          </tr>`}
      />
    </${Page}>
  `;
}
