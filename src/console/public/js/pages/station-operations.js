// Operations on one station (reset, unlock, availability, configuration, trigger, firmware) and
// its command log, through the station's REST routes (/v1/chargestations/:id/…) with the console
// session. Each form shows the station's answer; the log shows every call, the gateway's own too.
import { useState } from 'preact/hooks';
import { api, get, qs, useCursor, useLoad, when } from '../api.js';
import { Badge, Field, html, Notice, PagedTable, Table } from '../ui.js';

const TRIGGERABLE = ['StatusNotification', 'MeterValues', 'Heartbeat', 'BootNotification', 'FirmwareStatusNotification', 'DiagnosticsStatusNotification'];

/** "Reset: Accepted." from a command as the route answers it. */
function answerText(command) {
  if (command.status !== 'answered') return `${command.action}: ${command.status.replace(/_/g, ' ')}.`;
  const status = command.answer?.status;
  return `${command.action}: ${status ?? 'answered'}.`;
}

function answerKind(command) {
  const status = command.answer?.status;
  if (command.status !== 'answered') return 'error';
  return !status || ['Accepted', 'Unlocked', 'Scheduled', 'RebootRequired'].includes(status) ? 'ok' : 'error';
}

/** Sends one operation; its answer (or why there is none) becomes the panel's notice. */
function useOperation(stationId, onDone) {
  const [msg, setMsg] = useState();
  const [busy, setBusy] = useState(false);
  const run = async (method, path, body) => {
    setBusy(true);
    setMsg(undefined);
    try {
      const command = await api(method, `/v1/chargestations/${stationId}/${path}`, body);
      setMsg({ kind: answerKind(command), text: answerText(command) });
      return command;
    } catch (err) {
      setMsg({ kind: 'error', text: err.message });
      return undefined;
    } finally {
      setBusy(false);
      onDone();
    }
  };
  return { msg, busy, run };
}

function connectorIds(station) {
  const ids = station.connectors.filter((c) => c.connector_id > 0).map((c) => c.connector_id);
  return ids.length ? ids : [1];
}

export function StationOperations({ station, onDone }) {
  const op = useOperation(station._id, onDone);
  const offline = !station.online;
  const submit = (fn) => (e) => {
    e.preventDefault();
    fn(e.currentTarget.elements);
  };
  const reset = submit((f) => {
    const type = f.namedItem('reset-type').value;
    if (type === 'Hard' && !confirm(`Hard reset ${station.ocpp_id}? It reboots; running transactions are stopped.`)) return;
    op.run('POST', 'reset', { type });
  });
  const unlock = submit((f) => op.run('POST', 'unlock', { connector_id: Number(f.namedItem('unlock-connector').value) }));
  const availability = submit((f) =>
    op.run('POST', 'availability', { connector_id: Number(f.namedItem('availability-connector').value), type: f.namedItem('availability-type').value }),
  );
  const trigger = submit((f) => {
    const connector = f.namedItem('trigger-connector').value;
    op.run('POST', 'trigger', { message: f.namedItem('trigger-message').value, ...(connector ? { connector_id: Number(connector) } : {}) });
  });
  const firmware = submit((f) => {
    const location = f.namedItem('firmware-location').value.trim();
    if (!confirm(`Send ${station.ocpp_id} a firmware update from ${location}?`)) return;
    op.run('POST', 'firmware', { location });
  });
  const ids = connectorIds(station);
  return html`
    <section aria-labelledby="ops-title">
      <h2 id="ops-title">Operations</h2>
      ${offline ? html`<p class="muted">The station is offline: operations are answered “not connected”.</p>` : null}
      ${op.msg ? html`<${Notice} kind=${op.msg.kind}>${op.msg.text}</${Notice}>` : null}
      <form class="inline" onSubmit=${reset} aria-label="Reset">
        <${Field} id="reset-type" label="Reset type">
          <select id="reset-type" name="reset-type">
            <option value="Soft">Soft (restart the software)</option>
            <option value="Hard">Hard (reboot)</option>
          </select>
        </${Field}>
        <button type="submit" disabled=${op.busy}>Reset</button>
      </form>
      <form class="inline" onSubmit=${unlock} aria-label="Unlock connector">
        <${Field} id="unlock-connector" label="Connector to unlock">
          <select id="unlock-connector" name="unlock-connector">${ids.map((c) => html`<option value=${c}>${c}</option>`)}</select>
        </${Field}>
        <button type="submit" disabled=${op.busy}>Unlock connector</button>
      </form>
      <form class="inline" onSubmit=${availability} aria-label="Change availability">
        <${Field} id="availability-connector" label="Availability of">
          <select id="availability-connector" name="availability-connector">
            <option value="0">the whole station</option>
            ${ids.map((c) => html`<option value=${c}>connector ${c}</option>`)}
          </select>
        </${Field}>
        <${Field} id="availability-type" label="Make it">
          <select id="availability-type" name="availability-type">
            <option value="Inoperative">Inoperative (out of service)</option>
            <option value="Operative">Operative</option>
          </select>
        </${Field}>
        <button type="submit" disabled=${op.busy}>Change availability</button>
      </form>
      <form class="inline" onSubmit=${trigger} aria-label="Trigger message">
        <${Field} id="trigger-message" label="Message to ask for">
          <select id="trigger-message" name="trigger-message">${TRIGGERABLE.map((m) => html`<option value=${m}>${m}</option>`)}</select>
        </${Field}>
        <${Field} id="trigger-connector" label="Trigger connector">
          <select id="trigger-connector" name="trigger-connector">
            <option value="">any</option>
            ${ids.map((c) => html`<option value=${c}>${c}</option>`)}
          </select>
        </${Field}>
        <button type="submit" disabled=${op.busy}>Trigger message</button>
      </form>
      <form class="inline" onSubmit=${firmware} aria-label="Firmware update">
        <${Field} id="firmware-location" label="Firmware location (URL)" hint="The station downloads it now and reports its progress">
          <input id="firmware-location" name="firmware-location" type="url" required autocomplete="off" aria-describedby="firmware-location-hint" />
        </${Field}>
        <button type="submit" disabled=${op.busy}>Update firmware</button>
      </form>
      ${station.firmware_status ? html`<p>Firmware update: <${Badge} value=${station.firmware_status} /> ${when(station.firmware_status_at)}</p>` : null}
    </section>
  `;
}

/** Reads the station's configuration (GetConfiguration) and changes one key (ChangeConfiguration). */
export function StationConfiguration({ station, onDone }) {
  const op = useOperation(station._id, onDone);
  const [keys, setKeys] = useState();
  const show = (command) => {
    if (command?.status === 'answered') setKeys((command.answer.configurationKey ?? []).slice().sort((a, b) => a.key.localeCompare(b.key)));
  };
  const read = async () => show(await op.run('GET', 'configuration'));
  const change = async (e) => {
    e.preventDefault();
    const f = e.currentTarget.elements;
    const command = await op.run('PATCH', 'configuration', { key: f.namedItem('config-key').value.trim(), value: f.namedItem('config-value').value });
    // The table shows the value as the station now reports it (read again; the notice keeps the change's answer).
    if (command?.status === 'answered' && keys) {
      show(await api('GET', `/v1/chargestations/${station._id}/configuration`).catch(() => undefined));
      onDone();
    }
  };
  return html`
    <section aria-labelledby="config-title">
      <h2 id="config-title">Configuration</h2>
      ${op.msg ? html`<${Notice} kind=${op.msg.kind}>${op.msg.text}</${Notice}>` : null}
      <p><button type="button" class="secondary" onClick=${read} disabled=${op.busy}>Read configuration</button></p>
      <form class="inline" onSubmit=${change} aria-label="Change configuration">
        <${Field} id="config-key" label="Configuration key">
          <input id="config-key" name="config-key" required autocomplete="off" list="config-keys" maxlength="50" />
        </${Field}>
        <datalist id="config-keys">${(keys ?? []).filter((k) => !k.readonly).map((k) => html`<option value=${k.key} />`)}</datalist>
        <${Field} id="config-value" label="New value">
          <input id="config-value" name="config-value" autocomplete="off" maxlength="500" />
        </${Field}>
        <button type="submit" disabled=${op.busy}>Change configuration</button>
      </form>
      ${keys
        ? html`<${Table} caption="Configuration as read" head=${['Key', 'Value', 'Read-only']}>
            ${keys.map(
              (k) => html`<tr>
                <td>${k.key}</td>
                <td>${k.value ?? '–'}</td>
                <td>${k.readonly ? 'yes' : 'no'}</td>
              </tr>`,
            )}
          </${Table}>`
        : null}
    </section>
  `;
}

function answerCell(c) {
  if (c.status !== 'answered') return c.error ? `${c.error.code}` : '–';
  if (c.answer?.status) return c.answer.status;
  return 'answered';
}

/** The station's command log, newest first: every call, the operator's and the gateway's own. */
export function CommandLog({ stationId, version }) {
  const cursor = useCursor(stationId);
  const list = useLoad(() => get(`/v1/chargestations/${stationId}/commands${qs({ limit: 20, cursor: cursor.cursor })}`), [stationId, cursor.cursor, version]);
  return html`
    <section aria-labelledby="commands-title">
      <h2 id="commands-title">Command log</h2>
      <p class="muted">Every call sent to this station: by an operator (the API key) or by the gateway itself, and why.</p>
      <${PagedTable}
        list=${list}
        cursor=${cursor}
        label="Command log"
        caption="Calls sent to this station"
        head=${['Sent', 'Action', 'Status', 'Answer', 'Requested by', 'Reason']}
        empty="No call has been sent to this station yet."
        row=${(c) => html`<tr data-testid="command">
            <td>${when(c.createdAt)}</td>
            <td>${c.action}</td>
            <td><${Badge} value=${c.status} tone=${c.status === 'answered' ? 'ok' : c.status === 'pending' ? 'warn' : 'bad'} /></td>
            <td>${answerCell(c)}</td>
            <td>${c.requested_by}</td>
            <td>${c.reason ? c.reason.replace(/_/g, ' ') : '–'}</td>
          </tr>`}
      />
    </section>
  `;
}
