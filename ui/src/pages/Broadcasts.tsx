/**
 * Broadcasts: the list with status and progress (refreshed every few seconds), and one
 * broadcast's live progress with cancel.
 */

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';

import { api, errorText, seg } from '../api/client';
import { canEdit, useUser } from '../api/session';
import type { Broadcast, BroadcastProgress, Items } from '../api/types';
import { Empty, ErrorState, formatTime, Loading, StatusBadge } from '../components/States';
import { describeAudience, progressShare } from '../broadcasts/wizard';

export const PROGRESS_INTERVAL_MS = 2000;

function ProgressBar({ progress, targeted }: { progress?: BroadcastProgress; targeted: number }) {
  const share = progressShare(progress, targeted);
  return (
    <div className="progress">
      <progress max={100} value={share} aria-label="Contacts through the broadcast">{share}%</progress>
      <span className="small" data-testid="progress-text">{progress ? `${progress.finished} of ${targeted}` : '…'}</span>
    </div>
  );
}

export function BroadcastsPage() {
  const user = useUser();
  const list = useQuery({
    queryKey: ['broadcasts'], queryFn: () => api<Items<Broadcast>>('/v1/broadcasts'), refetchInterval: PROGRESS_INTERVAL_MS * 2,
  });
  const items = list.data?.items ?? [];
  return (
    <section className="page">
      <div className="page-head">
        <h1>Broadcasts</h1>
        {canEdit(user.role) && <Link className="button primary" to="/broadcasts/new">New broadcast</Link>}
      </div>
      {list.isPending && <Loading what="Loading broadcasts" />}
      {list.isError && <ErrorState error={list.error} retry={() => list.refetch()} />}
      {list.isSuccess && items.length === 0 && (
        <Empty title="No broadcasts yet">
          {canEdit(user.role) ? 'Send one message to everyone, some tags or a segment with "New broadcast".' : 'A marketer or an admin sends them.'}
        </Empty>
      )}
      {items.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Broadcast</th>
              <th scope="col">Status</th>
              <th scope="col">Audience</th>
              <th scope="col">Progress</th>
              <th scope="col" className="num">Sent</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {items.map((b) => (
              <tr key={b.id} data-broadcast={b.id}>
                <td>
                  <Link to={`/broadcasts/${seg(b.id)}`}>{b.name}</Link>
                  <div className="muted small">{b.channel} · {b.template}</div>
                </td>
                <td><StatusBadge status={b.status} /></td>
                <td>{describeAudience(b.audience)}</td>
                <td><ProgressBar progress={b.progress} targeted={b.targeted} /></td>
                <td className="num">{b.progress?.sent ?? '…'}</td>
                <td>{formatTime(b.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const FIGURES: (keyof BroadcastProgress)[] = ['targeted', 'entered', 'finished', 'queued', 'pending', 'sent', 'delivered',
  'opened', 'clicked', 'bounced', 'complained', 'failed', 'suppressed'];

export function BroadcastDetailPage() {
  const { broadcastId = '' } = useParams();
  const user = useUser();
  const client = useQueryClient();
  const broadcast = useQuery({
    queryKey: ['broadcast', broadcastId],
    queryFn: () => api<Broadcast>(`/v1/broadcasts/${seg(broadcastId)}`),
    refetchInterval: (query) => (['completed', 'cancelled'].includes(query.state.data?.status ?? '') ? false : PROGRESS_INTERVAL_MS),
  });
  const cancel = useMutation({
    mutationFn: () => api<Broadcast>(`/v1/broadcasts/${seg(broadcastId)}/cancel`, { method: 'POST' }),
    onSuccess: () => {
      client.invalidateQueries({ queryKey: ['broadcast', broadcastId] });
      client.invalidateQueries({ queryKey: ['broadcasts'] });
    },
  });
  if (broadcast.isPending) return <Loading what="Loading the broadcast" />;
  if (broadcast.isError) return <ErrorState error={broadcast.error} retry={() => broadcast.refetch()} />;
  const b = broadcast.data;
  const active = !['completed', 'cancelled'].includes(b.status);
  return (
    <section className="page">
      <div className="page-head">
        <h1>{b.name} <StatusBadge status={b.status} /></h1>
        <div className="actions">
          <Link className="button" to={`/analytics?broadcast=${seg(b.id)}`}>Analytics</Link>
          {canEdit(user.role) && active && (
            <button type="button" className="danger" disabled={cancel.isPending}
              onClick={() => { if (window.confirm('Cancel this broadcast? Messages already sent stay sent.')) cancel.mutate(); }}>
              Cancel broadcast
            </button>
          )}
          <Link className="button" to="/broadcasts">All broadcasts</Link>
        </div>
      </div>
      {cancel.isError && <p className="form-error" role="alert">{errorText(cancel.error)}</p>}
      <div className="card stack">
        <ProgressBar progress={b.progress} targeted={b.targeted} />
        <dl className="attributes">
          <div><dt>Channel</dt><dd>{b.channel}</dd></div>
          <div><dt>Template</dt><dd><Link to={`/templates/${seg(b.template)}`}>{b.template}</Link></dd></div>
          <div><dt>Audience</dt><dd>{describeAudience(b.audience)}</dd></div>
          <div><dt>Schedule</dt><dd>{b.schedule === 'now' ? 'at once' : formatTime(b.send_at ?? b.schedule)}</dd></div>
          <div><dt>Rate</dt><dd>{b.rate_limit_per_minute} a minute</dd></div>
          <div><dt>Offer</dt><dd>{b.offer ? `${b.offer.value ?? ''} ${b.offer.description ?? ''} (max ${b.offer.max_uses ?? 1} use(s)${b.offer.expires_in ? `, expires in ${b.offer.expires_in}` : ''})` : 'none'}</dd></div>
          <div><dt>Journey</dt><dd><Link to={`/journeys/${seg(b.journey_id)}`} className="mono">{b.journey_id}</Link></dd></div>
          <div><dt>Created</dt><dd>{formatTime(b.created_at)}</dd></div>
        </dl>
      </div>
      <h2 className="spaced">Progress</h2>
      <table className="table figures" data-testid="broadcast-progress">
        <tbody>
          {FIGURES.map((key) => (
            <tr key={key} data-figure={key}>
              <th scope="row">{key}</th>
              <td className="num">{b.progress ? b.progress[key] : '…'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
