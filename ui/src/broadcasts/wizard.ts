/**
 * The broadcast wizard's form as the body of `POST /v1/broadcasts`
 * (docs/channels/broadcasts.md), the checks of each step, and how an audience and a
 * progress read in the UI. Pure.
 */

import type { BroadcastProgress, Channel, OfferSpec } from '../api/types';
import { parseDuration } from '../graph/durations';

export type AudienceKind = 'all' | 'tags' | 'segment';

export interface WizardForm {
  name: string;
  channel: Channel;
  template: string;
  audience: AudienceKind;
  tags: string;
  segment: string;
  withOffer: boolean;
  offer: { value: string; description: string; expiresIn: string; maxUses: string };
  schedule: 'now' | 'at';
  /** a `datetime-local` value, read in the browser's time zone */
  sendAt: string;
  rate: string;
}

export const EMPTY_FORM: WizardForm = {
  name: '', channel: 'email', template: '', audience: 'all', tags: '', segment: '',
  withOffer: false, offer: { value: '', description: '', expiresIn: 'P14D', maxUses: '1' },
  schedule: 'now', sendAt: '', rate: '',
};

export const DEFAULT_RATE: Record<Channel, number> = { email: 100, sms: 10, whatsapp: 10 };

export const STEPS = ['Message', 'Audience', 'Offer and timing', 'Review'] as const;

export function tagsOf(text: string): string[] {
  return [...new Set(text.split(',').map((t) => t.trim()).filter(Boolean))];
}

export function audienceOf(form: WizardForm): Record<string, unknown> {
  if (form.audience === 'tags') return { tags: tagsOf(form.tags) };
  if (form.audience === 'segment') return { segment: form.segment };
  return { all: true };
}

/** `datetime-local` (the browser's zone) -> ISO with a zone; null when it is not a time. */
export function scheduleOf(local: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(local)) return null;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? null : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function bodyOf(form: WizardForm): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: form.name.trim(), channel: form.channel, template: form.template, audience: audienceOf(form),
    schedule: form.schedule === 'now' ? 'now' : scheduleOf(form.sendAt) ?? form.sendAt,
  };
  if (form.rate.trim()) body.rate_limit_per_minute = Number(form.rate);
  if (form.withOffer) {
    const offer: OfferSpec = { kind: 'qr', max_uses: Number(form.offer.maxUses) };
    if (form.offer.expiresIn.trim()) offer.expires_in = form.offer.expiresIn.trim();
    if (form.offer.value.trim()) offer.value = form.offer.value.trim();
    if (form.offer.description.trim()) offer.description = form.offer.description.trim();
    body.offer = offer;
  }
  return body;
}

/** Problems of one step, by field (empty: the step is done). */
export function stepProblems(form: WizardForm, step: number): Record<string, string> {
  const problems: Record<string, string> = {};
  if (step === 0) {
    if (!form.name.trim()) problems.name = 'give the broadcast a name';
    if (form.name.length > 200) problems.name = 'at most 200 characters';
    if (!form.template) problems.template = `choose a ${form.channel} template`;
  } else if (step === 1) {
    if (form.audience === 'tags' && tagsOf(form.tags).length === 0) problems.tags = 'give at least one tag';
    if (form.audience === 'segment' && !form.segment) problems.segment = 'choose a segment';
  } else if (step === 2) {
    if (form.schedule === 'at' && !scheduleOf(form.sendAt)) problems.sendAt = 'choose a date and time';
    if (form.rate.trim() && !(Number.isInteger(Number(form.rate)) && Number(form.rate) >= 1 && Number(form.rate) <= 100_000)) {
      problems.rate = 'a whole number from 1 to 100,000';
    }
    if (form.withOffer) {
      const uses = Number(form.offer.maxUses);
      if (!(Number.isInteger(uses) && uses >= 1 && uses <= 1_000_000)) problems.maxUses = 'a whole number from 1 to 1,000,000';
      if (form.offer.expiresIn.trim() && !parseDuration(form.offer.expiresIn.trim())) problems.expiresIn = 'a duration such as P14D or PT4H';
      if (form.offer.description.length > 500) problems.description = 'at most 500 characters';
    }
  }
  return problems;
}

export function describeAudience(audience: Record<string, unknown>): string {
  if (audience.all) return 'everyone';
  if (Array.isArray(audience.tags)) return `tagged ${audience.tags.join(' or ')}`;
  if (typeof audience.segment === 'string') return `segment ${audience.segment}`;
  if (audience.rule) return 'a rule';
  return '—';
}

/** How far the broadcast is, 0-100: contacts through its journey of those targeted. */
export function progressShare(progress: BroadcastProgress | undefined, targeted: number): number {
  if (!progress || targeted <= 0) return progress && targeted === 0 ? 100 : 0;
  return Math.min(100, Math.round((progress.finished / targeted) * 100));
}
