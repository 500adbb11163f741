import { energy, get, money, qs, useLive, useLoad, useThrottled } from '../api.js';
import { ErrorNotice, html, Page } from '../ui.js';

function midnight() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

function Card({ title, children, testId }) {
  return html`<section class="card" aria-labelledby=${`${testId}-title`}>
    <h2 id=${`${testId}-title`}>${title}</h2>
    <div class="figure" data-testid=${testId}>${children}</div>
  </section>`;
}

export function Overview() {
  const { data, error, reload } = useLoad(() => get(`/v1/overview${qs({ since: midnight() })}`), []);
  const refresh = useThrottled(reload, 2000);
  // Starts, stops, connections and alerts move these figures; billing alone is left out so a
  // busy gateway does not stream every reading here.
  const live = useLive({ types: 'station,session,alert', lifecycle: 'true' }, refresh);
  return html`
    <${Page} title="Overview" live=${live}>
      <${ErrorNotice} error=${error} />
      ${data
        ? html`
            <div class="cards">
              <${Card} title="Stations online" testId="stations-online">
                ${data.stations.online} <small>of ${data.stations.total}</small>
              </${Card}>
              <${Card} title="Stations offline" testId="stations-offline">${data.stations.offline}</${Card}>
              <${Card} title="Active sessions" testId="sessions-active">
                ${data.sessions.active}
                ${data.sessions.stopping ? html` <small>${data.sessions.stopping} stopping</small>` : null}
                ${data.sessions.stop_failed ? html` <small>${data.sessions.stop_failed} stop failed</small>` : null}
              </${Card}>
              <${Card} title="Energy today" testId="energy-today">${energy(data.since.energy_wh)}</${Card}>
              <${Card} title="Money today" testId="money-today">
                ${data.since.debited.length ? data.since.debited.map((d) => html`<div>${money(d.amount, d.currency)}</div>`) : money(0)}
              </${Card}>
              <${Card} title="Open alerts" testId="alerts-open">
                <a href="#/alerts">${data.alerts.open}</a>
              </${Card}>
            </div>
            <p class="hint">
              Today: ${data.since.sessions} session${data.since.sessions === 1 ? '' : 's'} started since midnight (your time);
              energy and money are what those sessions have used and cost so far.
            </p>
          `
        : html`<p>Loading…</p>`}
    </${Page}>
  `;
}
