/**
 * A new broadcast in four steps: the message (name, channel, template), the audience
 * (everyone, tags or a segment, with a live count from `POST /v1/broadcasts/audience`),
 * an optional QR offer with the schedule and rate, then a review that sends it.
 */

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type ReactNode } from 'react';
import { Link, useNavigate } from 'react-router';

import { api, ApiError, errorText, seg } from '../api/client';
import type { AudienceCount, Broadcast, Channel, Items, Segment, Template } from '../api/types';
import { Loading } from '../components/States';
import {
  audienceOf, bodyOf, DEFAULT_RATE, describeAudience, EMPTY_FORM, STEPS, stepProblems, type WizardForm,
} from '../broadcasts/wizard';
import { useContactNames } from '../segments/lookups';

function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string; hint?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {error ? <small className="field-error" id={`${id}-error`}>{error}</small> : hint && <small className="muted">{hint}</small>}
    </div>
  );
}

function useAudienceCount(form: WizardForm) {
  const body = JSON.stringify({ audience: audienceOf(form), channel: form.channel });
  const [asked, setAsked] = useState('');
  const complete = Object.keys(stepProblems(form, 1)).length === 0;
  useEffect(() => {
    const timer = setTimeout(() => setAsked(body), 300);
    return () => clearTimeout(timer);
  }, [body]);
  return useQuery({
    queryKey: ['broadcast-audience', asked],
    queryFn: ({ signal }) => api<AudienceCount>('/v1/broadcasts/audience', { method: 'POST', body: JSON.parse(asked), signal }),
    enabled: complete && asked === body,
    retry: false,
  });
}

export function BroadcastWizardPage() {
  const navigate = useNavigate();
  const client = useQueryClient();
  const [form, setForm] = useState<WizardForm>(EMPTY_FORM);
  const [step, setStep] = useState(0);
  const [tried, setTried] = useState(false);
  const templates = useQuery({ queryKey: ['templates'], queryFn: () => api<Items<Template>>('/v1/templates') });
  const segments = useQuery({ queryKey: ['segments'], queryFn: () => api<Items<Segment>>('/v1/segments') });
  const names = useContactNames();
  const count = useAudienceCount(form);
  const problems = tried ? stepProblems(form, step) : {};
  const set = (patch: Partial<WizardForm>) => setForm((f) => ({ ...f, ...patch }));
  const ofChannel = (templates.data?.items ?? []).filter((t) => t.channel === form.channel);

  const create = useMutation({
    mutationFn: () => api<Broadcast>('/v1/broadcasts', { method: 'POST', body: bodyOf(form) }),
    onSuccess: (created) => {
      client.invalidateQueries({ queryKey: ['broadcasts'] });
      navigate(`/broadcasts/${seg(created.id)}`);
    },
  });
  const createError = create.error instanceof ApiError ? create.error : null;

  const next = () => {
    if (Object.keys(stepProblems(form, step)).length > 0) {
      setTried(true);
      return;
    }
    setTried(false);
    if (step < STEPS.length - 1) setStep(step + 1);
    else create.mutate();
  };

  return (
    <section className="page wizard">
      <div className="page-head">
        <h1>New broadcast</h1>
        <Link className="button" to="/broadcasts">All broadcasts</Link>
      </div>
      <ol className="steps" aria-label="Steps">
        {STEPS.map((name, i) => (
          <li key={name} className={i === step ? 'current' : i < step ? 'done' : ''} aria-current={i === step ? 'step' : undefined}>
            {i + 1}. {name}
          </li>
        ))}
      </ol>
      <form className="card stack wizard-step" aria-label={STEPS[step]} noValidate onSubmit={(e) => { e.preventDefault(); next(); }}>
        <h2>{STEPS[step]}</h2>
        {step === 0 && (
          <>
            <Field id="bc-name" label="Name" error={problems.name} hint="what marketers see in the list">
              <input id="bc-name" value={form.name} autoFocus aria-invalid={!!problems.name || undefined} onChange={(e) => set({ name: e.target.value })} />
            </Field>
            <Field id="bc-channel" label="Channel">
              <select id="bc-channel" value={form.channel} onChange={(e) => set({ channel: e.target.value as Channel, template: '' })}>
                <option value="email">email</option>
                <option value="sms">sms</option>
                <option value="whatsapp">whatsapp</option>
              </select>
            </Field>
            <Field id="bc-template" label="Template" error={problems.template}
              hint={templates.isSuccess && ofChannel.length === 0 ? `no ${form.channel} template yet: create one under Templates` : undefined}>
              <select id="bc-template" value={form.template} aria-invalid={!!problems.template || undefined} onChange={(e) => set({ template: e.target.value })}>
                <option value="">Choose…</option>
                {ofChannel.map((t) => <option key={t.id} value={t.id}>{t.name || t.id}</option>)}
              </select>
            </Field>
          </>
        )}
        {step === 1 && (
          <>
            <fieldset className="stack">
              <legend>Who gets it</legend>
              {(['all', 'tags', 'segment'] as const).map((kind) => (
                <label key={kind} className="inline">
                  <input type="radio" name="audience" value={kind} checked={form.audience === kind} onChange={() => set({ audience: kind })} />
                  {kind === 'all' ? ' everyone' : kind === 'tags' ? ' contacts with any of these tags' : ' members of a segment'}
                </label>
              ))}
            </fieldset>
            {form.audience === 'tags' && (
              <Field id="bc-tags" label="Tags (comma-separated)" error={problems.tags}>
                <input id="bc-tags" list="bc-known-tags" value={form.tags} aria-invalid={!!problems.tags || undefined} onChange={(e) => set({ tags: e.target.value })} />
                <datalist id="bc-known-tags">{(names.data?.tags ?? []).map((t) => <option key={t} value={t} />)}</datalist>
              </Field>
            )}
            {form.audience === 'segment' && (
              <Field id="bc-segment" label="Segment" error={problems.segment}>
                <select id="bc-segment" value={form.segment} aria-invalid={!!problems.segment || undefined} onChange={(e) => set({ segment: e.target.value })}>
                  <option value="">Choose…</option>
                  {(segments.data?.items ?? []).map((s) => <option key={s.id} value={s.id}>{s.name || s.id} ({s.members ?? 0})</option>)}
                </select>
              </Field>
            )}
            <AudienceCountView count={count} channel={form.channel} />
          </>
        )}
        {step === 2 && (
          <>
            <fieldset className="stack">
              <legend>When</legend>
              <label className="inline"><input type="radio" name="schedule" checked={form.schedule === 'now'} onChange={() => set({ schedule: 'now' })} /> now</label>
              <label className="inline"><input type="radio" name="schedule" checked={form.schedule === 'at'} onChange={() => set({ schedule: 'at' })} /> at a time</label>
              {form.schedule === 'at' && (
                <Field id="bc-send-at" label="Send at (your time zone)" error={problems.sendAt}>
                  <input id="bc-send-at" type="datetime-local" value={form.sendAt} aria-invalid={!!problems.sendAt || undefined} onChange={(e) => set({ sendAt: e.target.value })} />
                </Field>
              )}
            </fieldset>
            <Field id="bc-rate" label="Messages a minute" error={problems.rate} hint={`default ${DEFAULT_RATE[form.channel]} for ${form.channel}`}>
              <input id="bc-rate" type="number" min={1} max={100000} value={form.rate} placeholder={String(DEFAULT_RATE[form.channel])}
                aria-invalid={!!problems.rate || undefined} onChange={(e) => set({ rate: e.target.value })} />
            </Field>
            <label className="inline">
              <input type="checkbox" checked={form.withOffer} onChange={(e) => set({ withOffer: e.target.checked })} /> attach a personal QR offer to every message
            </label>
            {form.withOffer && (
              <fieldset className="stack">
                <legend>QR offer</legend>
                <div className="row wrap">
                  <Field id="bc-offer-value" label="Value">
                    <input id="bc-offer-value" value={form.offer.value} placeholder="10%" onChange={(e) => set({ offer: { ...form.offer, value: e.target.value } })} />
                  </Field>
                  <Field id="bc-offer-expires" label="Expires after" error={problems.expiresIn} hint="ISO duration, e.g. P14D (empty: never)">
                    <input id="bc-offer-expires" value={form.offer.expiresIn} aria-invalid={!!problems.expiresIn || undefined}
                      onChange={(e) => set({ offer: { ...form.offer, expiresIn: e.target.value } })} />
                  </Field>
                  <Field id="bc-offer-uses" label="Uses" error={problems.maxUses}>
                    <input id="bc-offer-uses" type="number" min={1} value={form.offer.maxUses} aria-invalid={!!problems.maxUses || undefined}
                      onChange={(e) => set({ offer: { ...form.offer, maxUses: e.target.value } })} />
                  </Field>
                </div>
                <Field id="bc-offer-description" label="Description" error={problems.description}>
                  <input id="bc-offer-description" value={form.offer.description} placeholder="10% off your next order"
                    onChange={(e) => set({ offer: { ...form.offer, description: e.target.value } })} />
                </Field>
                <p className="hint">Use <code>{'{{ offer.qr_img }}'}</code> or <code>{'{{ offer.url }}'}</code> in the template to show it.</p>
              </fieldset>
            )}
          </>
        )}
        {step === 3 && (
          <>
            <dl className="attributes" data-testid="broadcast-review">
              <div><dt>Name</dt><dd>{form.name}</dd></div>
              <div><dt>Message</dt><dd>{form.channel} · {form.template}</dd></div>
              <div><dt>Audience</dt><dd>{describeAudience(audienceOf(form))}</dd></div>
              <div><dt>When</dt><dd>{form.schedule === 'now' ? 'now' : new Date(form.sendAt).toLocaleString()}</dd></div>
              <div><dt>Rate</dt><dd>{form.rate || DEFAULT_RATE[form.channel]} a minute</dd></div>
              <div><dt>Offer</dt><dd>{form.withOffer ? `${form.offer.value || 'QR offer'} (${form.offer.maxUses} use(s)${form.offer.expiresIn ? `, expires after ${form.offer.expiresIn}` : ''})` : 'none'}</dd></div>
            </dl>
            <AudienceCountView count={count} channel={form.channel} />
          </>
        )}
        {create.isError && (
          <div className="form-error" role="alert">
            {errorText(create.error)}
            {createError && createError.details.length > 1 && (
              <ul>{createError.details.map((d) => <li key={`${d.loc}${d.message}`}><code>{d.loc}</code>: {d.message}</li>)}</ul>
            )}
          </div>
        )}
        <div className="actions start">
          {step > 0 && <button type="button" onClick={() => { setTried(false); setStep(step - 1); }}>← Back</button>}
          <button type="submit" className="primary" disabled={create.isPending}>
            {step < STEPS.length - 1 ? 'Next →' : create.isPending ? 'Sending…' : form.schedule === 'now' ? 'Send broadcast' : 'Schedule broadcast'}
          </button>
        </div>
      </form>
    </section>
  );
}

function AudienceCountView({ count, channel }: { count: ReturnType<typeof useAudienceCount>; channel: Channel }) {
  if (count.isError) return <p className="field-error" role="alert">{errorText(count.error)}</p>;
  if (!count.data) return count.isFetching ? <Loading what="Counting" /> : null;
  return (
    <p className="big-count" data-testid="audience-count" aria-live="polite">
      {count.data.count} contact{count.data.count === 1 ? '' : 's'}
      {count.data.reachable !== undefined && <span className="muted small"> ({count.data.reachable} reachable by {channel})</span>}
    </p>
  );
}
