/**
 * The template editor's merge tags (engine/templates.py `template_context`): the contact's
 * fields and attributes, the unsubscribe link and the offer; inserting one where the
 * cursor is; a sample offer so a preview can show offer parts. Pure.
 */

export interface MergeTag {
  /** what goes between `{{ ` and ` }}` */
  path: string;
  group: 'Contact' | 'Links' | 'Offer';
}

const CONTACT = ['first_name', 'last_name', 'email', 'phone', 'id', 'order_count', 'lifetime_value'];
const OFFER = ['qr_img', 'qr_url', 'url', 'token', 'value', 'description', 'expires_on'];
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Every tag offered: the contact's standard fields, then `attributes` (a.b paths), links, offer. */
export function mergeTags(attributes: string[]): MergeTag[] {
  const contact = [...CONTACT];
  for (const name of attributes) {
    // `contact.a.b` reads nested attributes; names that are not identifiers need subscript syntax
    const path = name.split('.').every((part) => NAME.test(part)) ? name : null;
    if (path && !contact.includes(path)) contact.push(path);
  }
  return [
    ...contact.map((name) => ({ path: `contact.${name}`, group: 'Contact' as const })),
    { path: 'unsubscribe_url', group: 'Links' },
    ...OFFER.map((name) => ({ path: `offer.${name}`, group: 'Offer' as const })),
  ];
}

/** The markup of a tag: an image for the QR code in HTML, else `{{ path }}`. */
export function tagText(path: string, html: boolean): string {
  if (path === 'offer.qr_img' && html) return '<img src="{{ offer.qr_img }}" width="200" height="200" alt="Your QR code">';
  return `{{ ${path} }}`;
}

/** `text` with `insert` replacing the selection [start, end); and where the cursor goes after it. */
export function insertAt(text: string, start: number, end: number, insert: string): { text: string; cursor: number } {
  const from = Math.max(0, Math.min(start, text.length));
  const to = Math.max(from, Math.min(end, text.length));
  return { text: text.slice(0, from) + insert + text.slice(to), cursor: from + insert.length };
}

/** What `offer` holds in a preview "with a sample offer" (a 1x1 PNG stands in for the QR code). */
export const SAMPLE_OFFER = {
  token: 'preview-sample-TOKEN',
  qr_img: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  qr_png_base64: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  qr_url: '/q/preview-sample-TOKEN/qr.png',
  url: '/q/preview-sample-TOKEN',
  value: '10%',
  description: '10% off your next order',
  expires_at: '2030-01-01T00:00:00Z',
  expires_on: '2030-01-01',
  max_uses: 1,
};

/** Sample attributes typed as `key = value` lines (values as JSON when they parse, else text). */
export function parseSample(text: string): { sample: Record<string, unknown>; errors: string[] } {
  const sample: Record<string, unknown> = {};
  const errors: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const at = line.indexOf('=');
    if (at <= 0) {
      errors.push(`line ${i + 1}: write name = value`);
      return;
    }
    const key = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    try {
      sample[key] = /^(-?\d|true$|false$|null$|\[|\{|")/.test(value) ? JSON.parse(value) : value;
    } catch {
      sample[key] = value;
    }
  });
  return { sample, errors };
}
