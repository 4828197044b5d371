import { describe, expect, it } from 'vitest';

import type { Daily, DailyCounts } from '../api/types';
import { dayRows, funnelOf, mainCurrency } from './funnel';

const counts = (over: Partial<DailyCounts>): DailyCounts => ({
  queued: 0, sent: 0, delivered: 0, opened: 0, clicked: 0, bounced: 0, complained: 0, failed: 0, suppressed: 0,
  orders: 0, revenue: {}, ...over,
});

describe('funnel', () => {
  it('gives each stage its count and shares', () => {
    expect(funnelOf(counts({ sent: 200, delivered: 190, opened: 76, clicked: 19, orders: 4 }))).toEqual([
      { stage: 'sent', count: 200, ofSent: 100, ofPrevious: 100 },
      { stage: 'delivered', count: 190, ofSent: 95, ofPrevious: 95 },
      { stage: 'opened', count: 76, ofSent: 38, ofPrevious: 40 },
      { stage: 'clicked', count: 19, ofSent: 9.5, ofPrevious: 25 },
      { stage: 'converted', count: 4, ofSent: 2, ofPrevious: 21.1 },
    ]);
  });

  it('has no shares of nothing', () => {
    expect(funnelOf(counts({})).map((s) => [s.count, s.ofSent])).toEqual([[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]]);
  });
});

describe('days', () => {
  const daily = (days: Daily['days']): Daily => ({ journey_id: 'j', broadcast_id: null, days, totals: counts({}) });

  it('fills the days between with zeros and picks one currency', () => {
    const rows = dayRows(daily([
      { day: '2026-11-29', ...counts({ sent: 3, orders: 1, revenue: { EUR: 10, USD: 2 } }) },
      { day: '2026-12-02', ...counts({ opened: 1 }) },
    ]), 'EUR');
    expect(rows.map((r) => r.day)).toEqual(['2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02']);
    expect(rows[0]).toEqual({ day: '2026-11-29', sent: 3, opened: 0, clicked: 0, orders: 1, revenue: 10 });
    expect(rows[1].sent).toBe(0);
    expect(rows[3].opened).toBe(1);
    expect(dayRows(daily([]), null)).toEqual([]);
  });

  it('finds the main currency', () => {
    expect(mainCurrency(counts({ revenue: { USD: 5, EUR: 9 } }))).toBe('EUR');
    expect(mainCurrency(counts({}))).toBeNull();
  });
});
