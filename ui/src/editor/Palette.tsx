/**
 * The node palette: drag a step onto the canvas, or press Enter on it to place it in
 * the middle of what the canvas shows (keyboard users).
 */

import { useReactFlow } from '@xyflow/react';
import type { DragEvent } from 'react';

import { PALETTE } from '../graph/defaults';
import type { NodeType } from '../graph/types';
import { DRAG_MIME } from './Canvas';
import { useEditor } from './context';

export function Palette() {
  const addNode = useEditor((s) => s.addNode);
  const count = useEditor((s) => s.nodes.length);
  const flow = useReactFlow();

  const onDragStart = (event: DragEvent, type: NodeType) => {
    event.dataTransfer.setData(DRAG_MIME, type);
    event.dataTransfer.setData('text/plain', type);
    event.dataTransfer.effectAllowed = 'copy';
  };

  const placeInView = (type: NodeType) => {
    const box = document.querySelector('.canvas')?.getBoundingClientRect();
    const center = box ? { x: box.left + box.width / 2, y: box.top + box.height / 3 } : { x: 400, y: 200 };
    const at = flow.screenToFlowPosition(center);
    const nudge = (count % 5) * 24;
    addNode(type, { x: at.x - 110 + nudge, y: at.y + nudge });
  };

  return (
    <aside className="palette" aria-label="Steps">
      <h2>Steps</h2>
      <p className="muted small">Drag onto the canvas</p>
      <ul role="list">
        {PALETTE.map((item) => (
          <li key={item.type}>
            <button type="button" className={`palette-item node-${item.type}`} draggable data-node-type={item.type}
              onDragStart={(e) => onDragStart(e, item.type)} onClick={() => placeInView(item.type)}
              title={`${item.hint}. Drag onto the canvas, or press Enter to add it.`}>
              <strong>{item.title}</strong>
              <span className="muted small">{item.hint}</span>
            </button>
          </li>
        ))}
      </ul>
    </aside>
  );
}
