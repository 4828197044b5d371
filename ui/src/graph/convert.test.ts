// The editor's graph <-> the API's journey JSON: identical both ways, handle ids as the API's.
import { describe, expect, it } from 'vitest';

import { edgeToApi, fromApi, nodeFromApi, nodeToApi, toApi } from './convert';
import { outHandles } from './handles';
import type { ApiJourney } from './types';

const library = import.meta.glob<ApiJourney>('../../../journeys/library/*.json', { eager: true, import: 'default' });
const saved = import.meta.glob<ApiJourney>('./fixtures/api-saved/*.json', { eager: true, import: 'default' });
const handleCases = import.meta.glob<{ type: string; data: Record<string, unknown>; handles: string[] }[]>(
  './fixtures/handles.json', { eager: true, import: 'default' });

const graphs = (files: Record<string, ApiJourney>) =>
  Object.entries(files).filter(([path]) => !path.endsWith('templates.json'));

/** JSON text with sorted keys: equal text means equal JSON. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v);
}

describe('journey JSON round trip', () => {
  it('finds the library and the API-saved fixtures', () => {
    expect(graphs(library).length).toBeGreaterThanOrEqual(4);
    expect(graphs(saved).length).toBe(graphs(library).length);
  });

  it.each(graphs(library))('opens and gives back %s unchanged', (_path, graph) => {
    expect(canonical(toApi(fromApi(graph)))).toBe(canonical(graph));
  });

  it.each(graphs(saved))('opens the API-saved %s unchanged', (_path, graph) => {
    expect(canonical(toApi(fromApi(graph)))).toBe(canonical(graph));
  });

  it('keeps fields it does not know, and React Flow runtime fields the API stored', () => {
    const node = { id: 'a', type: 'send', position: { x: 1.5, y: 2, z: 9 }, data: { channel: 'email' },
      style: { color: 'red' }, selected: true, measured: { width: 10, height: 20 }, custom: [1, 2] };
    expect(nodeToApi(nodeFromApi(node))).toEqual(node);
    const edge = { id: 'e', source: 'a', target: 'b', sourceHandle: null, animated: true, selected: false };
    const flow = fromApi({ id: 'j', nodes: [], edges: [edge] }).edges[0];
    expect(edgeToApi(flow)).toEqual(edge);
  });

  it('never sends runtime fields React Flow added while editing', () => {
    const flow = fromApi({ id: 'j', nodes: [{ id: 'a', type: 'end', position: { x: 0, y: 0 }, data: {} }],
      edges: [{ id: 'e1', source: 'x', target: 'a' }] });
    flow.nodes[0] = { ...flow.nodes[0], selected: true, dragging: false, measured: { width: 200, height: 80 } };
    flow.edges[0] = { ...flow.edges[0], selected: true };
    const out = toApi(flow);
    expect(out.nodes[0]).toEqual({ id: 'a', type: 'end', position: { x: 0, y: 0 }, data: {} });
    expect(out.edges[0]).toEqual({ id: 'e1', source: 'x', target: 'a' });
  });

  it('leaves out a missing position or data until the user sets one', () => {
    const graph: ApiJourney = { id: 'j', nodes: [{ id: 'done', type: 'end' }], edges: [] };
    const flow = fromApi(graph);
    expect(flow.nodes[0].position).toEqual({ x: 0, y: 0 });
    expect(toApi(flow)).toEqual(graph);
    flow.nodes[0] = { ...flow.nodes[0], position: { x: 5, y: 6 }, data: { label: 'Done' } };
    expect(toApi(flow).nodes[0]).toEqual({ id: 'done', type: 'end', position: { x: 5, y: 6 }, data: { label: 'Done' } });
  });

  it('does not share objects with the graph it was given', () => {
    const graph: ApiJourney = { id: 'j', settings: { goal: { event: 'x' } },
      nodes: [{ id: 'a', type: 'wait', position: { x: 0, y: 0 }, data: { mode: 'duration', duration: 'P1D' } }], edges: [] };
    const flow = fromApi(graph);
    (flow.nodes[0].data as Record<string, unknown>).duration = 'P2D';
    (flow.journey.settings as Record<string, unknown>).goal = null;
    expect(graph.nodes[0].data?.duration).toBe('P1D');
    expect(graph.settings?.goal).toEqual({ event: 'x' });
  });
});

describe('out-handles', () => {
  const cases = Object.values(handleCases)[0] ?? [];

  it('has the cases the API computed', () => {
    expect(cases.length).toBeGreaterThan(10);
  });

  it.each(cases.map((c) => [`${c.type} ${JSON.stringify(c.data)}`, c] as const))(
    'match journeys/graph.py out_handles: %s', (_name, c) => {
      expect(outHandles(c.type, c.data)).toEqual(c.handles);
    });

  it('gives every library node the handles its edges use', () => {
    for (const [, graph] of graphs(library)) {
      for (const edge of graph.edges) {
        const source = graph.nodes.find((n) => n.id === edge.source);
        expect(source).toBeDefined();
        expect(outHandles(source!.type, source!.data)).toContain(edge.sourceHandle ?? 'default');
      }
    }
  });
});
