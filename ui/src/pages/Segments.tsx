/** Segments: the list with member counts, and a segment's current members (paginated). */

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams } from 'react-router';

import { api, seg } from '../api/client';
import { canEdit, useUser } from '../api/session';
import type { Items, Segment } from '../api/types';
import { Empty, ErrorState, formatTime, Loading, StatusBadge } from '../components/States';
import { fullName } from './Contacts';

export function SegmentsPage() {
  const user = useUser();
  const segments = useQuery({ queryKey: ['segments'], queryFn: () => api<Items<Segment>>('/v1/segments') });
  const items = segments.data?.items ?? [];
  return (
    <section className="page">
      <div className="page-head">
        <h1>Segments</h1>
        {canEdit(user.role) && <Link className="button primary" to="/segments/new">New segment</Link>}
      </div>
      {segments.isPending && <Loading what="Loading segments" />}
      {segments.isError && <ErrorState error={segments.error} retry={() => segments.refetch()} />}
      {segments.isSuccess && items.length === 0 && (
        <Empty title="No segments yet">
          {canEdit(user.role) ? 'Build one from attributes, tags, events and engagement with "New segment".' : 'A marketer or an admin creates them.'}
        </Empty>
      )}
      {items.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Segment</th>
              <th scope="col">Kind</th>
              <th scope="col" className="num">Members</th>
              <th scope="col"><span className="visually-hidden">Links</span></th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id} data-segment={s.id}>
                <td>
                  <Link to={`/segments/${seg(s.id)}`}>{s.name || s.id}</Link>
                  <div className="muted mono">{s.id}</div>
                  {s.description && <div className="muted small">{s.description}</div>}
                </td>
                <td><StatusBadge status={s.kind} /></td>
                <td className="num">{s.members ?? '…'}</td>
                <td><Link to={`/segments/${seg(s.id)}/members`}>Members</Link></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

interface MembersPage {
  items: { contact_id: string; entered_at: string | null; email: string | null; first_name: string | null; last_name: string | null }[];
  next_cursor: string | null;
  total: number;
}

export function SegmentMembersPage() {
  const { segmentId = '' } = useParams();
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const page = useQuery({
    queryKey: ['segment-members', segmentId, cursor],
    queryFn: () => api<MembersPage>(`/v1/segments/${seg(segmentId)}/members?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
    placeholderData: keepPreviousData,
  });
  return (
    <section className="page">
      <div className="page-head">
        <h1>Members of <span className="mono">{segmentId}</span></h1>
        <div className="actions">
          <a className="button" href={`/v1/segments/${seg(segmentId)}/export.csv`}>Export CSV</a>
          <Link className="button" to={`/segments/${seg(segmentId)}`}>The segment</Link>
        </div>
      </div>
      {page.isPending && <Loading what="Loading members" />}
      {page.isError && <ErrorState error={page.error} retry={() => page.refetch()} />}
      {page.isSuccess && page.data.items.length === 0 && <Empty title="Nobody is in this segment now" />}
      {page.data && page.data.items.length > 0 && (
        <>
          <p className="muted" aria-live="polite">{page.data.total} member{page.data.total === 1 ? '' : 's'}</p>
          <table className={`table${page.isFetching ? ' fetching' : ''}`}>
            <thead>
              <tr><th scope="col">Contact</th><th scope="col">Email</th><th scope="col">In since</th></tr>
            </thead>
            <tbody>
              {page.data.items.map((m) => (
                <tr key={m.contact_id}>
                  <td><Link to={`/contacts/${seg(m.contact_id)}`}>{fullName(m) || m.contact_id}</Link></td>
                  <td>{m.email ?? '—'}</td>
                  <td>{formatTime(m.entered_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>← Previous</button>
            <button type="button" disabled={!page.data.next_cursor} onClick={() => setCursors([...cursors, page.data.next_cursor])}>Next →</button>
          </nav>
        </>
      )}
    </section>
  );
}
