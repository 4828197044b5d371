/**
 * Auto-layout: a layered top-to-bottom arrangement (dagre) of the journey's nodes,
 * entry at the top, each branch's outcomes side by side below it.
 */

import { Graph, layout } from '@dagrejs/dagre';

import type { FlowEdge, FlowNode } from './convert';
import { edgeHandle, outHandles } from './handles';

export const NODE_WIDTH = 240;
export const NODE_HEIGHT = 90;

export type Positions = Record<string, { x: number; y: number }>;

/** New top-left positions for every node (rounded to whole pixels). */
export function autoLayout(nodes: FlowNode[], edges: FlowEdge[]): Positions {
  const g = new Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 50, ranksep: 70, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(nodes.map((n) => n.id));
  // dagre keeps the order things are added in where it can: walk from the entry and add
  // each node's edges in the order of its outcomes, so a branch's first case is on the left
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const rank = (edge: FlowEdge) => {
    const source = byId.get(edge.source);
    const index = source ? outHandles(source.type ?? '', source.data).indexOf(edgeHandle(edge)) : -1;
    return index < 0 ? Number.MAX_SAFE_INTEGER : index;
  };
  const outgoing = new Map<string, FlowEdge[]>();
  for (const edge of [...edges].sort((a, b) => rank(a) - rank(b))) {
    outgoing.set(edge.source, [...(outgoing.get(edge.source) ?? []), edge]);
  }
  const order: FlowNode[] = [];
  const seen = new Set<string>();
  const queue = nodes.filter((n) => n.type === 'entry');
  while (queue.length) {
    const node = queue.shift() as FlowNode;
    if (seen.has(node.id)) continue;
    seen.add(node.id);
    order.push(node);
    for (const edge of outgoing.get(node.id) ?? []) {
      const next = byId.get(edge.target);
      if (next && !seen.has(next.id)) queue.push(next);
    }
  }
  const ordered = [...order, ...nodes.filter((n) => !seen.has(n.id))];
  for (const node of ordered) {
    g.setNode(node.id, {
      width: node.measured?.width ?? NODE_WIDTH,
      height: node.measured?.height ?? NODE_HEIGHT,
    });
  }
  for (const edge of ordered.flatMap((n) => outgoing.get(n.id) ?? [])) {
    if (ids.has(edge.source) && ids.has(edge.target) && edge.source !== edge.target) g.setEdge(edge.source, edge.target);
  }
  layout(g);
  const positions: Positions = {};
  for (const node of nodes) {
    const placed = g.node(node.id) as { x: number; y: number; width: number; height: number };
    positions[node.id] = { x: Math.round(placed.x - placed.width / 2), y: Math.round(placed.y - placed.height / 2) };
  }
  // side by side children of one node follow its outcomes left to right (no crossed edges)
  for (const node of ordered) {
    const children = [...new Set((outgoing.get(node.id) ?? []).map((e) => e.target))].filter((id) => positions[id]);
    const rows = new Map<number, string[]>(); // by rank: the middle of the nodes
    for (const id of children) {
      const middle = Math.round((g.node(id) as { y: number }).y);
      rows.set(middle, [...(rows.get(middle) ?? []), id]);
    }
    for (const row of rows.values()) {
      const xs = row.map((id) => positions[id].x).sort((a, b) => a - b);
      row.forEach((id, i) => { positions[id] = { ...positions[id], x: xs[i] }; });
    }
  }
  return positions;
}
