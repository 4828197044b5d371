// The simulate panel's pure logic: the JSONL file, error lines, and the highlighted path.
import { describe, expect, it } from 'vitest';

import cart from '../graph/fixtures/api-saved/abandoned-cart.json';
import { explainEventError, highlightOf, parseJsonl, sinceStart, withHighlight, type SimContact } from './simulation';

const contact = (path: string[]): SimContact => ({
  contact_id: 'ann', entered: true, steps: path.map((node_id, i) => ({ node_id, at: `2026-03-02T1${i}:00:00Z` })),
  path, messages: [], suppressed: [], exits: [], status: 'done', waiting_at: null,
});

describe('parseJsonl', () => {
  it('reads one object a line, skips blank lines and keeps each line number', () => {
    const parsed = parseJsonl('{"type":"cart.updated","contact_id":"a"}\n\n  \r\n{"advance":"PT4H"}\n');
    expect(parsed.errors).toEqual([]);
    expect(parsed.events).toEqual([{ type: 'cart.updated', contact_id: 'a' }, { advance: 'PT4H' }]);
    expect(parsed.lines).toEqual([1, 4]);
  });

  it('names the lines that are not JSON objects', () => {
    const parsed = parseJsonl('{"type":"a.b","contact_id":"x"}\n{oops\n[1,2]\n"text"');
    expect(parsed.events).toHaveLength(1);
    expect(parsed.errors.map((e) => e.split(':')[0])).toEqual(['line 2', 'line 3', 'line 4']);
    expect(parsed.errors[1]).toContain('expected a JSON object');
  });

  it('refuses an empty file', () => {
    expect(parseJsonl('\n \n').errors).toEqual(['the file has no events']);
  });
});

describe('explainEventError', () => {
  it("names the file's line behind the API's events[i]", () => {
    // events[1] is the file's line 4 when lines 2 and 3 were blank
    expect(explainEventError('events[1]', 'line 2: type: must be a dotted name', [1, 4])).toBe('line 4: type: must be a dotted name');
    expect(explainEventError('events[5]', 'line 6: bad', [1])).toBe('line 6: bad');
    expect(explainEventError('contact_id', 'give either', [])).toBe('give either');
  });
});

describe('highlightOf', () => {
  const edges = cart.edges as { id: string; source: string; target: string }[];

  it('lights the entered steps and the edges between consecutive steps', () => {
    const lit = highlightOf(contact(['start', 'wait_order', 'remind', 'wait_day', 'vip', 'last_call', 'done']), edges);
    expect([...lit.nodes]).toEqual(['start', 'wait_order', 'remind', 'wait_day', 'vip', 'last_call', 'done']);
    expect([...lit.edges].sort()).toEqual(['e1', 'e10', 'e3', 'e4', 'e6', 'e8']);
  });

  it('lights nothing without a contact, and no edge between two runs', () => {
    expect(highlightOf(undefined, edges).nodes.size).toBe(0);
    const twice = highlightOf(contact(['start', 'wait_order', 'bought', 'start', 'wait_order']), edges);
    expect([...twice.edges].sort()).toEqual(['e1', 'e2']);
  });

  it('sets sim-visited / sim-dimmed classes, keeping other classes', () => {
    const items = [{ id: 'a', className: 'has-problem sim-dimmed' }, { id: 'b' }];
    expect(withHighlight(items, new Set(['a'])).map((i) => i.className)).toEqual(['has-problem sim-visited', 'sim-dimmed']);
    expect(withHighlight(items, null)).toBe(items);
  });
});

describe('sinceStart', () => {
  it('shows the virtual time since the first step', () => {
    expect(sinceStart('2026-03-02T10:00:00Z', '2026-03-02T10:00:00Z')).toBe('at the start');
    expect(sinceStart('2026-03-03T14:30:00Z', '2026-03-02T10:00:00Z')).toBe('+1 d 4 h 30 min');
  });
});
