/**
 * What the rule builder and the template editor offer while typing: attribute names and
 * tags seen on the first page of contacts, event types the workspace has seen, segments.
 */

import { useQuery } from '@tanstack/react-query';

import { api } from '../api/client';
import type { ContactPage, EventType, Items, Segment } from '../api/types';

export interface RuleLookups {
  attributes: string[];
  tags: string[];
  eventTypes: string[];
  segments: string[];
}

/** Attribute names (nested objects as `a.b`) and tags of some contacts, sorted. */
export function namesOf(contacts: ContactPage['items']): { attributes: string[]; tags: string[] } {
  const attributes = new Set<string>();
  const tags = new Set<string>();
  const walk = (value: unknown, prefix: string) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value as Record<string, unknown>)) walk(inner, prefix ? `${prefix}.${key}` : key);
    } else if (prefix) {
      attributes.add(prefix);
    }
  };
  for (const c of contacts) {
    walk(c.attributes ?? {}, '');
    for (const t of c.tags ?? []) tags.add(t);
  }
  return { attributes: [...attributes].sort(), tags: [...tags].sort() };
}

export function useContactNames() {
  return useQuery({
    queryKey: ['contact-names'],
    queryFn: async () => namesOf((await api<ContactPage>('/v1/contacts?limit=100')).items),
    staleTime: 60_000,
  });
}

export function useRuleLookups(): RuleLookups {
  const names = useContactNames();
  const events = useQuery({ queryKey: ['event-types'], queryFn: () => api<Items<EventType>>('/v1/event-types'), staleTime: 60_000 });
  const segments = useQuery({ queryKey: ['segments'], queryFn: () => api<Items<Segment>>('/v1/segments') });
  return {
    attributes: names.data?.attributes ?? [],
    tags: names.data?.tags ?? [],
    eventTypes: (events.data?.items ?? []).map((e) => e.type),
    segments: (segments.data?.items ?? []).map((s) => s.id),
  };
}
