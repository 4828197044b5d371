/**
 * What a node dragged from the palette starts with, and fresh ids for nodes and edges.
 */

import type { JsonObject, NodeType } from './types';

export const PALETTE: { type: NodeType; title: string; hint: string }[] = [
  { type: 'entry', title: 'Entry', hint: 'Who starts: an event or a segment' },
  { type: 'wait', title: 'Wait', hint: 'A time, a time of day, or an event with a timeout' },
  { type: 'branch', title: 'Branch', hint: 'Conditions or an A/B split' },
  { type: 'send', title: 'Send', hint: 'An email, SMS or WhatsApp message' },
  { type: 'end', title: 'End', hint: 'The contact leaves the journey' },
];

export function defaultData(type: NodeType): JsonObject {
  switch (type) {
    case 'entry':
      return { label: 'Entry', trigger: { event: '' } };
    case 'wait':
      return { label: 'Wait', mode: 'duration', duration: 'P1D' };
    case 'branch':
      return { label: 'Branch', mode: 'condition', cases: [{ handle: 'yes', rule: { tag: 'vip' } }], default: 'else' };
    case 'send':
      return { label: 'Send', channel: 'email', template: '' };
    case 'end':
      return { label: 'End' };
  }
}

/** The first `${prefix}${n}` (n = 1, 2, ...) not in `taken`. */
export function freshId(prefix: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let n = 1; ; n += 1) {
    if (!used.has(`${prefix}${n}`)) return `${prefix}${n}`;
  }
}
