/**
 * The dev outbox (`GET /v1/outbox`): messages the outbox provider captured, newest first,
 * by contact; choosing one shows it, its HTML in a sandboxed iframe.
 */

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';

import { api, seg } from '../api/client';
import type { OutboxMessage } from '../api/types';
import { Empty, ErrorState, Loading, StatusBadge } from '../components/States';

const PAGE = 50;

const when = (seconds: number) => new Date(seconds * 1000).toLocaleString();

export function OutboxPage() {
  const [params, setParams] = useSearchParams();
  const contact = params.get('contact_id') ?? '';
  const [typed, setTyped] = useState(contact);
  const [befores, setBefores] = useState<(number | null)[]>([null]);
  const [chosen, setChosen] = useState<string | null>(null);
  const before = befores[befores.length - 1];

  useEffect(() => {
    const timer = setTimeout(() => {
      if (typed.trim() === contact) return;
      setBefores([null]);
      setParams(typed.trim() ? { contact_id: typed.trim() } : {}, { replace: true });
    }, 300);
    return () => clearTimeout(timer);
  }, [typed, contact, setParams]);

  const page = useQuery({
    queryKey: ['outbox', contact, before],
    queryFn: () => {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (contact) q.set('contact_id', contact);
      if (before !== null) q.set('before', String(before));
      return api<{ items: OutboxMessage[]; next_before: number | null }>(`/v1/outbox?${q}`);
    },
    placeholderData: keepPreviousData,
    refetchInterval: before === null ? 5000 : false,
  });
  const items = page.data?.items ?? [];
  const message = items.find((m) => m.message_id === chosen) ?? null;

  return (
    <section className="page outbox">
      <div className="page-head">
        <h1>Outbox</h1>
        <span className="muted">messages captured by the outbox provider (development)</span>
      </div>
      <div className="search">
        <label htmlFor="outbox-contact">Contact id</label>
        <input id="outbox-contact" type="search" value={typed} placeholder="every contact" onChange={(e) => setTyped(e.target.value)} />
      </div>
      {page.isPending && <Loading what="Loading the outbox" />}
      {page.isError && <ErrorState error={page.error} retry={() => page.refetch()} />}
      {page.isSuccess && items.length === 0 && (
        <Empty title="The outbox is empty">{contact ? `No message to ${contact}.` : 'Messages sent with the outbox provider show up here.'}</Empty>
      )}
      {items.length > 0 && (
        <div className="outbox-columns">
          <div>
            <table className={`table${page.isFetching ? ' fetching' : ''}`}>
              <thead>
                <tr><th scope="col">To</th><th scope="col">Message</th><th scope="col">When</th></tr>
              </thead>
              <tbody>
                {items.map((m) => (
                  <tr key={m.message_id} className={m.message_id === chosen ? 'chosen' : undefined} data-message={m.message_id}>
                    <td>
                      <Link to={`/contacts/${seg(m.contact_id)}`}>{m.contact_id}</Link>
                      <div className="muted small">{m.to_address}</div>
                    </td>
                    <td>
                      <button type="button" className="link" aria-pressed={m.message_id === chosen} onClick={() => setChosen(m.message_id)}>
                        {m.subject || (m.text ?? '').slice(0, 60) || m.message_id}
                      </button>
                      <div className="muted small"><StatusBadge status={m.channel} /> {m.journey_id ?? ''}{m.node_id ? ` · ${m.node_id}` : ''}</div>
                    </td>
                    <td>{when(m.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <nav className="pager" aria-label="Pages">
              <button type="button" disabled={befores.length < 2} onClick={() => setBefores(befores.slice(0, -1))}>← Newer</button>
              <button type="button" disabled={!page.data?.next_before} onClick={() => setBefores([...befores, page.data?.next_before ?? null])}>Older →</button>
            </nav>
          </div>
          <aside className="card preview-panel" aria-label="Message">
            {!message ? <p className="muted">Choose a message to see it.</p> : (
              <div className="stack" data-testid="outbox-message">
                <dl className="attributes small">
                  <div><dt>To</dt><dd>{message.to_address}</dd></div>
                  {message.subject && <div><dt>Subject</dt><dd><strong>{message.subject}</strong></dd></div>}
                  <div><dt>Message id</dt><dd className="mono">{message.message_id}</dd></div>
                  {Object.entries(message.headers).map(([k, v]) => <div key={k}><dt>{k}</dt><dd className="mono">{v}</dd></div>)}
                </dl>
                {message.html && <iframe title="Message HTML" sandbox="" srcDoc={message.html} className="preview-frame" />}
                {message.text && <pre className="preview-text">{message.text}</pre>}
              </div>
            )}
          </aside>
        </div>
      )}
    </section>
  );
}
