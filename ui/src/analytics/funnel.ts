/**
 * The analytics screen's numbers: the funnel sent -> delivered -> opened -> clicked ->
 * converted (attributed orders) from the daily rollups' totals, with each stage's share of
 * the first and of the one before; and the days as chart rows. Pure.
 */

import type { Daily, DailyCounts } from '../api/types';

export interface Stage {
  stage: string;
  count: number;
  /** of the first stage (sent), 0-100 */
  ofSent: number;
  /** of the stage before, 0-100 (100 for the first) */
  ofPrevious: number;
}

const STAGES: [string, (t: DailyCounts) => number][] = [
  ['sent', (t) => t.sent],
  ['delivered', (t) => t.delivered],
  ['opened', (t) => t.opened],
  ['clicked', (t) => t.clicked],
  ['converted', (t) => t.orders],
];

const pct = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : 0);

export function funnelOf(totals: DailyCounts): Stage[] {
  const counts = STAGES.map(([, read]) => read(totals));
  return STAGES.map(([stage], i) => ({
    stage,
    count: counts[i],
    ofSent: pct(counts[i], counts[0]),
    ofPrevious: i === 0 ? 100 : pct(counts[i], counts[i - 1]),
  }));
}

export interface DayRow {
  day: string;
  sent: number;
  opened: number;
  clicked: number;
  orders: number;
  revenue: number;
}

/** One row a day, the gaps filled with zeros so the time axis is even; revenue of one currency. */
export function dayRows(daily: Daily, currency: string | null): DayRow[] {
  if (daily.days.length === 0) return [];
  const byDay = new Map(daily.days.map((d) => [d.day, d]));
  const rows: DayRow[] = [];
  const last = new Date(`${daily.days[daily.days.length - 1].day}T00:00:00Z`);
  for (let at = new Date(`${daily.days[0].day}T00:00:00Z`); at <= last; at = new Date(at.getTime() + 86_400_000)) {
    const day = at.toISOString().slice(0, 10);
    const d = byDay.get(day);
    rows.push({
      day, sent: d?.sent ?? 0, opened: d?.opened ?? 0, clicked: d?.clicked ?? 0, orders: d?.orders ?? 0,
      revenue: d && currency !== null ? d.revenue[currency] ?? 0 : 0,
    });
  }
  return rows;
}

/** The currency with the most revenue (null without revenue). */
export function mainCurrency(totals: DailyCounts): string | null {
  const entries = Object.entries(totals.revenue);
  if (entries.length === 0) return null;
  return entries.sort((a, b) => b[1] - a[1])[0][0];
}
