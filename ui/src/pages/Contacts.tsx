/** Contacts: search (name, email, phone, id) and page through them. */

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';

import { api, seg } from '../api/client';
import { canEdit, useUser } from '../api/session';
import type { ContactPage } from '../api/types';
import { Empty, ErrorState, formatTime, Loading } from '../components/States';

export const PAGE_SIZE = 25;

export function fullName(c: { first_name: string | null; last_name: string | null }): string {
  return [c.first_name, c.last_name].filter(Boolean).join(' ');
}

export function ContactsPage() {
  const user = useUser();
  const [params, setParams] = useSearchParams();
  const search = params.get('search') ?? '';
  const [typed, setTyped] = useState(search);
  const [cursors, setCursors] = useState<string[]>([]); // cursors of the pages before this one
  const cursor = params.get('cursor');

  useEffect(() => {
    const timer = setTimeout(() => {
      if (typed.trim() === search) return;
      setCursors([]);
      setParams(typed.trim() ? { search: typed.trim() } : {}, { replace: true });
    }, 300);
    return () => clearTimeout(timer);
  }, [typed, search, setParams]);

  const page = useQuery({
    queryKey: ['contacts', search, cursor],
    queryFn: () => {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (search) query.set('search', search);
      if (cursor) query.set('cursor', cursor);
      return api<ContactPage>(`/v1/contacts?${query}`);
    },
    placeholderData: keepPreviousData,
  });

  const go = (next: string | null, back: boolean) => {
    const query: Record<string, string> = search ? { search } : {};
    if (next) query.cursor = next;
    setCursors(back ? cursors.slice(0, -1) : [...cursors, cursor ?? '']);
    setParams(query);
  };

  return (
    <section className="page">
      <div className="page-head">
        <h1>Contacts</h1>
        {canEdit(user.role) && <Link className="button" to="/contacts/import">Import CSV</Link>}
      </div>
      <div className="search">
        <label htmlFor="contact-search">Search</label>
        <input id="contact-search" type="search" value={typed} placeholder="name, email, phone or id"
          onChange={(e) => setTyped(e.target.value)} />
        {page.data && <span className="muted" aria-live="polite">{page.data.total} contact{page.data.total === 1 ? '' : 's'}</span>}
      </div>
      {page.isPending && <Loading what="Loading contacts" />}
      {page.isError && <ErrorState error={page.error} retry={() => page.refetch()} />}
      {page.isSuccess && page.data.items.length === 0 && (
        <Empty title={search ? `No contact matches “${search}”` : 'No contacts yet'}>
          {!search && 'Send contact.created events, or import a CSV file.'}
        </Empty>
      )}
      {page.data && page.data.items.length > 0 && (
        <>
          <table className={`table${page.isFetching ? ' fetching' : ''}`}>
            <thead>
              <tr>
                <th scope="col">Contact</th>
                <th scope="col">Email</th>
                <th scope="col">Phone</th>
                <th scope="col">Tags</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((c) => (
                <tr key={c.contact_id}>
                  <td>
                    <Link to={`/contacts/${seg(c.contact_id)}`}>{fullName(c) || c.contact_id}</Link>
                    {fullName(c) && <div className="muted mono">{c.contact_id}</div>}
                  </td>
                  <td>{c.email ?? '—'}</td>
                  <td>{c.phone ?? '—'}</td>
                  <td>{c.tags.map((t) => <span key={t} className="tag">{t}</span>)}</td>
                  <td>{formatTime(c.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            <button type="button" disabled={!cursor} onClick={() => go(cursors[cursors.length - 1] || null, true)}>
              ← Previous
            </button>
            <button type="button" disabled={!page.data.next_cursor} onClick={() => go(page.data.next_cursor, false)}>
              Next →
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
