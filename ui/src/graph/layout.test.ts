// Auto-layout: top to bottom from the entry, a branch's outcomes left to right in their order.
import { describe, expect, it } from 'vitest';

import { fromApi } from './convert';
import { autoLayout } from './layout';
import type { ApiJourney } from './types';

const library = import.meta.glob<ApiJourney>('../../../journeys/library/*.json', { eager: true, import: 'default' });
const cart = Object.entries(library).find(([path]) => path.endsWith('abandoned-cart.json'))![1];

describe('auto-layout', () => {
  it('places every node below the ones that lead to it', () => {
    const graph = fromApi(cart);
    const at = autoLayout(graph.nodes, graph.edges);
    expect(Object.keys(at).sort()).toEqual(graph.nodes.map((n) => n.id).sort());
    for (const edge of graph.edges) expect(at[edge.target].y).toBeGreaterThan(at[edge.source].y);
  });

  it("puts a branch's outcomes left to right in the order of its handles", () => {
    const graph = fromApi(cart);
    const at = autoLayout(graph.nodes, graph.edges);
    expect(at.offer.x).toBeLessThan(at.last_call.x); // vip (first case) then else
    expect(at.bought.x).toBeLessThan(at.vip.x); // wait_day: event then timeout
  });

  it('keeps nodes that are not connected', () => {
    const graph = fromApi({ id: 'j', nodes: [{ id: 'a', type: 'end' }, { id: 'b', type: 'send' }], edges: [] });
    expect(Object.keys(autoLayout(graph.nodes, graph.edges)).sort()).toEqual(['a', 'b']);
  });
});
