/**
 * The journey graph as the API stores it (docs/journeys.md): React Flow shaped nodes
 * and edges. Fields the API does not know are kept, so every type is open.
 */

export const NODE_TYPES = ['entry', 'wait', 'branch', 'send', 'end'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export type JsonObject = Record<string, unknown>;

export interface ApiPosition {
  x: number;
  y: number;
  [extra: string]: unknown;
}

export interface ApiNode {
  id: string;
  type: string;
  position?: ApiPosition;
  data?: JsonObject;
  [extra: string]: unknown;
}

export interface ApiEdge {
  id: string;
  source: string;
  target: string;
  sourceHandle?: string | null;
  targetHandle?: string | null;
  [extra: string]: unknown;
}

/** A journey without its nodes and edges: id, name, settings and whatever else it holds. */
export interface JourneyFields {
  id: string;
  name?: string;
  version?: number;
  status?: string;
  settings?: JsonObject;
  [extra: string]: unknown;
}

export interface ApiJourney extends JourneyFields {
  nodes: ApiNode[];
  edges: ApiEdge[];
}

/** A problem found by the validator (docs/errors.md); it names a node, an edge or neither. */
export interface Problem {
  code: string;
  message: string;
  node?: string;
  edge?: string;
  field?: string;
  severity?: 'error' | 'warning';
}

export function isNodeType(value: unknown): value is NodeType {
  return typeof value === 'string' && (NODE_TYPES as readonly string[]).includes(value);
}
