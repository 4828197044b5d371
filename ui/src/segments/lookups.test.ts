import { describe, expect, it } from 'vitest';

import type { Contact } from '../api/types';
import { namesOf } from './lookups';

const contact = (attributes: Record<string, unknown>, tags: string[]) => ({ attributes, tags }) as unknown as Contact;

describe('namesOf', () => {
  it('collects attribute paths (nested as a.b) and tags, sorted and unique', () => {
    const found = namesOf([
      contact({ city: 'Berlin', address: { zip: '10115', geo: { lat: 1 } }, sizes: [38, 40] }, ['vip', 'gold']),
      contact({ city: 'Paris', plan: null }, ['vip']),
    ]);
    expect(found).toEqual({ attributes: ['address.geo.lat', 'address.zip', 'city', 'plan', 'sizes'], tags: ['gold', 'vip'] });
  });

  it('copes with contacts without attributes or tags', () => {
    expect(namesOf([{} as Contact])).toEqual({ attributes: [], tags: [] });
  });
});
