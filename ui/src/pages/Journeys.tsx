/** All journeys: status, version, live counts; start a new one (empty or from a template). */

import { useQueries, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';

import { api, seg } from '../api/client';
import { canEdit, useUser } from '../api/session';
import type { Items, JourneyStats, JourneySummary } from '../api/types';
import { Empty, ErrorState, formatTime, Loading, StatusBadge } from '../components/States';
import { NewJourneyDialog } from './NewJourney';

export const STATS_INTERVAL_MS = 3000;

export function JourneysPage() {
  const user = useUser();
  const [creating, setCreating] = useState<null | 'empty' | 'template'>(null);
  const journeys = useQuery({ queryKey: ['journeys'], queryFn: () => api<Items<JourneySummary>>('/v1/journeys') });
  const items = journeys.data?.items ?? [];
  const stats = useQueries({
    queries: items.map((j) => ({
      queryKey: ['journey-stats', j.id],
      queryFn: () => api<JourneyStats>(`/v1/journeys/${seg(j.id)}/stats`),
      refetchInterval: STATS_INTERVAL_MS,
    })),
  });

  return (
    <section className="page">
      <div className="page-head">
        <h1>Journeys</h1>
        {canEdit(user.role) && (
          <div className="actions">
            <button type="button" onClick={() => setCreating('template')}>
              New from template
            </button>
            <button type="button" className="primary" onClick={() => setCreating('empty')}>
              New journey
            </button>
          </div>
        )}
      </div>
      {journeys.isPending && <Loading what="Loading journeys" />}
      {journeys.isError && <ErrorState error={journeys.error} retry={() => journeys.refetch()} />}
      {journeys.isSuccess && items.length === 0 && (
        <Empty title="No journeys yet">
          {canEdit(user.role) ? 'Start with "New journey", or copy a ready-made one with "New from template".'
            : 'A marketer or an admin creates them.'}
        </Empty>
      )}
      {items.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Journey</th>
              <th scope="col">Status</th>
              <th scope="col">Version</th>
              <th scope="col" className="num">Entered</th>
              <th scope="col" className="num">In it now</th>
              <th scope="col" className="num">Goals</th>
              <th scope="col">Changed</th>
            </tr>
          </thead>
          <tbody>
            {items.map((journey, i) => {
              const totals = stats[i]?.data?.totals;
              return (
                <tr key={journey.id} data-journey={journey.id}>
                  <td>
                    <Link to={`/journeys/${seg(journey.id)}`}>{journey.name || journey.id}</Link>
                    <div className="muted mono">{journey.id}</div>
                  </td>
                  <td><StatusBadge status={journey.status} /></td>
                  <td>{journey.current_version ? `v${journey.current_version}` : 'never published'}</td>
                  <td className="num">{totals ? totals.entered : '…'}</td>
                  <td className="num live-count">{totals ? totals.active : '…'}</td>
                  <td className="num">{totals ? totals.goal_reached : '…'}</td>
                  <td>{formatTime(journey.updated_at)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {creating && (
        <NewJourneyDialog template={creating === 'template'} onClose={() => setCreating(null)}
          takenIds={items.map((j) => j.id)} />
      )}
    </section>
  );
}
