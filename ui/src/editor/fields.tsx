/**
 * Inputs of the side panel: ISO durations as days/hours/minutes, event types from
 * what the workspace has seen, templates by channel, and JSON (rules) checked as typed.
 */

import { useEffect, useId, useRef, useState } from 'react';

import { formatDuration, parseDuration, type DurationParts } from '../graph/durations';
import { useLookups } from './context';

interface FieldProps<T> {
  label: string;
  value: T;
  onChange: (value: T) => void;
  disabled?: boolean;
  hint?: string;
}

export function TextField({ label, value, onChange, disabled, hint, placeholder, name }: FieldProps<string> & {
  placeholder?: string; name?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} name={name} value={value} disabled={disabled} placeholder={placeholder}
        aria-describedby={hint ? `${id}-hint` : undefined} onChange={(e) => onChange(e.target.value)} />
      {hint && <small id={`${id}-hint`} className="muted">{hint}</small>}
    </div>
  );
}

export function SelectField({ label, value, onChange, disabled, options, name }: FieldProps<string> & {
  options: { value: string; label: string }[]; name?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} name={name} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value)}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </div>
  );
}

const UNITS: { key: keyof DurationParts; label: string; max: number }[] = [
  { key: 'days', label: 'Days', max: 3650 },
  { key: 'hours', label: 'Hours', max: 23 },
  { key: 'minutes', label: 'Minutes', max: 59 },
];

/** An ISO-8601 duration (`P1DT12H`) picked as days, hours and minutes. */
export function DurationPicker({ label, value, onChange, disabled, name }: FieldProps<unknown> & { name?: string }) {
  const id = useId();
  const parsed = parseDuration(value);
  const parts = parsed ?? { days: 0, hours: 0, minutes: 0, seconds: 0 };
  const invalid = !parsed && value !== undefined && value !== '';
  const set = (key: keyof DurationParts, raw: string) => {
    const n = Math.max(0, Math.floor(Number(raw) || 0));
    onChange(formatDuration({ ...parts, [key]: n }));
  };
  return (
    <fieldset className="field duration" data-field={name}>
      <legend>{label}</legend>
      <div className="duration-parts">
        {UNITS.map((unit) => (
          <label key={unit.key} htmlFor={`${id}-${unit.key}`}>
            <input id={`${id}-${unit.key}`} type="number" min={0} max={unit.max} step={1} disabled={disabled}
              value={parts[unit.key]} onChange={(e) => set(unit.key, e.target.value)} aria-label={`${label}: ${unit.label}`} />
            <span>{unit.label}</span>
          </label>
        ))}
      </div>
      <small className={invalid || !value ? 'field-error' : 'muted mono'}>
        {invalid ? `'${String(value)}' is not a duration the engine accepts; set days, hours or minutes`
          : value ? String(value) : 'must be longer than zero'}
      </small>
    </fieldset>
  );
}

/** An event type: free text with the workspace's seen types (most used first) offered. */
export function EventTypeInput({ label, value, onChange, disabled, hint, name }: FieldProps<string> & { name?: string }) {
  const id = useId();
  const { eventTypes } = useLookups();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} name={name} list={`${id}-types`} value={value} disabled={disabled} autoComplete="off"
        placeholder="e.g. order.placed" onChange={(e) => onChange(e.target.value.trim())} />
      <datalist id={`${id}-types`}>
        {eventTypes.map((t) => (
          <option key={t.type} value={t.type}>
            {t.seen ? `seen ${t.seen}×` : t.description}
          </option>
        ))}
      </datalist>
      {hint && <small className="muted">{hint}</small>}
    </div>
  );
}

/** A template of the channel (`GET /v1/templates`); an unknown current id stays visible. */
export function TemplatePicker({ label, value, onChange, disabled, channel }: FieldProps<string> & { channel: string }) {
  const id = useId();
  const { templates } = useLookups();
  const usable = templates.filter((t) => t.channel === channel);
  const missing = value && !usable.some((t) => t.id === value);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} name="template" value={value} disabled={disabled} onChange={(e) => onChange(e.target.value)}>
        <option value="">— pick a template —</option>
        {missing && <option value={value}>{value} (not a {channel} template here)</option>}
        {usable.map((t) => (
          <option key={t.id} value={t.id}>
            {t.name && t.name !== t.id ? `${t.name} (${t.id})` : t.id}
          </option>
        ))}
      </select>
      {!usable.length && <small className="muted">No {channel} templates yet: create them with PUT /v1/templates/&lt;id&gt;.</small>}
    </div>
  );
}

/**
 * JSON typed in a textarea (a rule, a match); the value changes only when the text
 * parses, and an empty text means "none" (`undefined`).
 */
export function JsonField({ label, value, onChange, disabled, hint, name, rows = 4 }: FieldProps<unknown> & {
  name?: string; rows?: number;
}) {
  const id = useId();
  const shown = (v: unknown) => (v === undefined ? '' : JSON.stringify(v, null, 2));
  const [text, setText] = useState(shown(value));
  const [error, setError] = useState<string | null>(null);

  const typed = useRef(text);
  typed.current = text;

  useEffect(() => {
    // the value changed elsewhere (undo, another node): show it, unless it is what was typed
    const current = typed.current;
    let same = false;
    try {
      same = current.trim() ? JSON.stringify(JSON.parse(current)) === JSON.stringify(value) : value === undefined;
    } catch {
      same = false;
    }
    if (!same) {
      setText(shown(value));
      setError(null);
    }
  }, [value]);

  const change = (next: string) => {
    setText(next);
    if (!next.trim()) {
      setError(null);
      onChange(undefined);
      return;
    }
    try {
      const parsed = JSON.parse(next);
      setError(null);
      onChange(parsed);
    } catch (exc) {
      setError(`not valid JSON yet: ${(exc as Error).message}`);
    }
  };

  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} name={name} className="mono" rows={rows} value={text} disabled={disabled} spellCheck={false}
        aria-invalid={Boolean(error)} aria-describedby={`${id}-hint`} onChange={(e) => change(e.target.value)} />
      <small id={`${id}-hint`} className={error ? 'field-error' : 'muted'} role={error ? 'alert' : undefined}>
        {error ?? hint}
      </small>
    </div>
  );
}
