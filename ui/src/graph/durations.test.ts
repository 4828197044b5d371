// ISO durations for the duration picker.
import { describe, expect, it } from 'vitest';

import { describeDuration, formatDuration, parseDuration } from './durations';

describe('durations', () => {
  it.each([
    ['PT4H', { days: 0, hours: 4, minutes: 0, seconds: 0 }],
    ['P2D', { days: 2, hours: 0, minutes: 0, seconds: 0 }],
    ['P1DT12H', { days: 1, hours: 12, minutes: 0, seconds: 0 }],
    ['P2W', { days: 14, hours: 0, minutes: 0, seconds: 0 }],
    ['pt90m', { days: 0, hours: 0, minutes: 90, seconds: 0 }],
  ])('parses %s', (text, parts) => {
    expect(parseDuration(text)).toEqual(parts);
  });

  it.each(['', 'P', 'PT', 'P1M', 'P1Y', 'P0D', '4h', 'P1DT', null, 3])('refuses %s', (text) => {
    expect(parseDuration(text)).toBeNull();
  });

  it('formats parts back to the shortest ISO text', () => {
    expect(formatDuration({ days: 1, hours: 12, minutes: 0, seconds: 0 })).toBe('P1DT12H');
    expect(formatDuration({ days: 0, hours: 0, minutes: 30, seconds: 0 })).toBe('PT30M');
    expect(formatDuration({ days: 3, hours: 0, minutes: 0, seconds: 0 })).toBe('P3D');
    expect(formatDuration({ days: 0, hours: 0, minutes: 0, seconds: 0 })).toBe('');
  });

  it('describes a duration in words', () => {
    expect(describeDuration('P1DT1H')).toBe('1 day 1 hour');
    expect(describeDuration('PT4H')).toBe('4 hours');
    expect(describeDuration('P1M')).toBe('P1M');
  });
});
