/**
 * The journey's own settings (docs/journeys.md "Settings"), shown when no step is
 * selected: name, re-entry, goal, exit rule, frequency cap, quiet hours.
 */

import type { JsonObject } from '../graph/types';
import { useEditor } from './context';
import { DurationPicker, EventTypeInput, SelectField, TextField } from './fields';
import { withField } from './NodeForm';
import { RuleField } from './RuleField';

const str = (value: unknown) => (typeof value === 'string' ? value : '');
const obj = (value: unknown): JsonObject | undefined =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : undefined;

export function JourneySettings() {
  const journey = useEditor((s) => s.journey);
  const readOnly = useEditor((s) => s.readOnly);
  const updateJourney = useEditor((s) => s.updateJourney);
  const settings = obj(journey.settings) ?? {};
  const set = (key: string, value: unknown, coalesce: string | null = key) =>
    updateJourney({ settings: withField(settings, key, value) }, coalesce ?? undefined);
  const reentry = str(settings.reentry) || 'never';
  const goal = obj(settings.goal);
  const cap = obj(settings.frequency_cap);
  const quiet = obj(settings.quiet_hours);

  return (
    <form className="stack" onSubmit={(e) => e.preventDefault()} aria-label="Journey settings">
      <h2>Journey</h2>
      <p className="muted small">Select a step on the canvas to edit it.</p>
      <TextField label="Name" name="journey-name" value={str(journey.name)} disabled={readOnly}
        onChange={(v) => updateJourney({ name: v }, 'name')} />
      <SelectField label="A contact may enter" name="reentry" value={reentry} disabled={readOnly}
        onChange={(v) => updateJourney({ settings: withField(withField(settings, 'reentry', v), 'reentry_after',
          v === 'after' ? settings.reentry_after ?? 'P30D' : undefined) })}
        options={[
          { value: 'never', label: 'once' },
          { value: 'always', label: 'again after leaving' },
          { value: 'after', label: 'again some time after leaving' },
        ]} />
      {reentry === 'after' && (
        <DurationPicker label="Time after leaving" value={settings.reentry_after} disabled={readOnly}
          onChange={(v) => set('reentry_after', v)} />
      )}
      <EventTypeInput label="Goal: this event ends the journey (optional)" value={str(goal?.event)} disabled={readOnly}
        onChange={(v) => set('goal', v ? { ...(goal ?? {}), event: v } : undefined, 'goal')} />
      <RuleField label="Exit rule (optional)" name="exit" value={settings.exit} disabled={readOnly} optional
        hint="contacts leave as soon as it holds; see docs/segments.md" onChange={(v) => set('exit', v)} />
      <div className="field check">
        <label>
          <input type="checkbox" checked={Boolean(cap)} disabled={readOnly}
            onChange={(e) => set('frequency_cap', e.target.checked ? { max: 3, per: 'P1D' } : undefined, null)} />
          Cap messages per contact
        </label>
      </div>
      {cap && (
        <>
          <div className="field">
            <label htmlFor="cap-max">At most</label>
            <input id="cap-max" type="number" min={1} value={Number(cap.max ?? 1)} disabled={readOnly}
              onChange={(e) => set('frequency_cap', { ...cap, max: Math.max(1, Number(e.target.value) || 1) }, 'cap.max')} />
          </div>
          <DurationPicker label="per" value={cap.per} disabled={readOnly}
            onChange={(v) => set('frequency_cap', { ...cap, per: v }, 'cap.per')} />
        </>
      )}
      <div className="field check">
        <label>
          <input type="checkbox" checked={Boolean(quiet)} disabled={readOnly}
            onChange={(e) => set('quiet_hours', e.target.checked ? { start: '21:00', end: '08:00' } : undefined, null)} />
          Quiet hours (no messages at night, contact's timezone)
        </label>
      </div>
      {quiet && (
        <div className="row">
          <div className="field">
            <label htmlFor="quiet-start">From</label>
            <input id="quiet-start" type="time" value={str(quiet.start)} disabled={readOnly}
              onChange={(e) => set('quiet_hours', { ...quiet, start: e.target.value }, 'quiet.start')} />
          </div>
          <div className="field">
            <label htmlFor="quiet-end">Until</label>
            <input id="quiet-end" type="time" value={str(quiet.end)} disabled={readOnly}
              onChange={(e) => set('quiet_hours', { ...quiet, end: e.target.value }, 'quiet.end')} />
          </div>
        </div>
      )}
    </form>
  );
}
