import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, setCsrfToken, whenSignedOut, get } from './api.js';
import { html, Notice } from './ui.js';
import { Overview } from './pages/overview.js';
import { StationList, StationPage } from './pages/stations.js';
import { SessionList, SessionPage } from './pages/sessions.js';
import { DriverList, DriverPage } from './pages/drivers.js';
import { Rates } from './pages/rates.js';
import { Alerts } from './pages/alerts.js';
import { WebhookPage, Webhooks } from './pages/webhooks.js';

const NAV = [
  ['#/', 'Overview'],
  ['#/stations', 'Stations'],
  ['#/sessions', 'Sessions'],
  ['#/drivers', 'Drivers'],
  ['#/rates', 'Rates'],
  ['#/alerts', 'Alerts'],
  ['#/webhooks', 'Webhooks'],
];

/** Hash routes: #/stations/<id> and so on. Other fragments (#main) are not routes. */
function route() {
  const hash = location.hash.startsWith('#/') ? location.hash : '#/';
  const [, section = '', id] = hash.slice(1).split('/');
  return { section, id: id ? decodeURIComponent(id) : undefined };
}

function useRoute() {
  const [r, setR] = useState(route);
  useEffect(() => {
    const on = () => {
      if (location.hash === '' || location.hash.startsWith('#/')) setR(route());
    };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return r;
}

function Content({ r, me }) {
  switch (r.section) {
    case '':
      return html`<${Overview} />`;
    case 'stations':
      return r.id ? html`<${StationPage} id=${r.id} />` : html`<${StationList} />`;
    case 'sessions':
      return r.id ? html`<${SessionPage} id=${r.id} />` : html`<${SessionList} />`;
    case 'drivers':
      return r.id ? html`<${DriverPage} id=${r.id} />` : html`<${DriverList} />`;
    case 'rates':
      return html`<${Rates} />`;
    case 'alerts':
      return html`<${Alerts} />`;
    case 'webhooks':
      return r.id ? html`<${WebhookPage} id=${r.id} />` : html`<${Webhooks} />`;
    default:
      return html`<h1>Not found</h1><p>No page here. <a href="#/">Back to the overview</a>.</p>`;
  }
}

function SignIn({ onSignedIn }) {
  const [error, setError] = useState();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    document.title = 'Sign in · Gateway console';
  }, []);
  const submit = async (e) => {
    e.preventDefault();
    const input = e.currentTarget.elements.namedItem('key');
    setBusy(true);
    setError(undefined);
    try {
      const session = await api('POST', '/console/api/session', { key: input.value.trim() });
      input.value = '';
      onSignedIn(session);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That API key is not valid.' : err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main id="main" class="signin">
      <h1>Gateway console</h1>
      <p class="hint">Sign in with an admin API key. A key scoped to an organization shows only that organization.</p>
      <form method="post" action="/console/api/session" onSubmit=${submit}>
        <div class="field">
          <label for="key">Admin API key</label>
          <input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required autofocus />
        </div>
        <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
        ${error ? html`<${Notice} kind="error">${error}</${Notice}>` : null}
      </form>
    </main>
  `;
}

function Shell({ me, onSignOut }) {
  const r = useRoute();
  const [org, setOrg] = useState();
  useEffect(() => {
    if (me.organization) get(`/v1/organizations/${me.organization}`).then((o) => setOrg(o.name), () => setOrg(me.organization));
  }, [me.organization]);
  const current = `#/${r.section}`;
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/">Gateway console</a>
      <nav class="main" aria-label="Main">
        <ul>
          ${NAV.map(([href, label]) => html`<li><a href=${href} aria-current=${href === current ? 'page' : undefined}>${label}</a></li>`)}
        </ul>
      </nav>
      <div class="who">
        <span data-testid="scope">${me.organization ? `Organization: ${org ?? '…'}` : 'All organizations'}</span>
        <button type="button" onClick=${onSignOut}>Sign out</button>
      </div>
    </header>
    <main id="main" tabindex="-1"><${Content} r=${r} me=${me} /></main>
  `;
}

function App() {
  const [me, setMe] = useState(undefined); // undefined: checking; null: signed out
  const signedIn = (session) => {
    setCsrfToken(session.csrf_token);
    setMe(session);
  };
  useEffect(() => {
    whenSignedOut(() => {
      setCsrfToken(null);
      setMe(null);
    });
    api('GET', '/console/api/session').then(signedIn, () => setMe(null));
  }, []);
  const signOut = async () => {
    await api('DELETE', '/console/api/session').catch(() => {});
    setCsrfToken(null);
    setMe(null);
  };
  if (me === undefined) return html`<main id="main"><p>Loading…</p></main>`;
  if (me === null) return html`<${SignIn} onSignedIn=${signedIn} />`;
  return html`<${Shell} me=${me} onSignOut=${signOut} />`;
}

render(html`<${App} />`, document.getElementById('app'));
