// The console talks to the gateway only through its public REST API (/v1) and the live event
// stream, signed in with an HttpOnly session cookie. The anti-CSRF token lives in memory only.
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';

let csrfToken = null;
let onSignedOut = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}

export function whenSignedOut(fn) {
  onSignedOut = fn;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `request failed (${status})`);
    this.status = status;
    this.code = body?.error?.code ?? 'error';
    this.body = body;
  }
}

/** A JSON request; the session cookie goes along, and the CSRF token on anything but GET. */
export async function api(method, path, body, headers = {}) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(method !== 'GET' && csrfToken ? { 'x-csrf-token': csrfToken } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (res.status === 401 && !path.startsWith('/console/api/session')) onSignedOut();
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

export const get = (path) => api('GET', path);

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

// ---- formatting ------------------------------------------------------------------------------

export function money(cents, currency = 'USD') {
  if (cents === null || cents === undefined) return '–';
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(cents / 100);
}

export function energy(wh) {
  if (wh === null || wh === undefined) return '–';
  return `${(wh / 1000).toLocaleString(undefined, { minimumFractionDigits: 3, maximumFractionDigits: 3 })} kWh`;
}

export function power(w) {
  if (w === null || w === undefined) return '–';
  return `${(w / 1000).toLocaleString(undefined, { maximumFractionDigits: 1 })} kW`;
}

export function when(iso) {
  if (!iso) return '–';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function ago(iso) {
  if (!iso) return 'never';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.max(0, s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return when(iso);
}

/** "12.50" (a currency amount typed by a person) → 1250 cents; NaN when it is not one. */
export function parseAmount(text) {
  const m = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
}

// ---- hooks -----------------------------------------------------------------------------------

/** Runs `load` now and whenever `deps` change; `reload()` runs it again. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true });
  const seq = useRef(0);
  const run = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const data = await load();
      if (mine === seq.current) setState({ data, error: undefined, loading: false });
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, deps);
  useEffect(() => {
    setState((s) => ({ ...s, loading: true }));
    run();
  }, [run]);
  return { ...state, reload: run };
}

/** `fn` at most once per `ms` (the last call wins and is not lost). */
export function useThrottled(fn, ms) {
  const ref = useRef({ fn, timer: undefined, last: 0 });
  ref.current.fn = fn;
  useEffect(() => () => clearTimeout(ref.current.timer), []);
  return useCallback(() => {
    const r = ref.current;
    if (r.timer) return;
    const wait = Math.max(0, r.last + ms - Date.now());
    r.timer = setTimeout(() => {
      r.timer = undefined;
      r.last = Date.now();
      r.fn();
    }, wait);
  }, [ms]);
}

const EVENT_TYPES = ['session', 'station', 'wallet', 'alert'];

/**
 * Live events from GET /v1/events/stream while the component is shown. `query` narrows what
 * the gateway sends (types, session, station, wallet; null: no stream); `onEvent(type, data)` gets each one.
 */
export function useLive(query, onEvent) {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const [state, setState] = useState(query ? 'connecting' : 'off');
  useEffect(() => {
    if (!query) return undefined;
    const source = new EventSource(`/v1/events/stream${qs(query)}`);
    source.addEventListener('ready', () => setState('live'));
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (e) => handler.current(type, JSON.parse(e.data)));
    }
    source.onerror = () => {
      setState(source.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
      // A stream refused for good (signed out, key revoked) is not retried by the browser.
      if (source.readyState === EventSource.CLOSED) api('GET', '/console/api/session').catch(() => onSignedOut());
    };
    return () => source.close();
  }, [JSON.stringify(query)]);
  return state;
}

/** Keyset pages: the cursors seen so far, so "Previous" can go back. */
export function useCursor(resetKey) {
  const [stack, setStack] = useState([undefined]);
  useEffect(() => setStack([undefined]), [resetKey]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length,
    next: (c) => setStack((s) => [...s, c]),
    prev: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
  };
}
