import { describe, expect, it } from 'vitest';

import { bodyOf, describeAudience, EMPTY_FORM, progressShare, scheduleOf, stepProblems, tagsOf, type WizardForm } from './wizard';

const form = (over: Partial<WizardForm>): WizardForm => ({ ...EMPTY_FORM, name: 'Sale', template: 'promo', ...over });

describe('broadcast wizard', () => {
  it('builds the body of POST /v1/broadcasts', () => {
    expect(bodyOf(form({}))).toEqual({ name: 'Sale', channel: 'email', template: 'promo', audience: { all: true }, schedule: 'now' });
    expect(bodyOf(form({ audience: 'tags', tags: ' vip, gold ,vip,', rate: '50' }))).toMatchObject(
      { audience: { tags: ['vip', 'gold'] }, rate_limit_per_minute: 50 });
    expect(bodyOf(form({ audience: 'segment', segment: 'lapsed' })).audience).toEqual({ segment: 'lapsed' });
    expect(bodyOf(form({ withOffer: true, offer: { value: '10%', description: ' 10% off ', expiresIn: 'P14D', maxUses: '2' } })).offer)
      .toEqual({ kind: 'qr', max_uses: 2, expires_in: 'P14D', value: '10%', description: '10% off' });
    expect(bodyOf(form({ withOffer: true, offer: { value: '', description: '', expiresIn: '', maxUses: '1' } })).offer)
      .toEqual({ kind: 'qr', max_uses: 1 });
  });

  it('schedules in the browser zone, sent as ISO with a zone', () => {
    const iso = scheduleOf('2030-06-01T09:30');
    expect(iso).toMatch(/^2030-0[56]-\d\dT\d\d:\d\d:00Z$/);
    expect(new Date(iso as string).getTime()).toBe(new Date('2030-06-01T09:30').getTime());
    expect(scheduleOf('')).toBeNull();
    expect(scheduleOf('tomorrow')).toBeNull();
    expect(bodyOf(form({ schedule: 'at', sendAt: '2030-06-01T09:30' })).schedule).toBe(iso);
  });

  it('checks each step by field', () => {
    expect(stepProblems({ ...EMPTY_FORM }, 0)).toEqual({ name: 'give the broadcast a name', template: 'choose a email template' });
    expect(stepProblems(form({}), 0)).toEqual({});
    expect(stepProblems(form({ audience: 'tags', tags: ' , ' }), 1)).toEqual({ tags: 'give at least one tag' });
    expect(stepProblems(form({ audience: 'segment' }), 1)).toEqual({ segment: 'choose a segment' });
    expect(stepProblems(form({ schedule: 'at', rate: '0' }), 2)).toEqual({ sendAt: 'choose a date and time', rate: 'a whole number from 1 to 100,000' });
    expect(stepProblems(form({ withOffer: true, offer: { value: '', description: '', expiresIn: '14 days', maxUses: '0' } }), 2))
      .toEqual({ maxUses: 'a whole number from 1 to 1,000,000', expiresIn: 'a duration such as P14D or PT4H' });
    expect(stepProblems(form({ rate: '2.5' }), 2)).toEqual({ rate: 'a whole number from 1 to 100,000' });
  });

  it('describes audiences and progress', () => {
    expect(tagsOf('a, b,,a')).toEqual(['a', 'b']);
    expect(describeAudience({ all: true })).toBe('everyone');
    expect(describeAudience({ tags: ['vip', 'gold'] })).toBe('tagged vip or gold');
    expect(describeAudience({ segment: 'lapsed' })).toBe('segment lapsed');
    expect(describeAudience({ rule: { tag: 'x' } })).toBe('a rule');
    const p = { finished: 1, targeted: 3 } as never;
    expect(progressShare(p, 3)).toBe(33);
    expect(progressShare(undefined, 3)).toBe(0);
    expect(progressShare({ finished: 0 } as never, 0)).toBe(100);
    expect(progressShare({ finished: 5 } as never, 4)).toBe(100);
  });
});
