import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LedgerCheck } from './ledger.ts';
import type { LoadResult } from './load.ts';
import { renderLatencyChart } from './svg.ts';

/** pass / fail against a target; FAILED = the ledger check failed (the run fails); '' = figure only */
export type Verdict = 'pass' | 'fail' | 'FAILED' | '';

export interface Row {
  scenario: string;
  metric: string;
  value: string;
  baseline: string;
  /** "ratio (target)" or the target */
  ratioTarget: string;
  verdict: Verdict;
}

export interface SeriesPoint {
  offered: number;
  p50: number;
  p95: number;
  p99: number;
  throughput: number;
  failures: number;
}

export interface Series {
  system: string;
  points: SeriesPoint[];
}

/** Collects rows, chart series and raw figures; writes JSON, Markdown and SVG. */
export class Report {
  readonly rows: Row[] = [];
  readonly series = new Map<string, SeriesPoint[]>();
  readonly details: Record<string, unknown> = {};
  readonly errors: string[] = [];
  ledgerFailed = false;

  constructor(readonly meta: Record<string, unknown>) {}

  add(scenario: string, metric: string, value: string, more: Partial<Omit<Row, 'scenario' | 'metric' | 'value'>> = {}): void {
    this.rows.push({ scenario, metric, value, baseline: more.baseline ?? '', ratioTarget: more.ratioTarget ?? '', verdict: more.verdict ?? '' });
  }

  /** A figure with a target: verdict from `pass`. */
  target(scenario: string, metric: string, value: string, target: string, pass: boolean, baseline = '', ratio = ''): void {
    this.add(scenario, metric, value, { baseline, ratioTarget: ratio ? `${ratio} (${target})` : target, verdict: pass ? 'pass' : 'fail' });
  }

  ledger(scenario: string, check: LedgerCheck): void {
    if (!check.ok) this.ledgerFailed = true;
    const value = check.ok
      ? `ok: ${check.sessions} sessions, ${check.wallets} wallets, ${check.entries} entries`
      : `WRONG: ${check.problems.slice(0, 3).join('; ')}`;
    this.add(scenario, 'ledger check', value, { ratioTarget: 'billed exactly once, balances = entries', verdict: check.ok ? 'pass' : 'FAILED' });
    this.details[`${scenario} ledger`] = check;
  }

  /** What the gateway logged at warn level and above (LOG_LEVEL=warn): counts, a sample of each message. */
  gatewayLogs(scenario: string, label: string, logs: { warn: number; error: number; samples: string[]; lines: string[] }): void {
    this.add(scenario, label ? `gateway log ${label}` : 'gateway log', `${logs.warn} warn, ${logs.error} error`, { baseline: logs.samples.slice(0, 4).join(' / ') });
    if (logs.lines.length) this.details[`${scenario} gateway log${label ? ' ' + label : ''}`] = logs.lines;
  }

  point(system: string, r: LoadResult): void {
    const list = this.series.get(system) ?? [];
    list.push({
      offered: r.offeredRate ?? 0,
      p50: r.latency.p50,
      p95: r.latency.p95,
      p99: r.latency.p99,
      throughput: r.throughput,
      failures: r.errors + r.timeouts + r.shed + r.unsentAtEnd,
    });
    this.series.set(system, list);
  }

  get failed(): boolean {
    return this.ledgerFailed || this.errors.length > 0;
  }

  markdown(): string {
    const status = this.ledgerFailed ? 'FAILED (ledger check)' : this.errors.length ? 'FAILED (harness error)' : 'ok';
    const esc = (s: string) => s.replace(/\|/g, '\\|');
    const lines = [
      `# Benchmark ${this.meta.mode} run, ${this.meta.startedAt}`,
      '',
      `Status: **${status}**. ${this.meta.machineLine ?? ''}`,
      '',
      '| scenario | metric | value | baseline | ratio/target | pass/fail |',
      '|---|---|---|---|---|---|',
      ...this.rows.map((r) => `| ${esc(r.scenario)} | ${esc(r.metric)} | ${esc(r.value)} | ${esc(r.baseline)} | ${esc(r.ratioTarget)} | ${r.verdict} |`),
    ];
    if (this.errors.length) lines.push('', '## Harness errors', '', ...this.errors.map((e) => '    ' + e.replace(/\n/g, '\n    ')));
    return lines.join('\n') + '\n';
  }

  json(): object {
    return {
      ...this.meta,
      status: this.ledgerFailed ? 'FAILED' : this.errors.length ? 'ERROR' : 'ok',
      rows: this.rows,
      series: [...this.series].map(([system, points]) => ({ system, points })),
      details: this.details,
      errors: this.errors,
    };
  }

  /**
   * Writes results/<timestamp>.json and <latest>.json, .md, .svg; returns the Markdown. A run of
   * some scenarios names its latest files after them, so it never replaces a full run's.
   */
  write(dir: string, latest = 'latest'): string {
    mkdirSync(dir, { recursive: true });
    const stamp = String(this.meta.startedAt).replace(/[:.]/g, '-');
    const json = JSON.stringify(this.json(), null, 2) + '\n';
    writeFileSync(path.join(dir, `${stamp}.json`), json);
    writeFileSync(path.join(dir, `${latest}.json`), json);
    const md = this.markdown();
    writeFileSync(path.join(dir, `${latest}.md`), md);
    const series = [...this.series].map(([system, points]) => ({ system, points }));
    const title = `CALL→CALLRESULT latency vs offered MeterValues/s (${this.meta.mode} run, ${this.meta.startedAt})`;
    if (series.length) writeFileSync(path.join(dir, `${latest}.svg`), renderLatencyChart(series, title));
    return md;
  }
}

/** A ratio to 2 decimals, or 3 when 2 would hide which side of `limit` it is on. */
export function fmtRatio(v: number, limit: number): string {
  const two = v.toFixed(2);
  return Number(two) === limit || (Number(two) < limit) !== (v < limit) ? v.toFixed(3) : two;
}

export const ms = (v: number): string => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
export const fmtLatency = (r: LoadResult): string => `p50 ${ms(r.latency.p50)} / p95 ${ms(r.latency.p95)} / p99 ${ms(r.latency.p99)}`;
export const failuresOf = (r: LoadResult): number => r.errors + r.timeouts + r.shed + r.unsentAtEnd;
export const fmtFailures = (r: LoadResult): string =>
  `${r.errors} errors, ${r.timeouts} timeouts${r.shed || r.unsentAtEnd ? `, ${r.shed + r.unsentAtEnd} not sent (station backlog full)` : ''}`;
