/**
 * Starting a journey: an empty canvas, or a copy of a ready-made one from the library
 * (`GET /v1/library/journeys`). Either way the draft is saved at once and opened.
 */

import { useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';

import { api, ApiError, errorText, seg } from '../api/client';
import type { Items, SaveResult } from '../api/types';
import { ErrorState, Loading } from '../components/States';
import { Modal } from '../components/Modal';
import type { ApiJourney } from '../graph/types';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

export function slugify(name: string): string {
  return name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60);
}

/** Save the first draft, unless a journey with this id exists (a save would replace its draft). */
async function createJourney(graph: ApiJourney): Promise<SaveResult> {
  const existing = await api<Items<{ id: string }>>('/v1/journeys');
  if (existing.items.some((j) => j.id === graph.id)) {
    throw new ApiError(409, { error: { code: 'conflict', message: `a journey with the id '${graph.id}' exists; pick another id` } });
  }
  return api<SaveResult>(`/v1/journeys/${seg(graph.id)}`, { method: 'PUT', body: graph });
}

export function NewJourneyDialog({ template, onClose, takenIds }: {
  template: boolean; onClose: () => void; takenIds: string[];
}) {
  const navigate = useNavigate();
  const library = useQuery({
    queryKey: ['library-journeys'],
    queryFn: () => api<Items<ApiJourney>>('/v1/library/journeys'),
    enabled: template,
    staleTime: Infinity,
  });
  const [picked, setPicked] = useState<string>('');
  const [name, setName] = useState('');
  const [id, setId] = useState('');
  const [idTouched, setIdTouched] = useState(false);
  const create = useMutation({
    mutationFn: createJourney,
    onSuccess: (result) => navigate(`/journeys/${seg(result.journey.id)}`),
  });

  const source = library.data?.items.find((j) => j.id === picked);
  const effectiveId = idTouched ? id : slugify(name);
  const idProblem = !effectiveId ? 'give the journey an id'
    : !ID_PATTERN.test(effectiveId) ? 'letters, digits, - and _ only'
      : takenIds.includes(effectiveId) ? 'this id is taken' : null;

  const choose = (journey: ApiJourney) => {
    setPicked(journey.id);
    if (!name || name === library.data?.items.find((j) => j.id === picked)?.name) setName(journey.name ?? journey.id);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (idProblem || !name.trim() || (template && !source)) return;
    const graph: ApiJourney = source
      ? { ...structuredClone(source), id: effectiveId, name: name.trim() }
      : { id: effectiveId, name: name.trim(), nodes: [], edges: [] };
    create.mutate(graph);
  };

  return (
    <Modal title={template ? 'New journey from a template' : 'New journey'} onClose={onClose}>
      <form onSubmit={submit} className="stack">
        {template && (
          <fieldset>
            <legend>Template</legend>
            {library.isPending && <Loading what="Loading templates" />}
            {library.isError && <ErrorState error={library.error} retry={() => library.refetch()} />}
            <div className="template-list">
              {library.data?.items.map((journey) => (
                <label key={journey.id} className={`template-choice${picked === journey.id ? ' picked' : ''}`}>
                  <input type="radio" name="template" value={journey.id} checked={picked === journey.id}
                    onChange={() => choose(journey)} />
                  <strong>{journey.name ?? journey.id}</strong>
                  <span className="muted">
                    {journey.nodes.length} steps · starts on {String((journey.nodes.find((n) => n.type === 'entry')?.data?.trigger as { event?: string } | undefined)?.event ?? '?')}
                  </span>
                </label>
              ))}
            </div>
          </fieldset>
        )}
        <label htmlFor="journey-name">Name</label>
        <input id="journey-name" required value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
        <label htmlFor="journey-id">Id (in the API and in analytics)</label>
        <input id="journey-id" value={effectiveId} maxLength={100} aria-describedby="journey-id-hint"
          onChange={(e) => { setIdTouched(true); setId(e.target.value); }} aria-invalid={Boolean(idProblem && (name || idTouched))} />
        <small id="journey-id-hint" className={idProblem && (name || idTouched) ? 'field-error' : 'muted'}>
          {idProblem && (name || idTouched) ? idProblem : 'cannot be changed later'}
        </small>
        {create.isError && <p className="form-error" role="alert">{errorText(create.error)}</p>}
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={create.isPending || Boolean(idProblem) || !name.trim() || (template && !source)}>
            {create.isPending ? 'Creating…' : 'Create and open'}
          </button>
        </div>
      </form>
    </Modal>
  );
}
