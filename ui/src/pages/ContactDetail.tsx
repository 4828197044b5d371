/** One contact: attributes, tags, where it is in journeys now, and its timeline of events and messages. */

import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';

import { api, ApiError, seg } from '../api/client';
import type { ContactDetail, ContactEvent, Message } from '../api/types';
import { Empty, ErrorState, formatTime, Loading, StatusBadge } from '../components/States';
import { fullName } from './Contacts';

type Entry = { at: string; kind: 'event'; event: ContactEvent } | { at: string; kind: 'message'; message: Message };

const MESSAGE_TIMES = ['clicked_at', 'opened_at', 'delivered_at', 'sent_at', 'bounced_at', 'failed_at', 'suppressed_at', 'queued_at'] as const;

/** Events and messages, newest first (a message is dated by its latest step). */
export function timeline(contact: ContactDetail): Entry[] {
  const entries: Entry[] = [
    ...contact.recent_events.map((event) => ({ at: event.occurred_at ?? event.received_at ?? '', kind: 'event' as const, event })),
    ...contact.messages.map((message) => ({
      at: MESSAGE_TIMES.map((k) => message[k]).filter(Boolean).sort().pop() ?? '',
      kind: 'message' as const,
      message,
    })),
  ];
  return entries.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
}

function value(v: unknown): string {
  if (v === null || v === undefined) return '—';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function ContactDetailPage() {
  const { contactId = '' } = useParams();
  const contact = useQuery({
    queryKey: ['contact', contactId],
    queryFn: () => api<ContactDetail>(`/v1/contacts/${seg(contactId)}`),
    refetchInterval: 5000,
  });
  if (contact.isPending) return <Loading what="Loading the contact" />;
  if (contact.isError) {
    const missing = contact.error instanceof ApiError && contact.error.status === 404;
    return (
      <section className="page">
        <ErrorState title={missing ? 'No such contact' : 'The contact cannot be loaded'} error={contact.error}
          retry={missing ? undefined : () => contact.refetch()} />
        <p><Link to="/contacts">Back to the contacts</Link></p>
      </section>
    );
  }
  const c = contact.data;
  const profile: [string, unknown][] = [
    ['Contact id', c.contact_id], ['Email', c.email], ['Phone', c.phone], ['Created', formatTime(c.created_at)],
    ['Updated', formatTime(c.updated_at)], ['Orders', c.order_count], ['Lifetime value', c.lifetime_value],
    ['Last order', c.last_order_at ? formatTime(c.last_order_at) : null], ['Unsubscribed', c.unsubscribed],
  ];
  const entries = timeline(c);
  return (
    <section className="page contact">
      <p><Link to="/contacts">← Contacts</Link></p>
      <h1>{fullName(c) || c.contact_id}</h1>
      <div className="tags">{c.tags.length ? c.tags.map((t) => <span key={t} className="tag">{t}</span>) : <span className="muted">no tags</span>}</div>
      <div className="columns">
        <section aria-labelledby="profile-title">
          <h2 id="profile-title">Attributes</h2>
          <dl className="attributes">
            {profile.map(([k, v]) => (
              <div key={k}><dt>{k}</dt><dd>{value(v)}</dd></div>
            ))}
            {Object.entries(c.attributes).map(([k, v]) => (
              <div key={`attr-${k}`}><dt className="mono">{k}</dt><dd>{value(v)}</dd></div>
            ))}
          </dl>
        </section>
        <section aria-labelledby="journeys-title">
          <h2 id="journeys-title">Journeys</h2>
          {c.journeys.length === 0 ? <Empty title="In no journey" /> : (
            <table className="table" data-testid="contact-journeys">
              <thead>
                <tr><th scope="col">Journey</th><th scope="col">State</th><th scope="col">At step</th><th scope="col">Since</th><th scope="col">Left because</th></tr>
              </thead>
              <tbody>
                {c.journeys.map((j) => (
                  <tr key={j.journey_id}>
                    <td><Link to={`/journeys/${seg(j.journey_id)}/versions/${j.version}`}>{j.journey_id}</Link> <span className="muted">v{j.version}</span></td>
                    <td><StatusBadge status={j.state} /></td>
                    <td className="mono position">{j.node_id ?? '—'}</td>
                    <td>{formatTime(j.updated_at ?? j.entered_at)}</td>
                    <td>{j.exit_reason ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
      <section aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        {entries.length === 0 ? <Empty title="Nothing happened yet" /> : (
          <ol className="timeline">
            {entries.map((entry) => entry.kind === 'event' ? (
              <li key={`e-${entry.event.id}`} className="event">
                <time>{formatTime(entry.at)}</time>
                <strong className="mono">{entry.event.type}</strong>
                <span className="muted"> via {entry.event.source ?? '?'}</span>
                {Object.keys(entry.event.data).length > 0 && <code className="data">{JSON.stringify(entry.event.data)}</code>}
              </li>
            ) : (
              <li key={`m-${entry.message.message_id}`} className="message">
                <time>{formatTime(entry.at)}</time>
                <strong>{entry.message.channel} message</strong> <StatusBadge status={entry.message.status} />
                <span> {entry.message.template ?? ''}</span>
                <span className="muted">
                  {entry.message.journey_id ? ` · journey ${entry.message.journey_id}, step ${entry.message.node_id}` : ''}
                  {entry.message.broadcast_id ? ` · broadcast ${entry.message.broadcast_id}` : ''}
                  {entry.message.reason ? ` · ${entry.message.reason}` : ''}
                </span>
              </li>
            ))}
          </ol>
        )}
      </section>
    </section>
  );
}
