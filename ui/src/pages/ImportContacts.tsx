/**
 * Import contacts from a CSV file: upload progress, then a summary and the rows that
 * could not be imported, by line number (the other rows are imported).
 */

import { useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';

import { ApiError, errorText } from '../api/client';
import type { ImportRowError, ImportSummary } from '../api/types';
import { uploadForm, type UploadProgress } from '../api/upload';

interface Outcome {
  summary: ImportSummary;
  errors: ImportRowError[];
}

export function ImportContactsPage() {
  const queryClient = useQueryClient();
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [failure, setFailure] = useState<unknown>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    const form = new FormData();
    form.append('file', file);
    setBusy(true);
    setOutcome(null);
    setFailure(null);
    setProgress({ loaded: 0, total: file.size });
    try {
      const summary = await uploadForm<ImportSummary>('/v1/contacts/import?wait=true', form, setProgress);
      setOutcome({ summary, errors: [] });
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && typeof error.body.rows === 'number') {
        setOutcome({ summary: error.body as unknown as ImportSummary, errors: error.details as ImportRowError[] });
      } else {
        setFailure(error);
      }
    } finally {
      setBusy(false);
      queryClient.invalidateQueries({ queryKey: ['contacts'] });
    }
  };

  const percent = progress && progress.total ? Math.round((progress.loaded / progress.total) * 100) : 0;
  return (
    <section className="page">
      <p><Link to="/contacts">← Contacts</Link></p>
      <h1>Import contacts</h1>
      <p className="muted">
        A CSV file with a header line naming the columns: <code>email</code>, <code>phone</code> or <code>contact_id</code>,
        and any of <code>first_name</code>, <code>last_name</code>, <code>timezone</code>, <code>tags</code> or your own attributes.
        Existing contacts (same id, email or phone) are updated.
      </p>
      <form onSubmit={submit} className="card stack import-form">
        <label htmlFor="csv-file">CSV file</label>
        <input id="csv-file" ref={input} type="file" accept=".csv,text/csv" disabled={busy}
          onChange={(e) => { setFile(e.target.files?.[0] ?? null); setOutcome(null); setFailure(null); }} />
        <button type="submit" className="primary" disabled={!file || busy}>{busy ? 'Importing…' : 'Import'}</button>
        {progress && (busy || percent < 100) && (
          <div className="progress">
            <progress max={100} value={percent} aria-label="Upload progress">{percent}%</progress>
            <span>{busy && percent >= 100 ? 'Uploaded; importing…' : `${percent}% uploaded`}</span>
          </div>
        )}
      </form>
      {failure !== null && (
        <div className="state state-error" role="alert">
          <strong>The file was not imported</strong>
          <p>{errorText(failure)}</p>
        </div>
      )}
      {outcome && (
        <section className="import-result" aria-live="polite" data-testid="import-result">
          <h2>{outcome.errors.length ? 'Imported, with rows left out' : 'Imported'}</h2>
          <p className="summary" data-testid="import-summary">
            {outcome.summary.rows} row{outcome.summary.rows === 1 ? '' : 's'}: {outcome.summary.created} created,{' '}
            {outcome.summary.updated} updated, {outcome.summary.failed} failed.
          </p>
          {outcome.errors.length > 0 && (
            <table className="table errors" data-testid="import-errors">
              <caption>Rows not imported (fix them and import the file again; imported rows are only updated)</caption>
              <thead><tr><th scope="col">Line</th><th scope="col">Column</th><th scope="col">Problem</th></tr></thead>
              <tbody>
                {outcome.errors.map((e, i) => (
                  <tr key={i}><td className="num">{e.line}</td><td>{e.column ?? '—'}</td><td>{e.error ?? (e as { message?: string }).message}</td></tr>
                ))}
              </tbody>
            </table>
          )}
          <p><Link to="/contacts">See the contacts</Link></p>
        </section>
      )}
    </section>
  );
}
