import { useState } from 'preact/hooks';
import { api, ApiError, get, money, parseAmount, qs, useCursor, useLive, useLoad, useThrottled, when } from '../api.js';
import { Badge, ErrorNotice, Facts, Field, html, Notice, Page, PagedTable, Pending, Table } from '../ui.js';

const PAGE_SIZE = 25;

function fullName(u) {
  return [u.firstname, u.lastname].filter(Boolean).join(' ') || u.email || u._id;
}

export function DriverList() {
  const [email, setEmail] = useState('');
  const cursor = useCursor(email);
  const list = useLoad(() => get(`/v1/users${qs({ limit: PAGE_SIZE, email, cursor: cursor.cursor })}`), [email, cursor.cursor]);
  return html`
    <${Page} title="Drivers">
      <form
        class="inline"
        role="search"
        onSubmit=${(e) => {
          e.preventDefault();
          setEmail(e.currentTarget.elements.namedItem('driver-email').value.trim());
        }}
      >
        <${Field} id="driver-email" label="Find by e-mail">
          <input id="driver-email" name="driver-email" type="search" autocomplete="off" />
        </${Field}>
        <button type="submit">Find</button>
      </form>
      <${PagedTable}
        list=${list}
        cursor=${cursor}
        label="Drivers"
        caption="Drivers"
        head=${['Name', 'E-mail', 'Active', 'Created']}
        empty=${html`No drivers${email ? ` with e-mail ${email}` : ''}.`}
        row=${(u) => html`<tr>
            <td><a href=${`#/drivers/${u._id}`}>${fullName(u)}</a></td>
            <td>${u.email ?? '–'}</td>
            <td>${u.active ? 'yes' : html`<${Badge} value="inactive" />`}</td>
            <td>${when(u.createdAt)}</td>
          </tr>`}
      />
    </${Page}>
  `;
}

/**
 * A manual top-up. Each rendering of the form has its own Idempotency-Key: submitting it twice
 * (a double click, a retry after a network error) credits the wallet once. A new key comes with
 * the next form, after a top-up went through.
 */
function TopUpForm({ wallet, onDone }) {
  const [key, setKey] = useState(() => crypto.randomUUID());
  const [busy, setBusy] = useState(0);
  const [msg, setMsg] = useState();
  const submit = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const amount = parseAmount(form.elements.namedItem('top-up-amount').value);
    if (!(amount > 0)) {
      setMsg({ kind: 'error', text: 'Enter an amount such as 10.00.' });
      return;
    }
    setBusy((n) => n + 1);
    try {
      const t = await api('POST', '/v1/top_up', { type: 'manual', wallet: wallet._id, amount }, { 'idempotency-key': key });
      setMsg({ kind: 'ok', text: `Credited ${money(t.wallet_amount, t.currency)} (top-up ${t._id}).` });
      form.reset();
      setKey(crypto.randomUUID());
      onDone();
    } catch (err) {
      setMsg({ kind: 'error', text: err.message });
    } finally {
      setBusy((n) => n - 1);
    }
  };
  return html`
    <form id="top-up" class="inline" onSubmit=${submit} aria-labelledby="top-up-title" data-idempotency-key=${key}>
      <${Field} id="top-up-amount" label=${`Amount (${wallet.currency})`}>
        <input id="top-up-amount" name="top-up-amount" inputmode="decimal" required autocomplete="off" />
      </${Field}>
      <button type="submit" disabled=${busy > 0}>Top up</button>
    </form>
    ${msg ? html`<${Notice} kind=${msg.kind}>${msg.text}</${Notice}>` : null}
  `;
}

/**
 * Auto top-up settings: shown from the wallet object. The form sends PATCH /v1/users/:id/wallet
 * (SPEC section 6); a gateway without that route says so instead of pretending.
 */
function AutoTopUp({ user, wallet, onDone }) {
  const a = wallet.auto_top_up;
  const [msg, setMsg] = useState();
  const submit = async (e) => {
    e.preventDefault();
    const f = e.currentTarget.elements;
    const amount = parseAmount(f.namedItem('auto-amount').value);
    const thresholdText = f.namedItem('auto-threshold').value.trim();
    const threshold = thresholdText ? parseAmount(thresholdText) : null;
    if (threshold !== null && !Number.isFinite(threshold)) {
      setMsg({ kind: 'error', text: 'Ask below: enter an amount such as 10.00, or leave it empty for the organization\'s minimum.' });
      return;
    }
    try {
      await api('PATCH', `/v1/users/${user}/wallet`, {
        auto_top_up: {
          active: f.namedItem('auto-active').checked,
          payment_method: f.namedItem('auto-method').value.trim() || null,
          amount: Number.isFinite(amount) ? amount : 0,
          threshold,
        },
      });
      setMsg({ kind: 'ok', text: 'Auto top-up saved.' });
      onDone();
    } catch (err) {
      const missing = err instanceof ApiError && err.status === 404 && /no route/.test(err.message);
      setMsg({ kind: 'error', text: missing ? 'This gateway cannot change auto top-up settings yet (no PATCH /v1/users/:id/wallet).' : err.message });
    }
  };
  return html`
    <${Facts}
      items=${[
        ['Active', a.active ? 'yes' : 'no', 'auto-top-up-active'],
        ['Payment method', a.payment_method ?? 'none'],
        ['Amount', money(a.amount, wallet.currency)],
        ['Asks below', a.threshold === undefined ? "the organization's minimum" : money(a.threshold, wallet.currency)],
      ]}
    />
    <form class="inline" onSubmit=${submit} aria-labelledby="auto-title">
      <div class="field">
        <label for="auto-active">Active</label>
        <input id="auto-active" name="auto-active" type="checkbox" checked=${a.active} />
      </div>
      <${Field} id="auto-method" label="Payment method">
        <input id="auto-method" name="auto-method" value=${a.payment_method ?? ''} autocomplete="off" />
      </${Field}>
      <${Field} id="auto-amount" label=${`Auto top-up amount (${wallet.currency})`}>
        <input id="auto-amount" name="auto-amount" inputmode="decimal" value=${(a.amount / 100).toFixed(2)} autocomplete="off" />
      </${Field}>
      <${Field} id="auto-threshold" label=${`Ask below (${wallet.currency})`} hint="Empty: the organization's minimum balance.">
        <input id="auto-threshold" name="auto-threshold" inputmode="decimal" value=${a.threshold === undefined ? '' : (a.threshold / 100).toFixed(2)} autocomplete="off" aria-describedby="auto-threshold-hint" />
      </${Field}>
      <button type="submit" class="secondary">Save auto top-up</button>
    </form>
    ${msg ? html`<${Notice} kind=${msg.kind}>${msg.text}</${Notice}>` : null}
  `;
}

export function DriverPage({ id }) {
  const user = useLoad(() => get(`/v1/users/${id}/wallet`), [id]);
  const tokens = useLoad(() => get(`/v1/tokens${qs({ user: id, limit: 50 })}`), [id]);
  const cursor = useCursor(id);
  const ledger = useLoad(() => get(`/v1/users/${id}/wallet/transactions${qs({ limit: 20, cursor: cursor.cursor })}`), [id, cursor.cursor]);
  const refresh = useThrottled(() => {
    user.reload();
    ledger.reload();
  }, 1000);
  const wallet = user.data?.wallet;
  const live = useLive(wallet ? { types: 'session,wallet', wallet: wallet._id } : null, refresh);
  if (!user.data) return html`<${Pending} title="Driver" state=${user} />`;
  const u = user.data;
  return html`
    <${Page} title=${`Driver ${fullName(u)}`} live=${live}>
      <p><a href="#/drivers">All drivers</a> · <a href=${`#/sessions`}>Sessions</a></p>
      <div class="columns">
        <section aria-labelledby="driver-title">
          <h2 id="driver-title">Driver</h2>
          <${Facts}
            items=${[
              ['E-mail', u.email],
              ['Active', u.active ? 'yes' : 'no'],
              ['Role', u.role],
              ['Organization', u.organization],
              ['Since', when(u.createdAt)],
            ]}
          />
        </section>
        <section aria-labelledby="wallet-title">
          <h2 id="wallet-title">Wallet</h2>
          <${Facts}
            items=${[
              ['Balance', money(wallet.balance, wallet.currency), 'driver-balance'],
              ['Currency', wallet.currency],
              ['Test mode', wallet.test_mode ? 'yes' : 'no'],
            ]}
          />
        </section>
      </div>
      <h2>Tokens</h2>
      ${tokens.data?.data.length
        ? html`<${Table} caption="Tokens of this driver" head=${['idTag', 'Type', 'Active', 'Expires']}>
            ${tokens.data.data.map(
              (t) => html`<tr><td>${t.physicalId}</td><td>${t.type}</td><td>${t.active ? 'yes' : 'no'}</td><td>${when(t.expiresAt)}</td></tr>`,
            )}
          </${Table}>`
        : html`<p class="muted">No tokens.</p>`}
      <h2 id="top-up-title">Top up</h2>
      <${TopUpForm} wallet=${wallet} onDone=${refresh} />
      <h2 id="auto-title">Auto top-up</h2>
      <${AutoTopUp} user=${id} wallet=${wallet} onDone=${refresh} />
      <h2>Ledger</h2>
      <${PagedTable}
        list=${ledger}
        cursor=${cursor}
        label="Ledger"
        caption="Wallet ledger, oldest first"
        head=${['When', 'Type', { label: 'Amount', num: true }, { label: 'Balance after', num: true }, 'For']}
        empty=${html`No entries yet.`}
        row=${(e) => html`<tr>
            <td>${when(e.createdAt)}</td>
            <td>${e.type}</td>
            <td class="num">${e.type === 'debit' ? '−' : '+'}${money(e.amount, wallet.currency)}</td>
            <td class="num">${money(e.balance_after, wallet.currency)}</td>
            <td>${e.session ? html`<a href=${`#/sessions/${e.session}`}>session</a>` : e.top_up ? 'top-up' : '–'}</td>
          </tr>`}
      />
    </${Page}>
  `;
}
