/**
 * What nodes tell each other over LISTEN/NOTIFY. A notification is only a wake-up: what it
 * announces is in a table, and a node that may have missed notifications reads the tables again.
 * NOTIFY payloads stop at 8,000 bytes, so a call or an answer too large to ride along is announced
 * by its id alone and read from its row.
 */
export type Notice =
  /** a call for a station this node holds (`c` absent: read it from station_calls) */
  | { t: 'call'; id: string; c?: ForwardedCall }
  /** the answer to a call this node forwarded (`a` absent: read it from station_calls) */
  | { t: 'done'; id: string; a?: Answer }
  /** another node now holds this identity, with this connection epoch */
  | { t: 'evict'; i: string; e: number }
  /**
   * stop these sessions (a wallet at zero, debited on another node; see StopRelay): session id,
   * transaction id, station identity, station id
   */
  | { t: 'stop'; s: [string, number, string, string][] };

/** A call to a station, as the node that holds it receives it. */
export interface ForwardedCall {
  identity: string;
  /** an OCPP call, or closing the connection (`params.reason`) */
  kind: 'call' | 'disconnect';
  action: string;
  params: unknown;
  urgent: boolean;
  timeoutMs: number;
}

/**
 * How a forwarded call ended on the node that holds the station: `answer` (the station's
 * CALLRESULT in `r`), `not_held` (the station is no longer connected there), `offline` (the
 * connection dropped during the call), `timeout`, `rpc_error` (a CALLERROR: `r` has code, message,
 * details), `error` (`r.message`).
 */
export interface Answer {
  o: 'answer' | 'not_held' | 'offline' | 'timeout' | 'rpc_error' | 'error';
  r?: unknown;
}

/** Payloads at most this long (bytes) ride in the notification; PostgreSQL's limit is 8,000. */
export const MAX_INLINE_PAYLOAD = 7_900;
