// The editor store: building a journey, one undo step per change, redo, handles that follow renames.
import { describe, expect, it } from 'vitest';

import { toApi } from '../graph/convert';
import type { ApiJourney } from '../graph/types';
import { createEditorStore, isDirty } from './store';

const start: ApiJourney = { id: 'welcome', name: 'Welcome', nodes: [], edges: [] };

/** The five-node journey the browser test draws, built with the same store actions the canvas uses. */
function buildWelcome() {
  const store = createEditorStore();
  store.getState().load(start);
  const s = () => store.getState();
  const entry = s().addNode('entry', { x: 0, y: 0 });
  s().updateNodeData(entry, { ...s().nodes[0].data, trigger: { event: 'signup.completed' } }, 'trigger');
  const wait = s().addNode('wait', { x: 0, y: 150 });
  s().updateNodeData(wait, { label: 'Ordered within a day?', mode: 'event', event: 'order.placed', timeout: 'P1D' });
  const bought = s().addNode('end', { x: -150, y: 300 });
  const send = s().addNode('send', { x: 150, y: 300 });
  s().updateNodeData(send, { label: 'Nudge', channel: 'email', template: 'nudge' });
  const done = s().addNode('end', { x: 150, y: 450 });
  s().connect({ source: entry, target: wait, sourceHandle: 'default' });
  s().connect({ source: wait, target: bought, sourceHandle: 'event' });
  s().connect({ source: wait, target: send, sourceHandle: 'timeout' });
  s().connect({ source: send, target: done, sourceHandle: null });
  return store;
}

describe('editor store', () => {
  it('builds the JSON the API is given (tests/ui/test_ui_roundtrip.py posts this fixture)', async () => {
    const graph = toApi(buildWelcome().getState());
    expect(graph.nodes.map((n) => n.id)).toEqual(['entry_1', 'wait_1', 'end_1', 'send_1', 'end_2']);
    expect(graph.edges).toEqual([
      { id: 'e1', source: 'entry_1', target: 'wait_1' },
      { id: 'e2', source: 'wait_1', sourceHandle: 'event', target: 'end_1' },
      { id: 'e3', source: 'wait_1', sourceHandle: 'timeout', target: 'send_1' },
      { id: 'e4', source: 'send_1', target: 'end_2' },
    ]);
    await expect(`${JSON.stringify(graph, null, 2)}\n`).toMatchFileSnapshot('../graph/fixtures/editor-built.json');
  });

  it('undoes and redoes one change at a time', () => {
    const store = buildWelcome();
    const s = () => store.getState();
    const built = toApi(s());
    s().undo(); // the last connection
    expect(toApi(s()).edges.map((e) => e.id)).toEqual(['e1', 'e2', 'e3']);
    s().undo();
    s().undo();
    expect(toApi(s()).edges.map((e) => e.id)).toEqual(['e1']);
    s().redo();
    s().redo();
    s().redo();
    expect(toApi(s())).toEqual(built);
    s().redo(); // nothing left to redo
    expect(toApi(s())).toEqual(built);
  });

  it('undoes everything back to the loaded graph, and a new change clears redo', () => {
    const store = buildWelcome();
    const s = () => store.getState();
    while (s().past.length) s().undo();
    expect(toApi(s())).toEqual(start);
    expect(isDirty(s())).toBe(false);
    s().redo();
    expect(isDirty(s())).toBe(true);
    s().addNode('end', { x: 1, y: 1 });
    expect(s().future).toEqual([]);
  });

  it('makes typing into one field one step', () => {
    const store = buildWelcome();
    const s = () => store.getState();
    const steps = s().past.length;
    for (const label of ['N', 'Nu', 'Nud', 'Nudge!']) {
      s().updateNodeData('send_1', { ...s().nodes.find((n) => n.id === 'send_1')!.data, label }, 'label');
    }
    expect(s().past.length).toBe(steps + 1);
    s().undo();
    expect(s().nodes.find((n) => n.id === 'send_1')!.data.label).toBe('Nudge');
  });

  it('treats a whole drag as one step, and selection as none', () => {
    const store = buildWelcome();
    const s = () => store.getState();
    const steps = s().past.length;
    s().onNodesChange([{ id: 'send_1', type: 'select', selected: true }]);
    s().onNodesChange([{ id: 'send_1', type: 'dimensions', dimensions: { width: 200, height: 80 } }]);
    expect(s().past.length).toBe(steps);
    for (const x of [160, 170, 180]) {
      s().onNodesChange([{ id: 'send_1', type: 'position', position: { x, y: 300 }, dragging: true }]);
    }
    s().onNodesChange([{ id: 'send_1', type: 'position', dragging: false }]);
    expect(s().past.length).toBe(steps + 1);
    expect(toApi(s()).nodes.find((n) => n.id === 'send_1')!.position).toEqual({ x: 180, y: 300 });
    s().undo();
    expect(toApi(s()).nodes.find((n) => n.id === 'send_1')!.position).toEqual({ x: 150, y: 300 });
  });

  it('replaces the edge of an out-handle that is connected again, never into the entry', () => {
    const store = buildWelcome();
    const s = () => store.getState();
    s().connect({ source: 'send_1', target: 'end_1', sourceHandle: null });
    expect(toApi(s()).edges.filter((e) => e.source === 'send_1')).toEqual([{ id: 'e5', source: 'send_1', target: 'end_1' }]);
    expect(s().connect({ source: 'send_1', target: 'entry_1', sourceHandle: null })).toBeNull();
    expect(s().connect({ source: 'send_1', target: 'send_1', sourceHandle: null })).toBeNull();
  });

  it('keeps edges on renamed branch handles and drops those of removed ones', () => {
    const store = createEditorStore({ id: 'b', nodes: [
      { id: 'b', type: 'branch', position: { x: 0, y: 0 },
        data: { mode: 'condition', cases: [{ handle: 'yes', rule: { tag: 'vip' } }, { handle: 'maybe', rule: { tag: 'x' } }], default: 'else' } },
      { id: 'x', type: 'end', position: { x: 0, y: 0 }, data: {} }], edges: [] });
    const s = () => store.getState();
    s().connect({ source: 'b', target: 'x', sourceHandle: 'yes' });
    s().connect({ source: 'b', target: 'x', sourceHandle: 'maybe' });
    s().connect({ source: 'b', target: 'x', sourceHandle: 'else' });
    const data = s().nodes[0].data;
    s().updateNodeData('b', { ...data, cases: [{ handle: 'vip', rule: { tag: 'vip' } }, { handle: 'maybe', rule: { tag: 'x' } }] });
    expect(s().edges.map((e) => e.sourceHandle)).toEqual(['vip', 'maybe', 'else']);
    s().updateNodeData('b', { ...data, cases: [{ handle: 'vip', rule: { tag: 'vip' } }], default: 'else' });
    expect(s().edges.map((e) => e.sourceHandle)).toEqual(['vip', 'else']);
  });

  it('deletes selected nodes with their edges in one step', () => {
    const store = buildWelcome();
    const s = () => store.getState();
    s().select('send_1');
    s().deleteSelected();
    expect(s().nodes.map((n) => n.id)).not.toContain('send_1');
    expect(s().edges.map((e) => e.id)).toEqual(['e1', 'e2']);
    s().undo();
    expect(s().edges.map((e) => e.id)).toEqual(['e1', 'e2', 'e3', 'e4']);
  });

  it('lays out top to bottom from the entry', () => {
    const store = buildWelcome();
    const s = () => store.getState();
    s().layout();
    const y = Object.fromEntries(s().nodes.map((n) => [n.id, n.position.y]));
    expect(y.entry_1).toBeLessThan(y.wait_1);
    expect(y.wait_1).toBeLessThan(y.send_1);
    expect(y.send_1).toBeLessThan(y.end_2);
    s().undo();
    expect(s().nodes.find((n) => n.id === 'wait_1')!.position).toEqual({ x: 0, y: 150 });
  });

  it('changes nothing in a read-only version', () => {
    const store = createEditorStore();
    store.getState().load(toApi(buildWelcome().getState()), { readOnly: true });
    const s = () => store.getState();
    const before = toApi(s());
    s().addNode('end', { x: 0, y: 0 });
    s().deleteElements(['send_1'], []);
    s().layout();
    expect(toApi(s())).toEqual(before);
  });
});
