/**
 * ISO-8601 durations as waits use them (`PT4H`, `P2D`, `P1DT12H`; weeks allowed, no
 * months or years: journeys/durations.py). Parsed into parts for the duration picker
 * and described in words on the canvas.
 */

export interface DurationParts {
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

const PATTERN = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i;

/** The parts of `text`, or null when the API would refuse it (SB-009). */
export function parseDuration(text: unknown): DurationParts | null {
  if (typeof text !== 'string' || text.length < 2) return null;
  const m = PATTERN.exec(text.trim());
  if (!m) return null;
  const [weeks, days, hours, minutes, seconds] = m.slice(1).map((v) => (v ? Number(v) : 0));
  const parts = { days: weeks * 7 + days, hours, minutes, seconds };
  return totalSeconds(parts) > 0 ? parts : null;
}

export function totalSeconds(p: DurationParts): number {
  return ((p.days * 24 + p.hours) * 60 + p.minutes) * 60 + p.seconds;
}

/** `{days: 1, hours: 12}` -> `P1DT12H`; all zero -> `''` (not a valid wait). */
export function formatDuration(p: DurationParts): string {
  if (totalSeconds(p) <= 0) return '';
  const time = `${p.hours ? `${p.hours}H` : ''}${p.minutes ? `${p.minutes}M` : ''}${p.seconds ? `${p.seconds}S` : ''}`;
  return `P${p.days ? `${p.days}D` : ''}${time ? `T${time}` : ''}`;
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

/** `P1DT12H` -> `1 day 12 hours`; text that is not a duration is shown as it is. */
export function describeDuration(text: unknown): string {
  const p = parseDuration(text);
  if (!p) return typeof text === 'string' && text ? text : '?';
  const words = [
    p.days ? plural(p.days, 'day') : '',
    p.hours ? plural(p.hours, 'hour') : '',
    p.minutes ? plural(p.minutes, 'minute') : '',
    p.seconds ? plural(p.seconds, 'second') : '',
  ];
  return words.filter(Boolean).join(' ');
}
