/**
 * The editor's "Simulate" drawer: runs the journey as it is on the canvas (saved or not)
 * against a contact's recorded events or an uploaded JSONL script, through
 * `POST /v1/journeys/{id}/simulate` (a dry run on a virtual clock: nothing is sent), and
 * lists each contact's steps, messages and exits; the chosen contact's path is highlighted
 * on the canvas.
 */

import { useMutation } from '@tanstack/react-query';
import { useEffect, useState } from 'react';

import { api, ApiError, errorText, seg } from '../api/client';
import { ContactPicker } from '../components/ContactPicker';
import { toApi } from '../graph/convert';
import { useEditorStore } from './context';
import {
  explainEventError, highlightOf, parseJsonl, sinceStart, type Highlight, type ParsedScript, type Simulation,
} from './simulation';

export function SimulatePanel({ journeyId, onHighlight, onClose }: {
  journeyId: string; onHighlight: (highlight: Highlight | null) => void; onClose: () => void;
}) {
  const store = useEditorStore();
  const [source, setSource] = useState<'contact' | 'file'>('contact');
  const [contactId, setContactId] = useState('');
  const [script, setScript] = useState<(ParsedScript & { name: string }) | null>(null);
  const [shown, setShown] = useState<string>('');

  const run = useMutation({
    mutationFn: () => {
      const graph = toApi(store.getState());
      const body = source === 'contact' ? { contact_id: contactId, graph } : { events: script?.events ?? [], graph };
      return api<Simulation>(`/v1/journeys/${seg(journeyId)}/simulate`, { method: 'POST', body });
    },
    onSuccess: (result) => setShown(result.contacts[0]?.contact_id ?? ''),
  });
  const result = run.data;
  const contact = result?.contacts.find((c) => c.contact_id === shown);

  useEffect(() => {
    onHighlight(contact ? highlightOf(contact, store.getState().edges) : null);
  }, [contact, onHighlight, store]);
  useEffect(() => () => onHighlight(null), [onHighlight]);

  const readFile = async (file: File | undefined) => {
    run.reset();
    setScript(file ? { ...parseJsonl(await file.text()), name: file.name } : null);
  };
  const ready = source === 'contact' ? Boolean(contactId) : Boolean(script && script.events.length && !script.errors.length);
  const error = run.error instanceof ApiError ? run.error : null;
  const start = contact?.steps[0]?.at ?? '';

  return (
    <aside className="simulate-panel" aria-label="Simulate">
      <div className="simulate-head">
        <h2>Simulate</h2>
        <button type="button" className="icon" aria-label="Close the simulation" onClick={onClose}>×</button>
      </div>
      <p className="muted small">A dry run of the journey as it is on the canvas, on a virtual clock: nothing is sent.</p>
      <fieldset className="stack">
        <legend>Events</legend>
        <label className="inline"><input type="radio" name="sim-source" checked={source === 'contact'}
          onChange={() => setSource('contact')} /> a contact's recorded events</label>
        <label className="inline"><input type="radio" name="sim-source" checked={source === 'file'}
          onChange={() => setSource('file')} /> a JSONL file</label>
        {source === 'contact' ? (
          <ContactPicker id="sim-contact" label="Contact" value={contactId} onChange={setContactId} />
        ) : (
          <div className="field">
            <label htmlFor="sim-file">Events file (one envelope or {'{"advance": "PT4H"}'} a line)</label>
            <input id="sim-file" type="file" accept=".jsonl,.ndjson,.json,.txt,application/x-ndjson"
              onChange={(e) => readFile(e.target.files?.[0])} />
            {script && !script.errors.length && (
              <small className="muted">{script.name}: {script.events.length} line{script.events.length === 1 ? '' : 's'}</small>
            )}
            {script?.errors.map((e) => <small key={e} className="field-error" role="alert">{e}</small>)}
          </div>
        )}
      </fieldset>
      <button type="button" className="primary" disabled={!ready || run.isPending} onClick={() => run.mutate()}>
        {run.isPending ? 'Simulating…' : 'Run simulation'}
      </button>
      {run.isError && (
        <div className="state state-error" role="alert" data-testid="sim-error">
          <p>{error && error.details.length ? 'The events cannot be simulated:' : errorText(run.error)}</p>
          {error && error.details.length > 0 && (
            <ul>
              {error.details.map((d, i) => (
                <li key={i}>{source === 'file' ? explainEventError(d.loc, d.message, script?.lines ?? []) : d.message}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {result && (
        <div className="simulate-result" data-testid="sim-result">
          {result.problems.length > 0 && (
            <ul className="sim-problems">
              {result.problems.map((p, i) => (
                <li key={i} className={p.severity === 'warning' ? 'warning' : 'field-error'}>
                  {p.code} {p.node ?? p.edge ?? ''} {p.message}
                </li>
              ))}
            </ul>
          )}
          {!result.simulated && <p className="field-error">Fix the journey's problems to simulate it.</p>}
          {result.simulated && result.contacts.length === 0 && <p className="muted">No contact entered the journey.</p>}
          {result.contacts.length > 1 && (
            <div className="field">
              <label htmlFor="sim-shown">Contact</label>
              <select id="sim-shown" value={shown} onChange={(e) => setShown(e.target.value)}>
                {result.contacts.map((c) => <option key={c.contact_id} value={c.contact_id}>{c.contact_id}</option>)}
              </select>
            </div>
          )}
          {contact && (
            <>
              {!contact.entered && <p className="muted">{contact.contact_id} did not enter the journey.</p>}
              <ol className="sim-steps" aria-label="Steps">
                {contact.steps.map((step, i) => {
                  const sent = contact.messages.filter((m) => m.node_id === step.node_id && m.at === step.at);
                  const held = contact.suppressed.filter((m) => m.node_id === step.node_id && m.at === step.at);
                  return (
                    <li key={i} data-node={step.node_id}>
                      <span className="mono">{step.node_id}</span>{' '}
                      <span className="muted small" title={step.at}>{sinceStart(step.at, start)}</span>
                      {sent.map((m) => <div key={m.message_id} className="small">sends {m.channel} “{m.template}”</div>)}
                      {held.map((m) => <div key={m.message_id} className="small warning">held back: {m.reason}</div>)}
                    </li>
                  );
                })}
              </ol>
              {contact.exits.map((x, i) => (
                <p key={i} className="small">Leaves at <span className="mono">{x.node_id ?? '—'}</span>: {x.reason}</p>
              ))}
              {contact.waiting_at && <p className="small">Still waiting at <span className="mono">{contact.waiting_at}</span>.</p>}
              <p className="muted small">{contact.messages.length} message{contact.messages.length === 1 ? '' : 's'} would be sent.</p>
            </>
          )}
        </div>
      )}
    </aside>
  );
}
