/**
 * A segment: id, name, kind, and its rule built with the rule builder; a live count and
 * sample (`POST /v1/segments/preview`, debounced) before saving; save and delete.
 */

import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { Link, useLocation, useNavigate, useParams } from 'react-router';

import { api, ApiError, errorText, seg } from '../api/client';
import { canEdit, useUser } from '../api/session';
import type { Segment, SegmentPreview } from '../api/types';
import { ErrorState, Loading } from '../components/States';
import { useRuleLookups } from '../segments/lookups';
import { RuleBuilder } from '../segments/RuleBuilder';
import { ruleToTree, treeToRule, validateTree, type RuleNode } from '../segments/ruleTree';
import { fullName } from './Contacts';

export const PREVIEW_DELAY_MS = 400;
const ID = /^[a-z0-9][a-z0-9_-]*$/;

export function SegmentEditorPage() {
  const { segmentId } = useParams();
  const existing = useQuery({
    queryKey: ['segment', segmentId],
    queryFn: () => api<Segment>(`/v1/segments/${seg(segmentId ?? '')}`),
    enabled: !!segmentId,
  });
  if (segmentId && existing.isPending) return <Loading what="Loading the segment" />;
  if (segmentId && existing.isError) return <ErrorState error={existing.error} retry={() => existing.refetch()} />;
  return <SegmentForm key={segmentId ?? 'new'} segment={segmentId ? existing.data ?? null : null} />;
}

/** A rule's count and sample, asked again a moment after the rule stops changing. */
function usePreview(rule: unknown, enabled: boolean) {
  const [asked, setAsked] = useState<string | null>(null);
  const text = JSON.stringify(rule);
  useEffect(() => {
    if (!enabled) return undefined;
    const timer = setTimeout(() => setAsked(text), PREVIEW_DELAY_MS);
    return () => clearTimeout(timer);
  }, [text, enabled]);
  return useQuery({
    queryKey: ['segment-preview', asked],
    queryFn: ({ signal }) => api<SegmentPreview>('/v1/segments/preview', { method: 'POST', body: { rule: JSON.parse(asked as string), limit: 10 }, signal }),
    enabled: enabled && asked !== null,
    placeholderData: keepPreviousData,
    retry: false,
  });
}

function SegmentForm({ segment }: { segment: Segment | null }) {
  const user = useUser();
  const editable = canEdit(user.role);
  const navigate = useNavigate();
  const client = useQueryClient();
  const lookups = useRuleLookups();
  const [id, setId] = useState(segment?.id ?? '');
  const [name, setName] = useState(segment?.name ?? '');
  const [description, setDescription] = useState(String(segment?.description ?? ''));
  const [kind, setKind] = useState<'dynamic' | 'static'>(segment?.kind ?? 'dynamic');
  const [tree, setTree] = useState<RuleNode>(() => ruleToTree(segment?.rule ?? { all: [] }));
  const location = useLocation();
  const [note, setNote] = useState<string>((location.state as { note?: string } | null)?.note ?? '');
  const rule = useMemo(() => treeToRule(tree), [tree]);
  const problems = useMemo(() => validateTree(tree), [tree]);
  const preview = usePreview(rule, kind === 'dynamic' && problems.length === 0);
  const idProblem = !segment && id && !ID.test(id) ? 'lower-case letters, digits, - and _ (starting with a letter or digit)' : '';

  const save = useMutation({
    mutationFn: () => {
      const body: Record<string, unknown> = { id, name, kind, ...(description ? { description } : {}) };
      if (kind === 'dynamic') body.rule = rule;
      return segment
        ? api<Segment & { backfill: { entered: number; exited: number } | null }>(`/v1/segments/${seg(id)}`, { method: 'PUT', body })
        : api<Segment & { backfill: { entered: number; exited: number } | null }>('/v1/segments', { method: 'POST', body });
    },
    onSuccess: (saved) => {
      client.invalidateQueries({ queryKey: ['segments'] });
      client.invalidateQueries({ queryKey: ['segment', saved.id] });
      const b = saved.backfill;
      const text = b ? `Saved: ${b.entered} entered, ${b.exited} left.` : 'Saved.';
      if (segment) setNote(text);
      else navigate(`/segments/${seg(saved.id)}`, { replace: true, state: { note: text } });
    },
  });
  const remove = useMutation({
    mutationFn: () => api<unknown>(`/v1/segments/${seg(id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      client.invalidateQueries({ queryKey: ['segments'] });
      navigate('/segments');
    },
  });
  const saveError = save.error instanceof ApiError ? save.error : null;

  return (
    <section className="page segment-editor">
      <div className="page-head">
        <h1>{segment ? segment.name || segment.id : 'New segment'}</h1>
        <div className="actions">
          {segment && <Link className="button" to={`/segments/${seg(segment.id)}/members`}>Members ({segment.members ?? 0})</Link>}
          <Link className="button" to="/segments">All segments</Link>
        </div>
      </div>
      {!editable && <p className="banner muted">Read-only: the {user.role} role cannot change segments.</p>}
      <form className="stack" aria-label="Segment" onSubmit={(e) => { e.preventDefault(); if (editable) save.mutate(); }}>
        <div className="row wrap">
          <div className="field">
            <label htmlFor="segment-name">Name</label>
            <input id="segment-name" value={name} disabled={!editable} onChange={(e) => {
              setName(e.target.value);
              if (!segment) setId(e.target.value.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, ''));
            }} />
          </div>
          <div className="field">
            <label htmlFor="segment-id">Id</label>
            <input id="segment-id" className="mono" value={id} disabled={!!segment || !editable} aria-invalid={!!idProblem || undefined}
              aria-describedby="segment-id-hint" onChange={(e) => setId(e.target.value)} />
            <small id="segment-id-hint" className={idProblem ? 'field-error' : 'muted'}>{idProblem || 'used in rules as {"segment": id}'}</small>
          </div>
          <div className="field">
            <label htmlFor="segment-kind">Kind</label>
            <select id="segment-kind" value={kind} disabled={!editable || !!segment} onChange={(e) => setKind(e.target.value as 'dynamic' | 'static')}>
              <option value="dynamic">dynamic (follows a rule)</option>
              <option value="static">static (imported list)</option>
            </select>
          </div>
        </div>
        <div className="field">
          <label htmlFor="segment-description">Description</label>
          <input id="segment-description" value={description} disabled={!editable} onChange={(e) => setDescription(e.target.value)} />
        </div>
        {kind === 'dynamic' && (
          <div className="segment-columns">
            <div>
              <h2>Contacts who match</h2>
              <RuleBuilder tree={tree} onChange={setTree} problems={problems} disabled={!editable} {...lookups} />
              <details className="rule-json">
                <summary>Rule as JSON</summary>
                <pre className="mono" data-testid="rule-json">{JSON.stringify(rule, null, 2)}</pre>
              </details>
            </div>
            <aside className="card preview-panel" aria-label="Preview">
              <h2>Preview</h2>
              {problems.length > 0 && <p className="field-error">Fix the conditions marked in red to see who matches.</p>}
              {problems.length === 0 && preview.isPending && <Loading what="Counting" />}
              {preview.isError && <ErrorState error={preview.error} title="The rule cannot be counted" />}
              {preview.data && (
                <>
                  <p className={`big-count${preview.isFetching ? ' fetching' : ''}`} data-testid="segment-count" aria-live="polite">
                    {preview.data.count} contact{preview.data.count === 1 ? '' : 's'}
                  </p>
                  <ul className="sample">
                    {preview.data.sample.map((c) => (
                      <li key={c.contact_id}>
                        <Link to={`/contacts/${seg(c.contact_id)}`}>
                          {fullName(c as { first_name: string | null; last_name: string | null }) || c.contact_id}
                        </Link>
                        {typeof c.email === 'string' && <span className="muted"> {c.email}</span>}
                      </li>
                    ))}
                  </ul>
                </>
              )}
            </aside>
          </div>
        )}
        {kind === 'static' && <p className="muted">Members of a static segment come from a CSV import (POST /v1/segments/{'{id}'}/import).</p>}
        {save.isError && (
          <div className="form-error" role="alert">
            {errorText(save.error)}
            {saveError && saveError.details.length > 1 && (
              <ul>{saveError.details.map((d) => <li key={`${d.loc}${d.message}`}><code>{d.loc}</code>: {d.message}</li>)}</ul>
            )}
          </div>
        )}
        {remove.isError && <p className="form-error" role="alert">{errorText(remove.error)}</p>}
        {note && !save.isError && <p className="ok-note" role="status">{note}</p>}
        {editable && (
          <div className="actions start">
            <button type="submit" className="primary" disabled={save.isPending || !id || !!idProblem || (kind === 'dynamic' && problems.length > 0)}>
              {save.isPending ? 'Saving…' : 'Save segment'}
            </button>
            {segment && (
              <button type="button" className="danger" disabled={remove.isPending}
                onClick={() => { if (window.confirm(`Delete the segment ${segment.id}? Every member leaves it.`)) remove.mutate(); }}>
                Delete
              </button>
            )}
          </div>
        )}
      </form>
    </section>
  );
}
