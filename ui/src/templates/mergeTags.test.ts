import { describe, expect, it } from 'vitest';

import { insertAt, mergeTags, parseSample, tagText } from './mergeTags';

describe('merge tags', () => {
  it('offers the contact fields, its attributes, the unsubscribe link and the offer', () => {
    const paths = mergeTags(['city', 'address.zip', 'first_name', 'has space', '2fa']).map((t) => t.path);
    expect(paths.slice(0, 9)).toEqual(['contact.first_name', 'contact.last_name', 'contact.email', 'contact.phone', 'contact.id',
      'contact.order_count', 'contact.lifetime_value', 'contact.city', 'contact.address.zip']);
    expect(paths).not.toContain('contact.has space');
    expect(paths).not.toContain('contact.2fa');
    expect(paths).toContain('unsubscribe_url');
    expect(paths).toContain('offer.qr_img');
    expect(paths).toContain('offer.url');
  });

  it('writes a tag, the QR code as an image in HTML', () => {
    expect(tagText('contact.first_name', true)).toBe('{{ contact.first_name }}');
    expect(tagText('offer.qr_img', false)).toBe('{{ offer.qr_img }}');
    expect(tagText('offer.qr_img', true)).toContain('<img src="{{ offer.qr_img }}"');
  });

  it('inserts at the cursor or over the selection', () => {
    expect(insertAt('Hi !', 3, 3, '{{ x }}')).toEqual({ text: 'Hi {{ x }}!', cursor: 10 });
    expect(insertAt('Hi NAME!', 3, 7, 'X')).toEqual({ text: 'Hi X!', cursor: 4 });
    expect(insertAt('ab', 99, 120, 'c')).toEqual({ text: 'abc', cursor: 3 });
  });
});

describe('sample attributes', () => {
  it('reads name = value lines, JSON values typed', () => {
    expect(parseSample('first_name = Ann\ncity=Berlin\nage = 41\nvip = true\n\n# comment\nsizes = [1, 2]\nzip = "01234"'))
      .toEqual({ sample: { first_name: 'Ann', city: 'Berlin', age: 41, vip: true, sizes: [1, 2], zip: '01234' }, errors: [] });
  });

  it('names lines it cannot read, keeps text that only looks like JSON', () => {
    expect(parseSample('just text\n= x\nnote = [unclosed')).toEqual({
      sample: { note: '[unclosed' }, errors: ['line 1: write name = value', 'line 2: write name = value'],
    });
  });
});
