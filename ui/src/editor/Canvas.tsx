/**
 * The canvas: React Flow over the editor store. Nodes are dropped here from the palette
 * (HTML5 drag and drop, placed with `screenToFlowPosition`), handles are connected by
 * dragging, edges with problems are drawn red with their message. While a simulation is
 * shown, the steps and edges it went through get the class `sim-visited` (the rest
 * `sim-dimmed`).
 */

import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type Connection,
  type Edge,
  type IsValidConnection,
} from '@xyflow/react';
import { useCallback, useMemo, useState, type DragEvent } from 'react';

import type { FlowEdge, FlowNode } from '../graph/convert';
import { isNodeType } from '../graph/types';
import { useEditor, useEditorStore } from './context';
import { nodeTypes } from './JourneyNode';
import { withHighlight, type Highlight } from './simulation';
import { canConnect } from './store';

export const DRAG_MIME = 'application/x-switchback-node';

/** React Flow's warnings we show ourselves: 003 unknown node type, 008 edge on a missing handle. */
const SHOWN_AS_PROBLEMS = new Set(['003', '008']);

function onFlowError(code: string, message: string) {
  if (!SHOWN_AS_PROBLEMS.has(code)) console.warn(`React Flow ${code}: ${message}`);
}

export function Canvas({ highlight = null }: { highlight?: Highlight | null }) {
  const store = useEditorStore();
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const problems = useEditor((s) => s.problems);
  const readOnly = useEditor((s) => s.readOnly);
  const onNodesChange = useEditor((s) => s.onNodesChange);
  const onEdgesChange = useEditor((s) => s.onEdgesChange);
  const flow = useReactFlow<FlowNode, FlowEdge>();
  // fit a journey that has steps into view once; an empty canvas keeps its origin so
  // the first dropped step stays where it was dropped
  const [fitOnOpen] = useState(() => nodes.length > 0);

  const shownEdges = useMemo(() => {
    const byEdge = new Map<string, string[]>();
    for (const p of problems) {
      if (p.edge) byEdge.set(p.edge, [...(byEdge.get(p.edge) ?? []), `${p.code} ${p.message}`]);
    }
    if (!byEdge.size) return edges;
    return edges.map((edge) => {
      const messages = byEdge.get(edge.id);
      return messages
        ? { ...edge, className: 'has-problem', label: messages.join('; '), labelShowBg: true,
          labelBgStyle: { fill: '#fde8e8' }, labelStyle: { fill: '#9b1c1c', fontSize: 11 } }
        : edge;
    });
  }, [edges, problems]);

  const litNodes = useMemo(() => withHighlight(nodes, highlight?.nodes ?? null), [nodes, highlight]);
  const litEdges = useMemo(() => withHighlight(shownEdges, highlight?.edges ?? null), [shownEdges, highlight]);

  const onConnect = useCallback((c: Connection) => store.getState().connect(c), [store]);
  const isValidConnection: IsValidConnection<Edge> = useCallback(
    (c) => canConnect(store.getState().nodes, c.source, c.target), [store]);

  const onDragOver = useCallback((event: DragEvent) => {
    if (readOnly || !event.dataTransfer.types.includes(DRAG_MIME)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  }, [readOnly]);

  const onDrop = useCallback((event: DragEvent) => {
    const type = event.dataTransfer.getData(DRAG_MIME);
    if (readOnly || !isNodeType(type)) return;
    event.preventDefault();
    const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
    // the pointer holds the node by the middle of its top edge
    store.getState().addNode(type, { x: at.x - 110, y: at.y - 20 });
  }, [flow, readOnly, store]);

  return (
    <div className="canvas" onDragOver={onDragOver} onDrop={onDrop} data-testid="canvas">
      <ReactFlow<FlowNode, FlowEdge>
        nodes={litNodes}
        edges={litEdges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        isValidConnection={isValidConnection}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        edgesReconnectable={false}
        deleteKeyCode={null}
        onError={onFlowError}
        fitView={fitOnOpen}
        fitViewOptions={{ maxZoom: 1, padding: 0.2 }}
        minZoom={0.2}
        proOptions={{ hideAttribution: true }}
        aria-label="Journey canvas"
      >
        <Background gap={20} />
        <Controls showInteractive={false} />
        <MiniMap pannable zoomable ariaLabel="Overview of the journey" nodeStrokeWidth={3}
          nodeClassName={(node) => `minimap-${node.type}`} />
      </ReactFlow>
    </div>
  );
}
