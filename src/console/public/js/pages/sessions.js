import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { energy, get, money, power, qs, useCursor, useLive, useLoad, useThrottled, when } from '../api.js';
import { act, Badge, Facts, Field, html, Notice, Page, PagedTable, Pending, remoteStop, Table } from '../ui.js';

const PAGE_SIZE = 25;
const OPEN = ['active', 'stopping', 'stop_failed'];
const STATUSES = ['', 'active', 'stopping', 'stop_failed', 'completed', 'rejected'];

export function SessionList() {
  const [status, setStatus] = useState('');
  const cursor = useCursor(status);
  const list = useLoad(() => get(`/v1/sessions${qs({ limit: PAGE_SIZE, status, cursor: cursor.cursor })}`), [status, cursor.cursor]);
  const [figures, setFigures] = useState({});
  const refresh = useThrottled(list.reload, 1000);
  const live = useLive({ types: 'session' }, (_type, e) => {
    const shown = list.data?.data.some((s) => s._id === e.id);
    if (e.refresh && (shown || cursor.page === 1)) refresh();
    else if (shown && e.energy_wh !== undefined) setFigures((f) => ({ ...f, [e.id]: e }));
  });
  useEffect(() => setFigures({}), [list.data]);
  return html`
    <${Page} title="Sessions" live=${live}>
      <form class="inline" onSubmit=${(e) => e.preventDefault()}>
        <${Field} id="session-status" label="Status">
          <select id="session-status" onChange=${(e) => setStatus(e.currentTarget.value)}>
            ${STATUSES.map((s) => html`<option value=${s}>${s ? s.replace('_', ' ') : 'any'}</option>`)}
          </select>
        </${Field}>
      </form>
      <${PagedTable}
        list=${list}
        cursor=${cursor}
        label="Sessions"
        caption="Sessions, newest first"
        head=${['Transaction', 'Status', 'Started', 'Station', 'Energy', 'Power', { label: 'Cost', num: true }, 'Ended because']}
        empty=${html`No sessions.`}
        row=${(s) => {
          const f = figures[s._id] ?? {};
          return html`<tr>
            <td><a href=${`#/sessions/${s._id}`}>${s.transaction_id}</a></td>
            <td><${Badge} value=${s.status} /></td>
            <td>${when(s.started_at)}</td>
            <td><a href=${`#/stations/${s.chargestation}`}>connector ${s.connector_id}</a></td>
            <td class="num">${energy(f.energy_wh ?? s.energy_wh)}</td>
            <td class="num">${OPEN.includes(s.status) ? power(f.power_w ?? s.power_w) : '–'}</td>
            <td class="num">${money(f.cost ?? s.cost.amount, s.cost.currency)}</td>
            <td>${s.termination ? s.termination.replace(/_/g, ' ') : '–'}</td>
          </tr>`;
        }}
      />
    </${Page}>
  `;
}

/** A uPlot line chart that follows its container's width; `data` is [xs, ...series]. */
function Chart({ id, caption, series, data, axisLabel, format }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const opts = {
      width: Math.max(280, box.current.clientWidth),
      height: 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{}, { label: axisLabel, values: (_u, ticks) => ticks.map(format), size: 70 }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true, value: (_u, v) => format(v) }))],
    };
    plot.current = new uPlot(opts, data, box.current);
    const resize = new ResizeObserver(() => {
      if (box.current && plot.current) plot.current.setSize({ width: Math.max(280, box.current.clientWidth), height: 220 });
    });
    resize.observe(box.current);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => plot.current?.setData(data), [data]);
  return html`
    <figure class="chart" aria-labelledby=${`${id}-caption`}>
      <figcaption id=${`${id}-caption`}>${caption}</figcaption>
      <div class="chart-box" ref=${box} role="img" aria-label=${`${caption} over time; the latest values are listed beside it`}></div>
      <div class="legend" aria-hidden="true">
        ${series.map((s) => html`<span class=${`swatch-${s.key}`}>${s.label}</span>`)}
      </div>
    </figure>
  `;
}

/** Why a session ended, in words an operator (or a driver on the phone) understands. */
function ending(s) {
  if (s.status === 'rejected') return `Refused at start: ${(s.refusal_reason ?? 'not authorized').replace(/_/g, ' ')}.`;
  const reason = s.stop_reason ? ` The station reported stop reason “${s.stop_reason}”.` : '';
  switch (s.termination) {
    case 'insufficient_balance':
      return `Stopped by the gateway: the wallet ran out of money.${reason}`;
    case 'remote':
      return `Stopped by an operator.${reason}`;
    case null:
    case undefined:
      return OPEN.includes(s.status) ? 'Still running.' : `Ended.${reason}`;
    default:
      return `Ended: ${s.termination.replace(/_/g, ' ')}.${reason}`;
  }
}

/** Points of the money chart before the page opened: the session's ledger entries. */
async function history(s) {
  if (!s.user || !s.wallet) return [];
  const entries = [];
  let cursor;
  for (let page = 0; page < 10; page++) {
    const r = await get(`/v1/users/${s.user}/wallet/transactions${qs({ session: s._id, limit: 200, cursor })}`);
    entries.push(...r.data);
    cursor = r.next_cursor;
    if (!cursor) break;
  }
  let debited = 0;
  return entries.map((e) => {
    debited += e.type === 'debit' ? e.amount : -e.amount;
    return { t: Date.parse(e.createdAt) / 1000, debited, balance: e.balance_after };
  });
}

function toSeries(points) {
  const money = [[], [], []];
  const meter = [[], [], []];
  for (const p of [...points].sort((a, b) => a.t - b.t)) {
    money[0].push(p.t);
    money[1].push(p.balance === undefined ? null : p.balance / 100);
    money[2].push(p.debited === undefined ? null : p.debited / 100);
    meter[0].push(p.t);
    meter[1].push(p.power_w === undefined ? null : p.power_w / 1000);
    meter[2].push(p.energy_wh === undefined ? null : p.energy_wh / 1000);
  }
  return { money, meter };
}

export function SessionPage({ id }) {
  const session = useLoad(() => get(`/v1/sessions/${id}`), [id]);
  const s = session.data;
  const wallet = useLoad(() => (s?.user ? get(`/v1/users/${s.user}/wallet`) : Promise.resolve(null)), [s?.user]);
  const alerts = useLoad(() => get(`/v1/alerts${qs({ session: id, limit: 50 })}`), [id]);
  const [points, setPoints] = useState(null);
  const [latest, setLatest] = useState({});
  const [msg, setMsg] = useState();

  useEffect(() => {
    if (!s) return;
    const merge = (before) => setPoints((p) => [...before, ...(p ?? [])]);
    history(s).then(merge, () => merge([]));
  }, [s?._id]);

  // What was just read from the API is newer than the events before it (a settlement, a top-up).
  useEffect(() => setLatest(({ balance }) => ({ balance })), [session.data]);
  useEffect(() => setLatest(({ balance, ...rest }) => rest), [wallet.data]);

  const refresh = useThrottled(() => {
    session.reload();
    wallet.reload();
    alerts.reload();
  }, 500);
  const live = useLive({ types: 'session,wallet,alert', session: id }, (type, e) => {
    if (type === 'session' && e.id === id) {
      if (e.energy_wh !== undefined || e.balance !== undefined) {
        setLatest((l) => ({ ...l, ...e }));
        const t = (e.at ?? Date.now()) / 1000;
        setPoints((p) => [...(p ?? []), { t, ...e }]);
      }
      if (e.refresh) refresh();
    } else if ((type === 'wallet' && e.id === s?.wallet) || (type === 'alert' && e.session === id)) {
      refresh();
    }
  });

  const stop = () => act(setMsg, () => remoteStop(id), refresh);

  if (!s) return html`<${Pending} title="Session" state=${session} />`;
  const currency = s.cost.currency;
  const running = OPEN.includes(s.status);
  const balance = latest.balance ?? wallet.data?.wallet.balance;
  const series = toSeries(points ?? []);
  const moneyFmt = (v) => (v === null || v === undefined ? '–' : money(Math.round(v * 100), currency));
  const kFmt = (v) => (v === null || v === undefined ? '–' : v.toLocaleString(undefined, { maximumFractionDigits: 2 }));
  return html`
    <${Page} title=${`Session ${s.transaction_id}`} live=${live}>
      <p><a href="#/sessions">All sessions</a> · <a href=${`#/stations/${s.chargestation}`}>its station</a>${s.user ? html` · <a href=${`#/drivers/${s.user}`}>its driver</a>` : null}</p>
      ${msg ? html`<${Notice} kind=${msg.kind}>${msg.text}</${Notice}>` : null}
      <div class="columns">
        <section aria-labelledby="now-title">
          <h2 id="now-title">${running ? 'Now' : 'Final'}</h2>
          <${Facts}
            items=${[
              ['Status', html`<${Badge} value=${s.status} />`, 'session-status'],
              ['Power', running ? power(latest.power_w ?? s.power_w) : '–', 'session-power'],
              ['Energy', energy(latest.energy_wh ?? s.energy_wh), 'session-energy'],
              ['Cost', money(latest.cost ?? s.cost.amount, currency), 'session-cost'],
              ['Charged to the wallet', money(latest.debited ?? s.cost.debited, currency), 'session-debited'],
              ['Wallet balance', money(balance, currency), 'wallet-balance'],
            ]}
          />
          ${running ? html`<p><button type="button" class="danger" onClick=${stop}>Stop this session</button></p>` : null}
        </section>
        <section aria-labelledby="end-title">
          <h2 id="end-title">${running ? 'Stopping' : 'How it ended'}</h2>
          <p data-testid="session-ending">${ending(s)}</p>
          <${Facts}
            items=${[
              ['Termination', s.termination, 'session-termination'],
              ['Stop reason (station)', s.stop_reason, 'session-stop-reason'],
              ['Stop requested', when(s.stop_requested_at)],
              ['Stop attempts', String(s.stop_attempts), 'session-stop-attempts'],
              ['Started', when(s.started_at)],
              ['Stopped', when(s.stopped_at)],
              ['Meter start / stop', `${s.meter_start} Wh / ${s.meter_stop ?? '–'} Wh`],
              ['Token', s.id_tag],
            ]}
          />
        </section>
      </div>
      <${Chart}
        id="money-chart"
        caption=${`Wallet balance and money charged (${currency})`}
        axisLabel=${currency}
        format=${moneyFmt}
        data=${series.money}
        series=${[
          { key: 'balance', label: 'Wallet balance', color: '#0a4fb8' },
          { key: 'cost', label: 'Charged for this session', color: '#b3261e' },
        ]}
      />
      <${Chart}
        id="meter-chart"
        caption="Power (kW) and energy (kWh)"
        axisLabel="kW / kWh"
        format=${kFmt}
        data=${series.meter}
        series=${[
          { key: 'power', label: 'Power (kW)', color: '#6b3fa0' },
          { key: 'energy', label: 'Energy (kWh)', color: '#11692f' },
        ]}
      />
      <h2>Alerts</h2>
      ${alerts.data?.data.length
        ? html`<${Table} caption="Alerts of this session" head=${['When', 'Kind', 'Message', 'State']}>
            ${alerts.data.data.map(
              (a) => html`<tr>
                <td>${when(a.createdAt)}</td>
                <td>${a.kind.replace(/_/g, ' ')}</td>
                <td>${a.message}</td>
                <td><${Badge} value=${a.acknowledged ? 'acknowledged' : 'open'} /></td>
              </tr>`,
            )}
          </${Table}>`
        : html`<p class="muted">No alert for this session.</p>`}
    </${Page}>
  `;
}
