/**
 * Analytics of one journey or broadcast (or the whole workspace): the funnel sent ->
 * delivered -> opened -> clicked -> converted, messages and orders day by day
 * (`GET /v1/analytics/daily`), the journey's steps (`/stats`) and its A/B experiments.
 */

import { useQuery } from '@tanstack/react-query';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useSearchParams } from 'react-router';

import { api, seg } from '../api/client';
import type { Broadcast, Daily, Experiments, Items, JourneyStats, JourneySummary } from '../api/types';
import { dayRows, funnelOf, mainCurrency } from '../analytics/funnel';
import { Empty, ErrorState, Loading, StatusBadge } from '../components/States';

export function AnalyticsPage() {
  const [params, setParams] = useSearchParams();
  const journey = params.get('journey');
  const broadcast = params.get('broadcast');
  const journeys = useQuery({ queryKey: ['journeys'], queryFn: () => api<Items<JourneySummary>>('/v1/journeys') });
  const broadcasts = useQuery({ queryKey: ['broadcasts'], queryFn: () => api<Items<Broadcast>>('/v1/broadcasts') });
  const chosen = journey ? `journey:${journey}` : broadcast ? `broadcast:${broadcast}` : '';
  const query = journey ? `?journey_id=${encodeURIComponent(journey)}` : broadcast ? `?broadcast_id=${encodeURIComponent(broadcast)}` : '';
  const daily = useQuery({ queryKey: ['analytics-daily', chosen], queryFn: () => api<Daily>(`/v1/analytics/daily${query}`), refetchInterval: 10_000 });
  const plainJourneys = (journeys.data?.items ?? []).filter((j) => !j.id.startsWith('broadcast-'));

  return (
    <section className="page analytics">
      <div className="page-head">
        <h1>Analytics</h1>
        <div className="field inline-field">
          <label htmlFor="analytics-of">Of</label>
          <select id="analytics-of" value={chosen} onChange={(e) => {
            const [kind, ...rest] = e.target.value.split(':');
            const id = rest.join(':');
            setParams(kind === 'journey' ? { journey: id } : kind === 'broadcast' ? { broadcast: id } : {});
          }}>
            <option value="">the whole workspace</option>
            <optgroup label="Journeys">
              {plainJourneys.map((j) => <option key={j.id} value={`journey:${j.id}`}>{j.name || j.id}</option>)}
            </optgroup>
            <optgroup label="Broadcasts">
              {(broadcasts.data?.items ?? []).map((b) => <option key={b.id} value={`broadcast:${b.id}`}>{b.name}</option>)}
            </optgroup>
          </select>
        </div>
      </div>
      {daily.isPending && <Loading what="Loading analytics" />}
      {daily.isError && <ErrorState error={daily.error} retry={() => daily.refetch()} />}
      {daily.data && <Charts daily={daily.data} />}
      {journey && <JourneySteps journeyId={journey} />}
      {journey && <ExperimentsReport journeyId={journey} />}
    </section>
  );
}

function Charts({ daily }: { daily: Daily }) {
  const funnel = funnelOf(daily.totals);
  const currency = mainCurrency(daily.totals);
  const rows = dayRows(daily, currency);
  if (daily.days.length === 0) {
    return <Empty title="No messages or orders yet">Numbers show up here once messages go out.</Empty>;
  }
  return (
    <div className="chart-grid">
      <div className="card" data-testid="funnel">
        <h2>Funnel</h2>
        <div className="chart" role="img" aria-label={funnel.map((s) => `${s.stage} ${s.count}`).join(', ')}>
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={funnel} layout="vertical" margin={{ left: 20, right: 30 }}>
              <CartesianGrid strokeDasharray="3 3" horizontal={false} />
              <XAxis type="number" allowDecimals={false} />
              <YAxis type="category" dataKey="stage" width={80} />
              <Tooltip />
              <Bar dataKey="count" name="contacts" fill="#0b69a3" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
        <table className="table compact">
          <thead><tr><th scope="col">Stage</th><th scope="col" className="num">Count</th><th scope="col" className="num">Of sent</th><th scope="col" className="num">Of the step before</th></tr></thead>
          <tbody>
            {funnel.map((s) => (
              <tr key={s.stage} data-stage={s.stage}>
                <th scope="row">{s.stage}{s.stage === 'converted' && <span className="muted small"> (attributed orders)</span>}</th>
                <td className="num">{s.count}</td>
                <td className="num">{s.ofSent}%</td>
                <td className="num">{s.ofPrevious}%</td>
              </tr>
            ))}
          </tbody>
        </table>
        {currency !== null && (
          <p className="muted">Revenue: {Object.entries(daily.totals.revenue).map(([c, v]) => `${v.toFixed(2)} ${c || ''}`).join(', ')}</p>
        )}
      </div>
      <div className="card" data-testid="daily-chart">
        <h2>Day by day</h2>
        <div className="chart" role="img" aria-label={`messages and orders over ${rows.length} day(s)`}>
          <ResponsiveContainer width="100%" height={280}>
            <LineChart data={rows} margin={{ right: 20 }}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="day" />
              <YAxis allowDecimals={false} />
              <Tooltip />
              <Legend />
              <Line type="monotone" dataKey="sent" stroke="#0b69a3" isAnimationActive={false} />
              <Line type="monotone" dataKey="opened" stroke="#046c4e" isAnimationActive={false} />
              <Line type="monotone" dataKey="clicked" stroke="#b45309" isAnimationActive={false} />
              <Line type="monotone" dataKey="orders" stroke="#5521b5" isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </div>
      </div>
    </div>
  );
}

function JourneySteps({ journeyId }: { journeyId: string }) {
  const stats = useQuery({ queryKey: ['journey-stats', journeyId], queryFn: () => api<JourneyStats>(`/v1/journeys/${seg(journeyId)}/stats`), refetchInterval: 5000 });
  if (stats.isPending) return <Loading what="Loading the journey's steps" />;
  if (stats.isError) return <ErrorState error={stats.error} retry={() => stats.refetch()} />;
  const nodes = Object.entries(stats.data.nodes);
  const t = stats.data.totals;
  return (
    <div className="card spaced">
      <h2>Steps</h2>
      <p className="muted">{t.entered} entered · {t.active} in it now · {t.exited} left · {t.goal_reached} reached the goal</p>
      {nodes.length === 0 ? <Empty title="Nobody entered this journey yet" /> : (
        <table className="table compact" data-testid="journey-steps">
          <thead><tr><th scope="col">Step</th><th scope="col" className="num">Entered</th><th scope="col" className="num">Here now</th><th scope="col" className="num">Left the journey here</th></tr></thead>
          <tbody>
            {nodes.map(([node, c]) => (
              <tr key={node}><th scope="row" className="mono">{node}</th><td className="num">{c.entered}</td><td className="num">{c.current}</td><td className="num">{c.exited}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

const share = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);

function ExperimentsReport({ journeyId }: { journeyId: string }) {
  const report = useQuery({
    queryKey: ['experiments', journeyId],
    queryFn: () => api<Experiments>(`/v1/journeys/${seg(journeyId)}/experiments`),
    retry: false,
  });
  if (report.isPending || report.isError || report.data.experiments.length === 0) return null;
  return (
    <div className="card spaced" data-testid="experiments">
      <h2>Experiments</h2>
      {report.data.experiments.map((x) => (
        <div key={`${x.version}-${x.node_id}`} className="stack">
          <h3>Split <span className="mono">{x.node_id}</span> (version {x.version}) <StatusBadge status={x.outcome} /></h3>
          <p><strong>{x.verdict}</strong></p>
          {x.warnings.map((w) => <p key={w} className="hint">{w}</p>)}
          <table className="table compact">
            <thead>
              <tr>
                <th scope="col">Variant</th><th scope="col" className="num">Weight</th><th scope="col" className="num">Entered</th>
                <th scope="col" className="num">Converted</th><th scope="col" className="num">Rate</th><th scope="col" className="num">Lift</th>
                <th scope="col" className="num">p-value</th><th scope="col" className="num">P(best)</th>
              </tr>
            </thead>
            <tbody>
              {x.variants.map((v) => (
                <tr key={v.handle}>
                  <th scope="row">{v.handle}{v.control && <span className="muted small"> (control)</span>}</th>
                  <td className="num">{x.weights[v.handle] ?? '—'}</td>
                  <td className="num">{v.entered}</td>
                  <td className="num">{v.converted ?? '—'}</td>
                  <td className="num">{share(v.rate)}</td>
                  <td className="num">{share(v.lift)}</td>
                  <td className="num">{v.p_value === null ? '—' : v.p_value.toFixed(4)}</td>
                  <td className="num">{share(v.probability_best)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </div>
  );
}
