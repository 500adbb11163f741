import { useState } from 'preact/hooks';
import { api, get, qs, useCursor, useLive, useLoad, useThrottled, when } from '../api.js';
import { act, Badge, Field, html, Notice, Page, PagedTable } from '../ui.js';

export function Alerts() {
  const [open, setOpen] = useState('true');
  const cursor = useCursor(open);
  const list = useLoad(() => get(`/v1/alerts${qs({ limit: 25, open, cursor: cursor.cursor })}`), [open, cursor.cursor]);
  const [msg, setMsg] = useState();
  const refresh = useThrottled(list.reload, 1000);
  const live = useLive({ types: 'alert' }, refresh);
  const ack = (a) =>
    act(setMsg, async () => {
      await api('POST', `/v1/alerts/${a._id}/ack`);
      return { kind: 'ok', text: `Alert “${a.message}” acknowledged.` };
    }, list.reload);
  return html`
    <${Page} title="Alerts" live=${live}>
      <form class="inline" onSubmit=${(e) => e.preventDefault()}>
        <${Field} id="alert-filter" label="Show">
          <select id="alert-filter" onChange=${(e) => setOpen(e.currentTarget.value)}>
            <option value="true">open alerts</option>
            <option value="false">acknowledged alerts</option>
            <option value="">all alerts</option>
          </select>
        </${Field}>
      </form>
      ${msg ? html`<${Notice} kind=${msg.kind}>${msg.text}</${Notice}>` : null}
      <${PagedTable}
        list=${list}
        cursor=${cursor}
        label="Alerts"
        caption="Alerts, newest first"
        head=${['When', 'Kind', 'Message', 'Station', 'Session', 'State', 'Action']}
        empty=${html`No alerts here.`}
        row=${(a) => html`<tr>
            <td>${when(a.createdAt)}</td>
            <td>${a.kind.replace(/_/g, ' ')}</td>
            <td>${a.message}</td>
            <td>${a.chargestation ? html`<a href=${`#/stations/${a.chargestation}`}>station</a>` : '–'}</td>
            <td>${a.session ? html`<a href=${`#/sessions/${a.session}`}>${a.transaction_id ?? 'session'}</a>` : '–'}</td>
            <td><${Badge} value=${a.acknowledged ? 'acknowledged' : 'open'} /></td>
            <td>${a.acknowledged ? when(a.acknowledgedAt) : html`<button type="button" class="secondary" onClick=${() => ack(a)}>Acknowledge</button>`}</td>
          </tr>`}
      />
    </${Page}>
  `;
}
