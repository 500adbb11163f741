import { useRef, useState } from 'preact/hooks';
import { ago, api, energy, get, money, qs, useCursor, useLive, useLoad, useThrottled, when } from '../api.js';
import { act, Badge, ErrorNotice, Facts, Field, html, Notice, Page, PagedTable, Pending, remoteStop, Table } from '../ui.js';
import { CommandLog, StationConfiguration, StationOperations } from './station-operations.js';

const PAGE_SIZE = 25;

function Connectors({ connectors }) {
  if (!connectors.length) return html`<span class="muted">none reported</span>`;
  return connectors.map(
    (c) => html`<span class="connector">#${c.connector_id} <${Badge} value=${c.status} /></span>`,
  );
}

export function StationList() {
  const [q, setQ] = useState('');
  const cursor = useCursor(q);
  const list = useLoad(() => get(`/v1/chargestations${qs({ limit: PAGE_SIZE, q, cursor: cursor.cursor })}`), [q, cursor.cursor]);
  const refresh = useThrottled(list.reload, 1000);
  const live = useLive({ types: 'station', lifecycle: 'true' }, (_type, e) => {
    if (list.data?.data.some((s) => s._id === e.id)) refresh();
  });
  const typing = useRef();
  const onSearch = (e) => {
    const value = e.currentTarget.value.trim();
    clearTimeout(typing.current);
    typing.current = setTimeout(() => setQ(value), 250);
  };
  return html`
    <${Page} title="Stations" live=${live}>
      <form class="inline" role="search" onSubmit=${(e) => e.preventDefault()}>
        <${Field} id="station-search" label="Search by identity" hint="Identities that start with this (ignoring case)">
          <input id="station-search" type="search" onInput=${onSearch} aria-describedby="station-search-hint" />
        </${Field}>
      </form>
      <${PagedTable}
        list=${list}
        cursor=${cursor}
        label="Stations"
        caption="Charge stations"
        head=${['Identity', 'Connection', 'Connectors', 'Last heartbeat', 'Model', 'Active']}
        empty=${html`No stations${q ? ` starting with “${q}”` : ''}.`}
        row=${(s) => html`<tr>
            <td><a href=${`#/stations/${s._id}`}>${s.ocpp_id}</a></td>
            <td><${Badge} value=${s.online ? 'online' : 'offline'} /></td>
            <td><${Connectors} connectors=${s.connectors} /></td>
            <td>${ago(s.lastHeartbeat)}</td>
            <td>${[s.boot.vendor, s.boot.model].filter(Boolean).join(' ') || '–'}</td>
            <td>${s.active ? 'yes' : html`<${Badge} value="inactive" />`}</td>
          </tr>`}
      />
    </${Page}>
  `;
}

function RemoteStart({ station, onDone }) {
  const [msg, setMsg] = useState();
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const f = e.currentTarget.elements;
    setBusy(true);
    setMsg(undefined);
    try {
      const email = f.namedItem('start-driver').value.trim();
      const users = await get(`/v1/users${qs({ email, limit: 1 })}`);
      const user = users.data[0];
      if (!user) throw new Error(`No driver with e-mail ${email}.`);
      const r = await api('POST', '/v1/sessions', {
        type: 'wallet',
        chargestation: station._id,
        connector: Number(f.namedItem('start-connector').value),
        user: user._id,
      });
      setMsg({ kind: r.status === 'Accepted' ? 'ok' : 'error', text: `The station answered ${r.status}.` });
      onDone();
    } catch (err) {
      setMsg({ kind: 'error', text: err.message });
    } finally {
      setBusy(false);
    }
  };
  const connectors = station.connectors.filter((c) => c.connector_id > 0).map((c) => c.connector_id);
  return html`
    <form class="inline" onSubmit=${submit} aria-labelledby="remote-start-title">
      <${Field} id="start-connector" label="Connector">
        <select id="start-connector" name="start-connector">
          ${(connectors.length ? connectors : [1]).map((c) => html`<option value=${c}>${c}</option>`)}
        </select>
      </${Field}>
      <${Field} id="start-driver" label="Driver e-mail">
        <input id="start-driver" name="start-driver" type="email" required autocomplete="off" />
      </${Field}>
      <button type="submit" disabled=${busy || !station.online}>Start charging</button>
    </form>
    ${station.online ? null : html`<p class="muted">The station is offline: it cannot be started remotely.</p>`}
    ${msg ? html`<${Notice} kind=${msg.kind}>${msg.text}</${Notice}>` : null}
  `;
}

const yesNo = (v) => (v === true ? 'yes' : v === false ? 'no' : 'not known yet');

export function StationPage({ id }) {
  const station = useLoad(() => get(`/v1/chargestations/${id}`), [id]);
  const running = useLoad(() => get(`/v1/sessions${qs({ chargestation: id, limit: 20 })}`), [id]);
  const [msg, setMsg] = useState();
  // bumped to read the command log again (after an operation, on a live change of the station)
  const [logVersion, setLogVersion] = useState(0);
  const reloadAll = () => {
    station.reload();
    running.reload();
    setLogVersion((v) => v + 1);
  };
  const refresh = useThrottled(reloadAll, 1000);
  const live = useLive({ station: id }, refresh);
  const s = station.data;
  const deactivate = () => {
    if (!confirm(`Deactivate ${s.ocpp_id}? Its connection is closed and it cannot connect again until reactivated.`)) return;
    act(setMsg, async () => {
      await api('DELETE', `/v1/chargestations/${id}`);
      return { kind: 'ok', text: `${s.ocpp_id} is deactivated.` };
    }, reloadAll);
  };
  const stop = (sessionId) => act(setMsg, () => remoteStop(sessionId), reloadAll);
  if (!s) return html`<${Pending} title="Station" state=${station} />`;
  const open = (running.data?.data ?? []).filter((x) => ['active', 'stopping', 'stop_failed'].includes(x.status));
  return html`
    <${Page} title=${`Station ${s.ocpp_id}`} live=${live}>
      <p><a href="#/stations">All stations</a></p>
      <${ErrorNotice} error=${station.error} />
      ${msg ? html`<${Notice} kind=${msg.kind}>${msg.text}</${Notice}>` : null}
      <div class="columns">
        <section aria-labelledby="st-state">
          <h2 id="st-state">State</h2>
          <${Facts}
            items=${[
              ['Connection', html`<${Badge} value=${s.online ? 'online' : 'offline'} />`, 'station-online'],
              ['Active', s.active ? 'yes' : 'no (deactivated)'],
              ['Last heartbeat', s.lastHeartbeat ? `${when(s.lastHeartbeat)} (${ago(s.lastHeartbeat)})` : 'never'],
              ['Rate', s.rate ? html`<a href="#/rates">${s.rate}</a>` : 'none'],
              ['Organization', s.organization],
            ]}
          />
        </section>
        <section aria-labelledby="st-boot">
          <h2 id="st-boot">Boot</h2>
          <${Facts}
            items=${[
              ['Vendor', s.boot.vendor],
              ['Model', s.boot.model],
              ['Serial number', s.boot.serial_number ?? s.boot.charge_box_serial_number],
              ['Firmware', s.boot.firmware_version],
              ['Booted', when(s.boot.booted_at)],
            ]}
          />
        </section>
        <section aria-labelledby="st-learnt">
          <h2 id="st-learnt">Learnt</h2>
          <${Facts}
            items=${[
              ['TriggerMessage MeterValues', yesNo(s.capabilities?.trigger_meter_values)],
              ['Shorter sample interval', yesNo(s.capabilities?.sample_interval_change)],
              ['Smart Charging', yesNo(s.capabilities?.smart_charging)],
              ['Stop delay', s.capabilities?.stop_delay_s.time == null ? 'not measured' : `${s.capabilities.stop_delay_s.time.toFixed(2)} s`],
            ]}
          />
        </section>
      </div>
      <h2>Connectors</h2>
      <${Table} caption="Connectors" head=${['Connector', 'Status', 'Error code', 'Since', 'Rate override']}>
        ${s.connectors.map(
          (c) => html`<tr>
            <td>${c.connector_id === 0 ? '0 (station)' : c.connector_id}</td>
            <td><${Badge} value=${c.status} /></td>
            <td>${c.error_code ?? '–'}</td>
            <td>${when(c.status_at)}</td>
            <td>${c.rate ?? '–'}</td>
          </tr>`,
        )}
      </${Table}>
      <h2>Sessions running here</h2>
      ${open.length
        ? html`<${Table} caption="Sessions running on this station" head=${['Session', 'Connector', 'Status', 'Energy', 'Cost', 'Action']}>
            ${open.map(
              (x) => html`<tr>
                <td><a href=${`#/sessions/${x._id}`}>${x.transaction_id}</a></td>
                <td>${x.connector_id}</td>
                <td><${Badge} value=${x.status} /></td>
                <td class="num">${energy(x.energy_wh)}</td>
                <td class="num">${money(x.cost.amount, x.cost.currency)}</td>
                <td><button type="button" class="secondary" onClick=${() => stop(x._id)}>Stop transaction ${x.transaction_id}</button></td>
              </tr>`,
            )}
          </${Table}>`
        : html`<p class="muted">No session is running on this station.</p>`}
      <h2 id="remote-start-title">Remote start</h2>
      <${RemoteStart} station=${s} onDone=${reloadAll} />
      <${StationOperations} station=${s} onDone=${reloadAll} />
      <${StationConfiguration} station=${s} onDone=${reloadAll} />
      <${CommandLog} stationId=${id} version=${logVersion} />
      <h2>Deactivate</h2>
      <p class="muted">A deactivated station is disconnected and refused until it is activated again; nothing is deleted.</p>
      <button type="button" class="danger" onClick=${deactivate} disabled=${!s.active}>Deactivate ${s.ocpp_id}</button>
    </${Page}>
  `;
}
