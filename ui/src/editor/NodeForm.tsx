/**
 * The side panel's form for the selected node, one section per node type (see
 * docs/nodes/*.md). Each input changes the node's `data`; a cleared optional field is
 * removed from it rather than left empty.
 */

import type { FlowNode } from '../graph/convert';
import type { JsonObject } from '../graph/types';
import { useEditor } from './context';
import { DurationPicker, EventTypeInput, JsonField, SelectField, TemplatePicker, TextField } from './fields';
import { RuleField } from './RuleField';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const str = (value: unknown) => (typeof value === 'string' ? value : '');
const obj = (value: unknown): JsonObject => (value && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : {});
const list = (value: unknown): JsonObject[] => (Array.isArray(value) ? value.map(obj) : []);

/** `data` with `key` set to `value`, or without `key` when `value` is undefined. */
export function withField(data: JsonObject, key: string, value: unknown): JsonObject {
  const next = { ...data };
  if (value === undefined) delete next[key];
  else next[key] = value;
  return next;
}

interface FormProps {
  node: FlowNode;
  data: JsonObject;
  /** `coalesce`: typing joins one undo step per key (default: the field); null: a step of its own */
  set: (key: string, value: unknown, coalesce?: string | null) => void;
  replace: (data: JsonObject, coalesce?: string) => void;
  disabled: boolean;
}

export function NodeForm({ node }: { node: FlowNode }) {
  const update = useEditor((s) => s.updateNodeData);
  const readOnly = useEditor((s) => s.readOnly);
  const remove = useEditor((s) => s.deleteElements);
  const data = node.data;
  const props: FormProps = {
    node,
    data,
    disabled: readOnly,
    set: (key, value, coalesce) => update(node.id, withField(data, key, value), coalesce === undefined ? key : coalesce ?? undefined),
    replace: (next, coalesce) => update(node.id, next, coalesce),
  };
  return (
    <form className="node-form stack" onSubmit={(e) => e.preventDefault()} aria-label={`Settings of ${node.id}`}>
      <h2>
        <span className="node-kind">{node.type}</span> <span className="mono muted">{node.id}</span>
      </h2>
      <TextField label="Name on the canvas" name="label" value={str(data.label)} disabled={readOnly}
        onChange={(v) => props.set('label', v || undefined)} />
      {node.type === 'entry' && <EntryForm {...props} />}
      {node.type === 'wait' && <WaitForm {...props} />}
      {node.type === 'branch' && <BranchForm {...props} />}
      {node.type === 'send' && <SendForm {...props} />}
      {node.type === 'end' && <p className="muted">The contact leaves the journey here (reason: completed).</p>}
      {!['entry', 'wait', 'branch', 'send', 'end'].includes(node.type ?? '') && (
        <JsonField label="Data (JSON)" value={data} disabled={readOnly} rows={8}
          onChange={(v) => props.replace(obj(v), 'data')} />
      )}
      {!readOnly && (
        <button type="button" className="danger" onClick={() => remove([node.id], [])}>
          Delete this step
        </button>
      )}
    </form>
  );
}

function EntryForm({ data, set, disabled }: FormProps) {
  const trigger = obj(data.trigger);
  const setTrigger = (key: string, value: unknown) => set('trigger', withField(trigger, key, value), `trigger.${key}`);
  return (
    <>
      <EventTypeInput label="Starts when this event arrives" name="trigger" value={str(trigger.event)} disabled={disabled}
        hint="segment.entered starts it for new members of a segment"
        onChange={(v) => setTrigger('event', v)} />
      {trigger.event === 'segment.entered' && (
        <TextField label="Segment id" name="segment" value={str(trigger.segment)} disabled={disabled}
          onChange={(v) => setTrigger('segment', v || undefined)} />
      )}
      <RuleField label="Only contacts matching (optional)" name="filter" value={data.filter} disabled={disabled} optional
        withProperty hint="no conditions: every contact; see docs/segments.md" onChange={(v) => set('filter', v)} />
    </>
  );
}

function WaitForm({ data, replace, set, disabled }: FormProps) {
  const mode = str(data.mode) || 'duration';
  const changeMode = (next: string) => {
    const { duration, time, weekdays, event, match, timeout, ...rest } = data;
    void duration; void time; void weekdays; void event; void match; void timeout;
    const defaults: Record<string, JsonObject> = {
      duration: { duration: 'P1D' },
      until: { time: '09:00' },
      event: { event: '', timeout: 'P1D' },
    };
    replace({ ...rest, mode: next, ...defaults[next] });
  };
  const weekdays = Array.isArray(data.weekdays) ? (data.weekdays as string[]) : [];
  return (
    <>
      <SelectField label="Wait" name="mode" value={mode} disabled={disabled} onChange={changeMode} options={[
        { value: 'duration', label: 'for a time' },
        { value: 'until', label: 'until a time of day' },
        { value: 'event', label: 'for an event (with a timeout)' },
      ]} />
      {mode === 'duration' && (
        <DurationPicker label="How long" name="duration" value={data.duration} disabled={disabled}
          onChange={(v) => set('duration', v)} />
      )}
      {mode === 'until' && (
        <>
          <div className="field">
            <label htmlFor="wait-time">Local time of day (contact's timezone)</label>
            <input id="wait-time" type="time" value={str(data.time)} disabled={disabled}
              onChange={(e) => set('time', e.target.value)} />
          </div>
          <fieldset className="field">
            <legend>On these days (none: any day)</legend>
            <div className="weekdays">
              {WEEKDAYS.map((day) => (
                <label key={day}>
                  <input type="checkbox" checked={weekdays.includes(day)} disabled={disabled}
                    onChange={(e) => {
                      const next = e.target.checked ? WEEKDAYS.filter((d) => d === day || weekdays.includes(d))
                        : weekdays.filter((d) => d !== day);
                      set('weekdays', next.length ? next : undefined, 'weekdays');
                    }} />
                  {day}
                </label>
              ))}
            </div>
          </fieldset>
        </>
      )}
      {mode === 'event' && (
        <>
          <EventTypeInput label="Wait for this event" name="event" value={str(data.event)} disabled={disabled}
            onChange={(v) => set('event', v)} />
          <JsonField label="Only an event matching (optional)" name="match" value={data.match} disabled={disabled}
            hint='event path -> value, e.g. {"data.cart_id": "{{ trigger.data.cart_id }}"}'
            onChange={(v) => set('match', v)} />
          <DurationPicker label="Give up after" name="timeout" value={data.timeout} disabled={disabled}
            onChange={(v) => set('timeout', v)} />
          <p className="muted small">Outcomes: <strong>event came</strong> and <strong>timed out</strong>.</p>
        </>
      )}
    </>
  );
}

function BranchForm({ data, set, replace, disabled }: FormProps) {
  const mode = str(data.mode) || 'condition';
  const cases = list(data.cases);
  const variants = list(data.variants);
  const changeMode = (next: string) => {
    const { cases: c, default: d, variants: v, ...rest } = data;
    void c; void d; void v;
    replace(next === 'split'
      ? { ...rest, mode: 'split', variants: [{ handle: 'a', weight: 50 }, { handle: 'b', weight: 50 }] }
      : { ...rest, mode: 'condition', cases: [{ handle: 'yes', rule: { tag: 'vip' } }], default: 'else' });
  };
  const setCase = (i: number, key: string, value: unknown) =>
    set('cases', cases.map((c, j) => (j === i ? withField(c, key, value) : c)), `cases[${i}].${key}`);
  const setVariant = (i: number, key: string, value: unknown) =>
    set('variants', variants.map((v, j) => (j === i ? withField(v, key, value) : v)), `variants[${i}].${key}`);
  const fresh = (taken: string[], prefix: string) => {
    for (let n = taken.length + 1; ; n += 1) if (!taken.includes(`${prefix}${n}`)) return `${prefix}${n}`;
  };
  return (
    <>
      <SelectField label="Choose the path by" name="mode" value={mode} disabled={disabled} onChange={changeMode} options={[
        { value: 'condition', label: 'conditions on the contact' },
        { value: 'split', label: 'a random split (A/B test)' },
      ]} />
      {mode === 'condition' && (
        <>
          {cases.map((c, i) => (
            <fieldset key={i} className="case">
              <legend>Condition {i + 1}</legend>
              <TextField label="Outcome (handle)" value={str(c.handle)} disabled={disabled}
                onChange={(v) => setCase(i, 'handle', v)} />
              <RuleField label="Rule" name={`cases[${i}].rule`} value={c.rule} disabled={disabled}
                hint="see docs/segments.md" onChange={(v) => setCase(i, 'rule', v)} />
              {!disabled && cases.length > 1 && (
                <button type="button" className="link danger" onClick={() => set('cases', cases.filter((_, j) => j !== i), null)}>
                  Remove condition {i + 1}
                </button>
              )}
            </fieldset>
          ))}
          {!disabled && (
            <button type="button" onClick={() => set('cases', [...cases, { handle: fresh(cases.map((c) => str(c.handle)), 'case'), rule: { tag: 'vip' } }], null)}>
              Add a condition
            </button>
          )}
          <TextField label="Outcome when no condition holds" value={str(data.default) || 'else'} disabled={disabled}
            onChange={(v) => set('default', v)} />
        </>
      )}
      {mode === 'split' && (
        <>
          {variants.map((v, i) => (
            <fieldset key={i} className="case">
              <legend>Variant {i + 1}</legend>
              <TextField label="Outcome (handle)" value={str(v.handle)} disabled={disabled}
                onChange={(value) => setVariant(i, 'handle', value)} />
              <div className="field">
                <label htmlFor={`weight-${i}`}>Weight</label>
                <input id={`weight-${i}`} type="number" min={0} step={1} value={Number(v.weight ?? 0)} disabled={disabled}
                  onChange={(e) => setVariant(i, 'weight', Math.max(0, Number(e.target.value) || 0))} />
              </div>
              {!disabled && variants.length > 2 && (
                <button type="button" className="link danger" onClick={() => set('variants', variants.filter((_, j) => j !== i), null)}>
                  Remove variant {i + 1}
                </button>
              )}
            </fieldset>
          ))}
          {!disabled && (
            <button type="button" onClick={() => set('variants', [...variants, { handle: fresh(variants.map((v) => str(v.handle)), 'variant'), weight: 0 }], null)}>
              Add a variant
            </button>
          )}
        </>
      )}
    </>
  );
}

function SendForm({ data, set, disabled }: FormProps) {
  const channel = str(data.channel) || 'email';
  const offer = data.offer === undefined ? undefined : obj(data.offer);
  const rate = obj(data.rate_limit);
  return (
    <>
      <SelectField label="Channel" name="channel" value={channel} disabled={disabled} onChange={(v) => set('channel', v)}
        options={[{ value: 'email', label: 'Email' }, { value: 'sms', label: 'SMS' }, { value: 'whatsapp', label: 'WhatsApp' }]} />
      <TemplatePicker label="Template" value={str(data.template)} channel={channel} disabled={disabled}
        onChange={(v) => set('template', v)} />
      <div className="field check">
        <label>
          <input type="checkbox" checked={Boolean(offer)} disabled={disabled}
            onChange={(e) => set('offer', e.target.checked ? { kind: 'qr', expires_in: 'P14D', max_uses: 1 } : undefined, null)} />
          Include a QR offer
        </label>
      </div>
      {offer && (
        <>
          <DurationPicker label="Offer expires after" value={offer.expires_in} disabled={disabled}
            onChange={(v) => set('offer', { ...offer, expires_in: v }, 'offer.expires_in')} />
          <div className="field">
            <label htmlFor="offer-uses">Uses per contact</label>
            <input id="offer-uses" type="number" min={1} value={Number(offer.max_uses ?? 1)} disabled={disabled}
              onChange={(e) => set('offer', { ...offer, max_uses: Math.max(1, Number(e.target.value) || 1) }, 'offer.max_uses')} />
          </div>
          <TextField label="What the offer is" value={str(offer.description)} disabled={disabled}
            onChange={(v) => set('offer', withField(offer, 'description', v || undefined), 'offer.description')} />
        </>
      )}
      <div className="field">
        <label htmlFor="rate-limit">At most this many per minute (optional)</label>
        <input id="rate-limit" type="number" min={1} value={rate.per_minute === undefined ? '' : Number(rate.per_minute)}
          disabled={disabled} placeholder="no limit"
          onChange={(e) => set('rate_limit', e.target.value ? { per_minute: Math.max(1, Number(e.target.value)) } : undefined)} />
      </div>
    </>
  );
}
