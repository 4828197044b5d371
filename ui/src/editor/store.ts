/**
 * The journey editor's state: the graph being drawn, with undo/redo.
 *
 * Every change a marketer makes (add, connect, move, edit, delete, layout) is one step
 * in the history; typing into one field is one step, not one per key. Selection and
 * measuring (React Flow's bookkeeping) are not steps. Problems from the last save or
 * validation are kept next to the graph (not in the history).
 */

import { applyEdgeChanges, applyNodeChanges, type Connection, type EdgeChange, type NodeChange } from '@xyflow/react';
import { createStore, type StoreApi } from 'zustand/vanilla';

import { fromApi, toApiJson, type EditorGraph, type FlowEdge, type FlowNode, type JourneyMeta } from '../graph/convert';
import { defaultData, freshId } from '../graph/defaults';
import { DEFAULT_HANDLE, outHandles } from '../graph/handles';
import { autoLayout } from '../graph/layout';
import type { ApiJourney, JsonObject, NodeType, Problem } from '../graph/types';

export const HISTORY_LIMIT = 200;

export type Snapshot = EditorGraph;

export interface EditorState extends EditorGraph {
  past: Snapshot[];
  future: Snapshot[];
  /** the key of the last change: another change with the same key joins its step */
  coalesce: string | null;
  /** set while a node is dragged: the whole drag is one step */
  dragging: boolean;
  /** the graph as last loaded or saved (API JSON text), to tell unsaved changes */
  savedJson: string;
  readOnly: boolean;
  problems: Problem[];

  load(graph: ApiJourney, options?: { readOnly?: boolean }): void;
  /** the graph as saved is `json` (what was sent), else the current graph */
  markSaved(json?: string): void;
  setProblems(problems: Problem[]): void;
  onNodesChange(changes: NodeChange<FlowNode>[]): void;
  onEdgesChange(changes: EdgeChange<FlowEdge>[]): void;
  addNode(type: NodeType, position: { x: number; y: number }): string;
  connect(connection: Pick<Connection, 'source' | 'target' | 'sourceHandle'>): string | null;
  updateNodeData(id: string, data: JsonObject, key?: string): void;
  updateJourney(patch: Partial<JourneyMeta>, key?: string): void;
  deleteSelected(): void;
  deleteElements(nodeIds: string[], edgeIds: string[]): void;
  select(nodeId: string | null): void;
  layout(): void;
  undo(): void;
  redo(): void;
}

const snapshot = (s: EditorGraph): Snapshot => ({ journey: s.journey, nodes: s.nodes, edges: s.edges });

/** Can an edge go from `source` to `target`? (No loops onto itself, nothing into the entry.) */
export function canConnect(nodes: FlowNode[], source: string, target: string): boolean {
  if (!source || !target || source === target) return false;
  const to = nodes.find((n) => n.id === target);
  return Boolean(to && nodes.some((n) => n.id === source) && to.type !== 'entry');
}

/**
 * Edges after a node's handles changed from `before` to `after`: a renamed handle (same
 * count, one name changed in place) keeps its edge; edges of vanished handles go.
 */
export function followHandles(edges: FlowEdge[], nodeId: string, before: string[], after: string[]): FlowEdge[] {
  if (before.join('\u0000') === after.join('\u0000')) return edges;
  const renamed = new Map<string, string>();
  if (before.length === after.length) before.forEach((h, i) => h !== after[i] && renamed.set(h, after[i]));
  const keep = new Set(after);
  return edges.flatMap((edge) => {
    if (edge.source !== nodeId) return [edge];
    const handle = edge.sourceHandle ?? DEFAULT_HANDLE;
    if (renamed.has(handle)) {
      const next = renamed.get(handle) as string;
      const moved: FlowEdge = { ...edge, sourceHandle: next };
      if (next === DEFAULT_HANDLE) delete moved.sourceHandle;
      return [moved];
    }
    return keep.has(handle || DEFAULT_HANDLE) ? [edge] : [];
  });
}

export function createEditorStore(initial?: ApiJourney): StoreApi<EditorState> {
  return createStore<EditorState>()((set, get) => {
    /** Apply a change as one history step (or as part of the last one when `key` matches). */
    const commit = (next: Partial<EditorGraph>, key: string | null = null) => {
      const state = get();
      if (state.readOnly) return;
      const joins = key !== null && key === state.coalesce;
      set({
        ...next,
        past: joins ? state.past : [...state.past, snapshot(state)].slice(-HISTORY_LIMIT),
        future: [],
        coalesce: key,
      });
    };

    const empty: EditorGraph = initial ? fromApi(initial) : { journey: { id: '' }, nodes: [], edges: [] };
    return {
      ...empty,
      past: [],
      future: [],
      coalesce: null,
      dragging: false,
      savedJson: toApiJson(empty),
      readOnly: false,
      problems: [],

      load(graph, options = {}) {
        const loaded = fromApi(graph);
        set({ ...loaded, past: [], future: [], coalesce: null, dragging: false, savedJson: toApiJson(loaded),
          readOnly: Boolean(options.readOnly), problems: [] });
      },

      markSaved(json) {
        set({ savedJson: json ?? toApiJson(get()) });
      },

      setProblems(problems) {
        set({ problems });
      },

      onNodesChange(changes) {
        const state = get();
        const visible = changes.filter((c) => c.type === 'select' || c.type === 'dimensions');
        if (state.readOnly || visible.length === changes.length) {
          // selecting and measuring are not edits (and a read-only graph only allows those)
          set({ nodes: applyNodeChanges(visible, state.nodes) });
          return;
        }
        const moves = changes.filter((c) => c.type === 'position');
        const dragging = moves.some((c) => c.type === 'position' && c.dragging);
        const nodes = applyNodeChanges(changes, state.nodes);
        if (moves.length === changes.length && state.dragging) {
          set({ nodes, dragging }); // the drag goes on (or ends): it is already one step
          return;
        }
        commit({ nodes });
        set({ dragging });
      },

      onEdgesChange(changes) {
        const state = get();
        const edits = changes.filter((c) => c.type !== 'select');
        if (state.readOnly || edits.length === 0) {
          set({ edges: applyEdgeChanges(changes.filter((c) => c.type === 'select'), state.edges) });
          return;
        }
        commit({ edges: applyEdgeChanges(changes, state.edges) });
      },

      addNode(type, position) {
        const state = get();
        const id = freshId(`${type}_`, state.nodes.map((n) => n.id));
        const node: FlowNode = { id, type, position: { x: Math.round(position.x), y: Math.round(position.y) },
          data: defaultData(type), selected: true };
        commit({ nodes: [...state.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node],
          edges: state.edges.map((e) => (e.selected ? { ...e, selected: false } : e)) });
        return id;
      },

      connect({ source, target, sourceHandle }) {
        const state = get();
        if (state.readOnly || !canConnect(state.nodes, source, target)) return null;
        const handle = sourceHandle || DEFAULT_HANDLE;
        // one edge per out-handle (SB-014): a new connection replaces the old one
        const others = state.edges.filter((e) => !(e.source === source && (e.sourceHandle || DEFAULT_HANDLE) === handle));
        const id = freshId('e', state.edges.map((e) => e.id));
        const edge: FlowEdge = { id, source, target };
        if (handle !== DEFAULT_HANDLE) edge.sourceHandle = handle;
        commit({ edges: [...others, edge] });
        return id;
      },

      updateNodeData(id, data, key) {
        const state = get();
        const node = state.nodes.find((n) => n.id === id);
        if (!node) return;
        const type = node.type ?? '';
        const edges = followHandles(state.edges, id, outHandles(type, node.data), outHandles(type, data));
        commit({ nodes: state.nodes.map((n) => (n.id === id ? { ...n, data } : n)), edges },
          key ? `node:${id}:${key}` : null);
      },

      updateJourney(patch, key) {
        commit({ journey: { ...get().journey, ...patch } }, key ? `journey:${key}` : null);
      },

      deleteSelected() {
        const state = get();
        get().deleteElements(state.nodes.filter((n) => n.selected).map((n) => n.id),
          state.edges.filter((e) => e.selected).map((e) => e.id));
      },

      deleteElements(nodeIds, edgeIds) {
        const state = get();
        if (!nodeIds.length && !edgeIds.length) return;
        const gone = new Set(nodeIds);
        const cut = new Set(edgeIds);
        commit({
          nodes: state.nodes.filter((n) => !gone.has(n.id)),
          edges: state.edges.filter((e) => !cut.has(e.id) && !gone.has(e.source) && !gone.has(e.target)),
        });
      },

      select(nodeId) {
        const state = get();
        set({
          nodes: state.nodes.map((n) => (Boolean(n.selected) === (n.id === nodeId) ? n : { ...n, selected: n.id === nodeId })),
          edges: state.edges.map((e) => (e.selected ? { ...e, selected: false } : e)),
        });
      },

      layout() {
        const state = get();
        if (!state.nodes.length) return;
        const positions = autoLayout(state.nodes, state.edges);
        commit({ nodes: state.nodes.map((n) => ({ ...n, position: { ...n.position, ...positions[n.id] } })) });
      },

      undo() {
        const state = get();
        const previous = state.past[state.past.length - 1];
        if (!previous || state.readOnly) return;
        set({ ...previous, past: state.past.slice(0, -1), future: [snapshot(state), ...state.future], coalesce: null,
          dragging: false });
      },

      redo() {
        const state = get();
        const next = state.future[0];
        if (!next || state.readOnly) return;
        set({ ...next, past: [...state.past, snapshot(state)], future: state.future.slice(1), coalesce: null,
          dragging: false });
      },
    };
  });
}

/** Has the graph changed since it was loaded or saved? */
export function isDirty(state: EditorState): boolean {
  return toApiJson(state) !== state.savedJson;
}
