/** Message templates: the list by channel; a new one starts in the editor. */

import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';

import { api, seg } from '../api/client';
import { canEdit, useUser } from '../api/session';
import type { Items, Template } from '../api/types';
import { Empty, ErrorState, Loading, StatusBadge } from '../components/States';

export function TemplatesPage() {
  const user = useUser();
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => api<Items<Template>>('/v1/templates') });
  const items = templates.data?.items ?? [];
  return (
    <section className="page">
      <div className="page-head">
        <h1>Templates</h1>
        {canEdit(user.role) && <Link className="button primary" to="/templates/new">New template</Link>}
      </div>
      {templates.isPending && <Loading what="Loading templates" />}
      {templates.isError && <ErrorState error={templates.error} retry={() => templates.refetch()} />}
      {templates.isSuccess && items.length === 0 && (
        <Empty title="No templates yet">
          {canEdit(user.role) ? 'Journeys and broadcasts send templates: start with "New template".' : 'A marketer or an admin creates them.'}
        </Empty>
      )}
      {items.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Template</th>
              <th scope="col">Channel</th>
              <th scope="col">Subject</th>
            </tr>
          </thead>
          <tbody>
            {items.map((t) => (
              <tr key={t.id} data-template={t.id}>
                <td>
                  <Link to={`/templates/${seg(t.id)}`}>{t.name || t.id}</Link>
                  {t.name && <div className="muted mono">{t.id}</div>}
                </td>
                <td><StatusBadge status={t.channel} /></td>
                <td>{t.subject ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
