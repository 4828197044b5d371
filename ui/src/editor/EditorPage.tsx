/**
 * The journey editor page: the draft (or one published version, read-only), its
 * palette, canvas, side panel and problems; save, validate, publish, pause/resume;
 * version history; live counts per step every few seconds; the Simulate drawer (a dry
 * run whose path is highlighted on the canvas).
 */

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ReactFlowProvider, useReactFlow } from '@xyflow/react';
import { useCallback, useEffect, useState } from 'react';
import { Link, useBlocker, useNavigate, useParams } from 'react-router';
import type { StoreApi } from 'zustand';
import { useStore } from 'zustand';

import { api, ApiError, errorText, seg } from '../api/client';
import { canEdit, useUser } from '../api/session';
import type { EventType, Items, JourneyDetail, JourneyStats, SaveResult, Template } from '../api/types';
import { ErrorState, Loading, StatusBadge } from '../components/States';
import { Modal } from '../components/Modal';
import { toApi, toApiJson } from '../graph/convert';
import type { ApiJourney, Problem } from '../graph/types';
import { STATS_INTERVAL_MS } from '../pages/Journeys';
import { Canvas } from './Canvas';
import { EditorStoreContext, LookupsContext } from './context';
import { useEditorKeys } from './keys';
import { Palette } from './Palette';
import { ProblemsList } from './ProblemsList';
import { SidePanel } from './SidePanel';
import { SimulatePanel } from './SimulatePanel';
import type { Highlight } from './simulation';
import { createEditorStore, isDirty, type EditorState } from './store';

export function EditorPage() {
  const { journeyId = '', version } = useParams();
  const detail = useQuery({
    queryKey: ['journey', journeyId],
    queryFn: () => api<JourneyDetail>(`/v1/journeys/${seg(journeyId)}`),
  });
  const published = useQuery({
    queryKey: ['journey-version', journeyId, version],
    queryFn: () => api<ApiJourney>(`/v1/journeys/${seg(journeyId)}/versions/${seg(version ?? '')}`),
    enabled: Boolean(version),
    staleTime: Infinity, // published versions never change
  });
  const failed = detail.error ?? published.error;
  if (failed) {
    const missing = failed instanceof ApiError && failed.status === 404;
    return (
      <section className="page">
        <ErrorState title={missing ? 'Not found' : 'The journey cannot be loaded'} error={failed}
          retry={missing ? undefined : () => { detail.refetch(); published.refetch(); }} />
        <p><Link to="/journeys">Back to the journeys</Link></p>
      </section>
    );
  }
  const graph = version ? published.data : detail.data?.draft;
  if (!detail.data || !graph) return <Loading what="Opening the journey" />;
  return (
    <ReactFlowProvider>
      <Workspace key={`${journeyId}@${version ?? 'draft'}`} detail={detail.data} graph={graph}
        version={version ? Number(version) : null} />
    </ReactFlowProvider>
  );
}

function Workspace({ detail, graph, version }: { detail: JourneyDetail; graph: ApiJourney; version: number | null }) {
  const user = useUser();
  const editable = canEdit(user.role) && version === null;
  const [store] = useState<StoreApi<EditorState>>(() => {
    const created = createEditorStore();
    created.getState().load(graph, { readOnly: !editable });
    return created;
  });
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const flow = useReactFlow();
  const [note, setNote] = useState<{ text: string; kind: 'ok' | 'error' } | null>(null);
  const [checked, setChecked] = useState(false);
  const [simulating, setSimulating] = useState(false);
  const [highlight, setHighlightState] = useState<Highlight | null>(null);
  const setHighlight = useCallback((h: Highlight | null) => setHighlightState(h), []);
  const dirty = useStore(store, isDirty);
  const canUndo = useStore(store, (s) => s.past.length > 0);
  const canRedo = useStore(store, (s) => s.future.length > 0);
  const name = useStore(store, (s) => s.journey.name);
  const id = detail.id;

  const stats = useQuery({
    queryKey: ['journey-stats', id],
    queryFn: () => api<JourneyStats>(`/v1/journeys/${seg(id)}/stats`),
    refetchInterval: STATS_INTERVAL_MS,
  });
  const eventTypes = useQuery({ queryKey: ['event-types'], queryFn: () => api<Items<EventType>>('/v1/event-types'),
    staleTime: 60_000 });
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => api<Items<Template>>('/v1/templates'),
    staleTime: 30_000 });
  const counts = version === null ? stats.data?.nodes ?? null : stats.data?.by_version[String(version)] ?? null;

  const showProblems = (problems: Problem[]) => {
    store.getState().setProblems(problems);
    setChecked(true);
  };
  const refresh = () => {
    queryClient.invalidateQueries({ queryKey: ['journey', id] });
    queryClient.invalidateQueries({ queryKey: ['journeys'] });
  };
  const describe = (problems: Problem[]) => {
    const errors = problems.filter((p) => (p.severity ?? 'error') === 'error').length;
    return errors ? `${errors} problem${errors === 1 ? '' : 's'} to fix before publishing` : 'no problems';
  };

  const saveDraft = async (): Promise<Problem[]> => {
    const body = toApi(store.getState());
    const sent = toApiJson(store.getState());
    const result = await api<SaveResult>(`/v1/journeys/${seg(id)}`, { method: 'PUT', body });
    store.getState().markSaved(sent);
    showProblems(result.problems);
    refresh();
    return result.problems;
  };

  const run = useMutation({
    mutationFn: async (action: 'save' | 'validate' | 'publish' | 'pause' | 'resume') => {
      if (action === 'save') return `Draft saved: ${describe(await saveDraft())}.`;
      if (action === 'validate') {
        if (editable && isDirty(store.getState())) await saveDraft();
        const result = await api<{ valid: boolean; problems: Problem[] }>(`/v1/journeys/${seg(id)}/validate`, { method: 'POST' });
        showProblems(result.problems);
        return `Checked: ${describe(result.problems)}.`;
      }
      if (action === 'publish') {
        if (isDirty(store.getState())) await saveDraft();
        const published = await api<ApiJourney>(`/v1/journeys/${seg(id)}/publish`, { method: 'POST' });
        showProblems([]);
        refresh();
        return `Published version ${published.version ?? ''}.`;
      }
      await api(`/v1/journeys/${seg(id)}/${action}`, { method: 'POST' });
      refresh();
      return action === 'pause' ? 'Paused: no new entries; contacts wait before their next message.' : 'Resumed.';
    },
    onSuccess: (text) => setNote({ text, kind: 'ok' }),
    onError: (error) => {
      const problems = error instanceof ApiError ? (error.body.problems as Problem[] | undefined) : undefined;
      if (problems) showProblems(problems);
      setNote({ text: problems ? `Not published: ${describe(problems)}.` : errorText(error), kind: 'error' });
    },
  });

  // check the draft as soon as it is open, so its problems show on the canvas
  useEffect(() => {
    if (version !== null) return;
    api<{ problems: Problem[] }>(`/v1/journeys/${seg(id)}/validate`, { method: 'POST' })
      .then((result) => showProblems(result.problems))
      .catch(() => undefined);
  }, [id, version]);

  useEditorKeys(store, () => editable && !run.isPending && run.mutate('save'));

  const blocker = useBlocker(({ currentLocation, nextLocation }) =>
    editable && isDirty(store.getState()) && currentLocation.pathname !== nextLocation.pathname);
  useEffect(() => {
    if (!dirty || !editable) return undefined;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [dirty, editable]);

  const busy = run.isPending;
  return (
    <EditorStoreContext.Provider value={store}>
      <LookupsContext.Provider value={{ counts, eventTypes: eventTypes.data?.items ?? [], templates: templates.data?.items ?? [] }}>
        <div className="editor">
          <div className="toolbar" role="toolbar" aria-label="Journey actions">
            <Link to="/journeys" className="back">← Journeys</Link>
            <h1 title={id}>{name || id}</h1>
            <StatusBadge status={detail.status} />
            <span className="muted">{detail.current_version ? `live: v${detail.current_version}` : 'not published'}</span>
            <label className="version-picker">
              <span className="visually-hidden">Version</span>
              <select aria-label="Version" value={version === null ? 'draft' : String(version)}
                onChange={(e) => navigate(e.target.value === 'draft' ? `/journeys/${seg(id)}` : `/journeys/${seg(id)}/versions/${e.target.value}`)}>
                <option value="draft">Draft</option>
                {[...detail.versions].reverse().map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version} · {new Date(v.published_at).toLocaleString()}
                  </option>
                ))}
              </select>
            </label>
            <span className="spacer" />
            {editable && (
              <>
                <button type="button" onClick={() => store.getState().undo()} disabled={!canUndo} title="Undo (Ctrl+Z)">Undo</button>
                <button type="button" onClick={() => store.getState().redo()} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)">Redo</button>
                <button type="button" onClick={() => {
                  store.getState().layout();
                  window.requestAnimationFrame(() => flow.fitView({ duration: 300, maxZoom: 1, padding: 0.2 }));
                }}>Auto-layout</button>
                <button type="button" onClick={() => run.mutate('save')} disabled={busy} title="Save the draft (Ctrl+S)">
                  Save draft{dirty ? ' •' : ''}
                </button>
              </>
            )}
            {version === null && (
              <button type="button" onClick={() => run.mutate('validate')} disabled={busy}>Validate</button>
            )}
            <button type="button" aria-pressed={simulating} onClick={() => setSimulating((v) => !v)}
              title="Dry-run the journey against a contact's events or a JSONL file">Simulate</button>
            {editable && (
              <>
                <button type="button" className="primary" onClick={() => run.mutate('publish')} disabled={busy}>Publish</button>
                {detail.status === 'published' && (
                  <button type="button" onClick={() => run.mutate('pause')} disabled={busy}>Pause</button>
                )}
                {detail.status === 'paused' && (
                  <button type="button" onClick={() => run.mutate('resume')} disabled={busy}>Resume</button>
                )}
              </>
            )}
          </div>
          <div className="editor-status" role="status" aria-live="polite">
            {version !== null && (
              <span className="banner">
                Version {version} as published (read-only). <Link to={`/journeys/${seg(id)}`}>Back to the draft</Link>
              </span>
            )}
            {version === null && !canEdit(user.role) && (
              <span className="banner">Read-only: the {user.role} role cannot change journeys.</span>
            )}
            {dirty && editable && <span className="unsaved">Unsaved changes</span>}
            {busy && <span>Working…</span>}
            {note && !busy && <span className={`note ${note.kind}`} data-testid="editor-note">{note.text}</span>}
            {stats.data && (
              <span className="muted live" title="refreshed every 3 seconds">
                Live: {stats.data.totals.active} in the journey · {stats.data.totals.entered} entered · {stats.data.totals.exited} exited
              </span>
            )}
          </div>
          <div className={`editor-body${editable ? '' : ' read-only'}`}>
            {editable && <Palette />}
            <div className="canvas-column">
              <Canvas highlight={simulating ? highlight : null} />
              {version === null && <ProblemsList checked={checked} />}
            </div>
            {simulating
              ? <SimulatePanel journeyId={id} onHighlight={setHighlight} onClose={() => setSimulating(false)} />
              : <SidePanel />}
          </div>
        </div>
        {blocker.state === 'blocked' && (
          <Modal title="Leave without saving?" onClose={() => blocker.reset?.()}>
            <p>The draft has changes that are not saved.</p>
            <div className="actions">
              <button type="button" onClick={() => blocker.reset?.()}>Stay</button>
              <button type="button" className="danger" onClick={() => blocker.proceed?.()}>Leave without saving</button>
            </div>
          </Modal>
        )}
      </LookupsContext.Provider>
    </EditorStoreContext.Provider>
  );
}
