/**
 * A template: subject, HTML and text in plain code textareas, a merge-tag menu that inserts
 * at the cursor of the last field used, and a live preview of the template as edited (saved
 * or not) rendered by `POST /v1/templates/preview` a moment after typing stops (strict: a
 * missing merge tag is named with its field) with a real contact or sample attributes, in a
 * sandboxed iframe. "Send test to outbox" composes the saved template for a contact exactly
 * as a send would and puts it in the outbox (`POST /v1/templates/{id}/test-send`).
 */

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';

import { api, ApiError, errorText, seg } from '../api/client';
import { canEdit, useUser } from '../api/session';
import type { Channel, ContactPage, Rendered, TemplateBody } from '../api/types';
import { ContactPicker } from '../components/ContactPicker';
import { ErrorState, Loading } from '../components/States';
import { useContactNames } from '../segments/lookups';
import { insertAt, mergeTags, parseSample, SAMPLE_OFFER, tagText } from '../templates/mergeTags';

type Field = 'subject' | 'html' | 'text';
const ID = /^[a-z0-9][a-z0-9_-]*$/;

export function TemplateEditorPage() {
  const { templateId } = useParams();
  const existing = useQuery({
    queryKey: ['template', templateId],
    queryFn: () => api<TemplateBody>(`/v1/templates/${seg(templateId ?? '')}`),
    enabled: !!templateId,
  });
  if (templateId && existing.isPending) return <Loading what="Loading the template" />;
  if (templateId && existing.isError) return <ErrorState error={existing.error} retry={() => existing.refetch()} />;
  return <TemplateForm key={templateId ?? 'new'} saved={templateId ? { ...existing.data!, id: templateId } : null} />;
}

function TemplateForm({ saved }: { saved: TemplateBody | null }) {
  const user = useUser();
  const editable = canEdit(user.role);
  const navigate = useNavigate();
  const client = useQueryClient();
  const [draft, setDraft] = useState<TemplateBody>(saved ?? { id: '', name: '', channel: 'email', subject: '', html: '', text: '' });
  const [dirty, setDirty] = useState(false);
  const [lastField, setLastField] = useState<Field>(draft.channel === 'email' ? 'html' : 'text');
  const refs = { subject: useRef<HTMLInputElement>(null), html: useRef<HTMLTextAreaElement>(null), text: useRef<HTMLTextAreaElement>(null) };
  const names = useContactNames();
  const tags = useMemo(() => mergeTags(names.data?.attributes ?? []), [names.data]);
  const id = draft.id ?? '';
  const idProblem = !saved && id && !ID.test(id) ? 'lower-case letters, digits, - and _' : '';

  const set = (patch: Partial<TemplateBody>) => {
    setDraft((d) => ({ ...d, ...patch }));
    setDirty(true);
  };

  const save = useMutation({
    mutationFn: () => {
      const body: Record<string, unknown> = { name: draft.name ?? '', channel: draft.channel };
      for (const field of ['subject', 'html', 'text'] as const) {
        if (draft[field] && (draft.channel === 'email' || field === 'text')) body[field] = draft[field];
      }
      return api<TemplateBody>(`/v1/templates/${seg(id)}`, { method: 'PUT', body });
    },
    onSuccess: () => {
      setDirty(false);
      client.invalidateQueries({ queryKey: ['templates'] });
      client.invalidateQueries({ queryKey: ['template', id] });
      client.invalidateQueries({ queryKey: ['template-preview', id] });
      if (!saved) navigate(`/templates/${seg(id)}`, { replace: true });
    },
  });
  const remove = useMutation({
    mutationFn: () => api<unknown>(`/v1/templates/${seg(id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      client.invalidateQueries({ queryKey: ['templates'] });
      navigate('/templates');
    },
  });

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
        e.preventDefault();
        if (editable && id && !idProblem) save.mutate();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  const insert = (path: string) => {
    const field = draft.channel === 'email' ? lastField : 'text';
    const element = refs[field].current;
    const value = draft[field] ?? '';
    const done = insertAt(value, element?.selectionStart ?? value.length, element?.selectionEnd ?? value.length,
      tagText(path, field === 'html'));
    set({ [field]: done.text });
    requestAnimationFrame(() => {
      element?.focus();
      element?.setSelectionRange(done.cursor, done.cursor);
    });
  };

  const saveError = save.error instanceof ApiError ? save.error : null;
  const fieldError = (field: Field) => saveError?.details.find((d) => d.loc === field)?.message;
  const email = draft.channel === 'email';

  return (
    <section className="page template-editor">
      <div className="page-head">
        <h1>{saved ? saved.name || saved.id : 'New template'}</h1>
        <div className="actions">
          {dirty && <span className="unsaved">Unsaved changes</span>}
          <Link className="button" to="/templates">All templates</Link>
        </div>
      </div>
      {!editable && <p className="banner muted">Read-only: the {user.role} role cannot change templates.</p>}
      <div className="template-columns">
        <form className="stack" aria-label="Template" onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
          <div className="row wrap">
            <div className="field">
              <label htmlFor="template-name">Name</label>
              <input id="template-name" value={draft.name ?? ''} disabled={!editable} onChange={(e) => {
                set({ name: e.target.value, ...(saved ? {} : { id: e.target.value.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') }) });
              }} />
            </div>
            <div className="field">
              <label htmlFor="template-id">Id</label>
              <input id="template-id" className="mono" value={id} disabled={!!saved || !editable} aria-invalid={!!idProblem || undefined}
                onChange={(e) => set({ id: e.target.value })} />
              {idProblem && <small className="field-error">{idProblem}</small>}
            </div>
            <div className="field">
              <label htmlFor="template-channel">Channel</label>
              <select id="template-channel" value={draft.channel} disabled={!editable}
                onChange={(e) => { set({ channel: e.target.value as Channel }); setLastField(e.target.value === 'email' ? 'html' : 'text'); }}>
                <option value="email">email</option>
                <option value="sms">sms</option>
                <option value="whatsapp">whatsapp</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="merge-tag">Insert a merge tag</label>
              <select id="merge-tag" value="" disabled={!editable} aria-describedby="merge-tag-hint"
                onChange={(e) => { if (e.target.value) insert(e.target.value); }}>
                <option value="">Choose…</option>
                {(['Contact', 'Links', 'Offer'] as const).map((group) => (
                  <optgroup key={group} label={group}>
                    {tags.filter((t) => t.group === group).map((t) => <option key={t.path} value={t.path}>{t.path}</option>)}
                  </optgroup>
                ))}
              </select>
              <small id="merge-tag-hint" className="muted">into the {email ? lastField : 'text'} field, at the cursor</small>
            </div>
          </div>
          {email && (
            <div className="field">
              <label htmlFor="template-subject">Subject</label>
              <input id="template-subject" ref={refs.subject} value={draft.subject ?? ''} disabled={!editable}
                aria-invalid={!!fieldError('subject') || undefined} onFocus={() => setLastField('subject')}
                onChange={(e) => set({ subject: e.target.value })} />
              {fieldError('subject') && <small className="field-error">{fieldError('subject')}</small>}
            </div>
          )}
          {email && (
            <div className="field">
              <label htmlFor="template-html">HTML</label>
              <textarea id="template-html" ref={refs.html} className="code" rows={14} spellCheck={false} value={draft.html ?? ''}
                disabled={!editable} aria-invalid={!!fieldError('html') || undefined} onFocus={() => setLastField('html')}
                onChange={(e) => set({ html: e.target.value })} />
              {fieldError('html') && <small className="field-error">{fieldError('html')}</small>}
            </div>
          )}
          <div className="field">
            <label htmlFor="template-text">{email ? 'Plain text (optional with HTML)' : 'Text'}</label>
            <textarea id="template-text" ref={refs.text} className="code" rows={email ? 6 : 8} spellCheck={false} value={draft.text ?? ''}
              disabled={!editable} aria-invalid={!!fieldError('text') || undefined} onFocus={() => setLastField('text')}
              onChange={(e) => set({ text: e.target.value })} />
            {fieldError('text') && <small className="field-error">{fieldError('text')}</small>}
          </div>
          {save.isError && <p className="form-error" role="alert">{errorText(save.error)}</p>}
          {remove.isError && <p className="form-error" role="alert">{errorText(remove.error)}</p>}
          {editable && (
            <div className="actions start">
              <button type="submit" className="primary" disabled={save.isPending || !id || !!idProblem}>
                {save.isPending ? 'Saving…' : 'Save template'}
              </button>
              {saved && (
                <button type="button" className="danger" disabled={remove.isPending}
                  onClick={() => { if (window.confirm(`Delete the template ${id}?`)) remove.mutate(); }}>
                  Delete
                </button>
              )}
            </div>
          )}
        </form>
        <div className="stack">
          <TemplatePreview template={previewBody(draft)} />
          {saved && editable && <TestSend id={saved.id ?? id} dirty={dirty} />}
        </div>
      </div>
    </section>
  );
}

/** What the preview renders: the fields of the template's channel, as typed. */
function previewBody(draft: TemplateBody): Record<string, string> {
  const body: Record<string, string> = { channel: draft.channel };
  for (const field of ['subject', 'html', 'text'] as const) {
    if (draft[field] && (draft.channel === 'email' || field === 'text')) body[field] = draft[field] as string;
  }
  return body;
}

function TemplatePreview({ template }: { template: Record<string, string> }) {
  const [source, setSource] = useState<'sample' | 'contact'>('sample');
  const [contactId, setContactId] = useState('');
  const [sampleText, setSampleText] = useState('first_name = Ann\nemail = ann@example.com');
  const [withOffer, setWithOffer] = useState(false);
  const [asked, setAsked] = useState<string>('');
  const contacts = useQuery({ queryKey: ['contacts-picker'], queryFn: () => api<ContactPage>('/v1/contacts?limit=50'), staleTime: 30_000 });
  const { sample, errors } = parseSample(sampleText);
  const body = JSON.stringify({
    template,
    ...(source === 'contact' ? { contact_id: contactId } : { sample }),
    context: withOffer ? { offer: SAMPLE_OFFER } : {},
  });
  useEffect(() => {
    const timer = setTimeout(() => setAsked(body), 300);
    return () => clearTimeout(timer);
  }, [body]);
  const empty = !template.subject && !template.html && !template.text;
  const ready = asked !== '' && !(source === 'contact' && !contactId) && !empty;
  const preview = useQuery({
    queryKey: ['template-preview', asked],
    queryFn: ({ signal }) => api<Rendered>('/v1/templates/preview', { method: 'POST', body: JSON.parse(asked), signal }),
    enabled: ready,
    retry: false,
  });
  const error = preview.error instanceof ApiError ? preview.error : null;
  const where = error?.details[0]?.loc?.replace(/^template\./, '');

  return (
    <aside className="card preview-panel" aria-label="Preview">
      <h2>Preview</h2>
      <p className="muted small">Shows your edits as you type, saved or not.</p>
      {empty && <p className="muted">Write the template to preview it.</p>}
      <fieldset className="stack">
        <legend>Render with</legend>
        <div className="row">
          <label className="inline"><input type="radio" name="preview-source" checked={source === 'sample'} onChange={() => setSource('sample')} /> sample attributes</label>
          <label className="inline"><input type="radio" name="preview-source" checked={source === 'contact'} onChange={() => setSource('contact')} /> a contact</label>
        </div>
        {source === 'contact' ? (
          <div className="field">
            <label htmlFor="preview-contact">Contact id</label>
            <input id="preview-contact" list="preview-contacts" value={contactId} onChange={(e) => setContactId(e.target.value.trim())} />
            <datalist id="preview-contacts">
              {(contacts.data?.items ?? []).map((c) => <option key={c.contact_id} value={c.contact_id}>{c.email ?? ''}</option>)}
            </datalist>
          </div>
        ) : (
          <div className="field">
            <label htmlFor="preview-sample">Sample attributes (name = value, one a line)</label>
            <textarea id="preview-sample" className="code" rows={3} value={sampleText} onChange={(e) => setSampleText(e.target.value)}
              aria-invalid={errors.length > 0 || undefined} />
            {errors.map((e) => <small key={e} className="field-error">{e}</small>)}
          </div>
        )}
        <label className="inline"><input type="checkbox" checked={withOffer} onChange={(e) => setWithOffer(e.target.checked)} /> with a sample QR offer</label>
      </fieldset>
      {preview.isFetching && <Loading what="Rendering" />}
      {preview.isError && (
        <div className="state state-error" role="alert" data-testid="preview-error">
          <strong>{where ? `The ${where} cannot be rendered` : 'The preview failed'}</strong>
          <p>{errorText(preview.error)}</p>
        </div>
      )}
      {preview.data && !preview.isError && (
        <div className="rendered" data-testid="preview">
          {preview.data.subject !== undefined && <p><span className="muted">Subject:</span> <strong data-testid="preview-subject">{preview.data.subject}</strong></p>}
          {preview.data.html && (
            <iframe title="HTML preview" sandbox="" srcDoc={preview.data.html} className="preview-frame" />
          )}
          {preview.data.text && (
            <>
              <h3 className="small muted">Text</h3>
              <pre className="preview-text">{preview.data.text}</pre>
            </>
          )}
        </div>
      )}
    </aside>
  );
}

interface TestSent {
  message_id: string;
  contact_id: string;
  to: string;
  channel: string;
}

/** "Send test to outbox": the saved template, composed for a contact, into the outbox only. */
function TestSend({ id, dirty }: { id: string; dirty: boolean }) {
  const [contactId, setContactId] = useState('');
  const send = useMutation({
    mutationFn: () => api<TestSent>(`/v1/templates/${seg(id)}/test-send`, { method: 'POST', body: { contact_id: contactId } }),
  });
  const error = send.error instanceof ApiError ? send.error : null;
  return (
    <section className="card test-send" aria-label="Send a test">
      <h2>Send a test</h2>
      <p className="muted small">Composed exactly as a journey would send it, but only into the outbox: nobody receives it.</p>
      {dirty && <p className="hint">The test uses the saved template: save (Ctrl+S) first to send your changes.</p>}
      <ContactPicker id="test-send-contact" label="To contact" value={contactId}
        onChange={(v) => { setContactId(v); send.reset(); }} />
      <div className="actions start">
        <button type="button" disabled={!contactId || send.isPending} onClick={() => send.mutate()}>
          {send.isPending ? 'Sending…' : 'Send test to outbox'}
        </button>
      </div>
      {send.isError && (
        <p className="form-error" role="alert" data-testid="test-send-error">
          {errorText(send.error)}{error?.details[0]?.loc && error.details[0].loc !== 'template' ? ` (${error.details[0].loc})` : ''}
        </p>
      )}
      {send.data && (
        <p className="note ok" role="status" data-testid="test-send-done">
          Test sent to {send.data.to} ({send.data.message_id}).{' '}
          <Link to={`/outbox?contact_id=${encodeURIComponent(send.data.contact_id)}`}>Open the outbox</Link>
        </p>
      )}
    </section>
  );
}
