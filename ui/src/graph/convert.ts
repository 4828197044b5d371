/**
 * The editor's graph (React Flow nodes and edges) <-> the journey JSON the API stores.
 *
 * `toApi(fromApi(g))` equals `g` for every graph the API gives back: fields the editor
 * does not use are kept as they are, React Flow's own runtime fields (`selected`,
 * `dragging`, `measured`, ...) are never sent, and a node that had no `position` or
 * `data` gets none back unless the user gave it one.
 */

import type { Edge, Node } from '@xyflow/react';

import type { ApiEdge, ApiJourney, ApiNode, ApiPosition, JourneyFields, JsonObject } from './types';

/** What the API sent that the editor must give back untouched. */
export interface Kept {
  /** runtime fields React Flow would change (e.g. a stored `selected`) */
  fields?: JsonObject;
  /** `position`/`data` were missing: leave them out again while they hold the default */
  absent?: ('position' | 'data')[];
}

export type FlowNode = Node<JsonObject, string> & { sbKept?: Kept };
export type FlowEdge = Edge & { sbKept?: Kept };
export type JourneyMeta = JourneyFields;

export interface EditorGraph {
  journey: JourneyMeta;
  nodes: FlowNode[];
  edges: FlowEdge[];
}

/** Fields React Flow sets on its nodes and edges while the editor runs. */
export const NODE_RUNTIME_FIELDS = ['selected', 'dragging', 'measured', 'resizing'] as const;
export const EDGE_RUNTIME_FIELDS = ['selected'] as const;

const clone = <T>(value: T): T => (value === undefined ? value : structuredClone(value));

function takeRuntime(source: Record<string, unknown>, names: readonly string[]): JsonObject | undefined {
  let found: JsonObject | undefined;
  for (const name of names) {
    if (name in source) {
      found = found ?? {};
      found[name] = clone(source[name]);
      delete source[name];
    }
  }
  return found;
}

function keep(fields: JsonObject | undefined, absent: Kept['absent']): Kept | undefined {
  if (!fields && !absent?.length) return undefined;
  return { ...(fields ? { fields } : {}), ...(absent?.length ? { absent } : {}) };
}

export function nodeFromApi(node: ApiNode): FlowNode {
  const { position, data, ...rest } = clone(node);
  const fields = takeRuntime(rest, NODE_RUNTIME_FIELDS);
  const absent: Kept['absent'] = [];
  if (position === undefined) absent.push('position');
  if (data === undefined) absent.push('data');
  const flow: FlowNode = { ...rest, id: node.id, type: node.type, position: position ?? { x: 0, y: 0 }, data: data ?? {} };
  const kept = keep(fields, absent);
  if (kept) flow.sbKept = kept;
  return flow;
}

export function edgeFromApi(edge: ApiEdge): FlowEdge {
  const rest = clone(edge) as Record<string, unknown>;
  const fields = takeRuntime(rest, EDGE_RUNTIME_FIELDS);
  const flow = rest as unknown as FlowEdge;
  const kept = keep(fields, undefined);
  if (kept) flow.sbKept = kept;
  return flow;
}

export function fromApi(graph: ApiJourney): EditorGraph {
  const { nodes, edges, ...journey } = graph;
  return {
    journey: clone(journey),
    nodes: (nodes ?? []).map(nodeFromApi),
    edges: (edges ?? []).map(edgeFromApi),
  };
}

const isOrigin = (p: { x: number; y: number }) => p.x === 0 && p.y === 0 && Object.keys(p).length === 2;
const isEmpty = (d: JsonObject) => Object.keys(d).length === 0;

export function nodeToApi(node: FlowNode): ApiNode {
  const rest: Record<string, unknown> = { ...node };
  const { sbKept, position, data } = node;
  for (const name of ['sbKept', 'position', 'data', ...NODE_RUNTIME_FIELDS]) delete rest[name];
  const out = clone(rest) as ApiNode;
  out.id = node.id;
  out.type = node.type ?? 'default';
  const absent = sbKept?.absent ?? [];
  if (!(absent.includes('position') && isOrigin(position))) out.position = clone(position) as ApiPosition;
  if (!(absent.includes('data') && isEmpty(data))) out.data = clone(data);
  return Object.assign(out, clone(sbKept?.fields ?? {}));
}

export function edgeToApi(edge: FlowEdge): ApiEdge {
  const rest: Record<string, unknown> = { ...edge };
  for (const name of ['sbKept', ...EDGE_RUNTIME_FIELDS]) delete rest[name];
  const out = clone(rest) as ApiEdge;
  return Object.assign(out, clone(edge.sbKept?.fields ?? {}));
}

export function toApi(graph: EditorGraph): ApiJourney {
  return { ...clone(graph.journey), nodes: graph.nodes.map(nodeToApi), edges: graph.edges.map(edgeToApi) } as ApiJourney;
}

/** The JSON text the API would receive: `undefined` fields vanish as in a request body. */
export function toApiJson(graph: EditorGraph): string {
  return JSON.stringify(toApi(graph));
}
