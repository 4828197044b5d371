/**
 * One node on the canvas: what it does in a line, its live counts, its problems (red
 * outline and message), and one labelled out-handle per outcome (ids exactly as the
 * API's `out_handles`). An edge on a handle the node no longer has is drawn from a
 * red stand-in handle so it can be seen and fixed.
 */

import { Handle, Position, useUpdateNodeInternals, type NodeProps } from '@xyflow/react';
import { memo, useEffect, useRef } from 'react';

import type { FlowNode } from '../graph/convert';
import { describeDuration } from '../graph/durations';
import { DEFAULT_HANDLE, handleLabel, outHandles } from '../graph/handles';
import type { JsonObject } from '../graph/types';
import { useEditor, useLookups } from './context';

const TYPE_TITLES: Record<string, string> = { entry: 'Entry', wait: 'Wait', branch: 'Branch', send: 'Send', end: 'End' };

const str = (value: unknown) => (typeof value === 'string' ? value : '');

/** What the node does, in a few words. */
export function summary(type: string, data: JsonObject): string {
  switch (type) {
    case 'entry': {
      const trigger = (data.trigger ?? {}) as JsonObject;
      const event = str(trigger.event);
      if (!event) return 'Pick the event that starts it';
      const who = event === 'segment.entered' ? `joins segment ${str(trigger.segment) || '?'}` : event;
      return `When ${who}${data.filter ? ' (filtered)' : ''}`;
    }
    case 'wait':
      if (data.mode === 'event') {
        return `Up to ${describeDuration(data.timeout)} for ${str(data.event) || '?'}`;
      }
      if (data.mode === 'until') {
        const days = Array.isArray(data.weekdays) && data.weekdays.length ? ` on ${data.weekdays.join(', ')}` : '';
        return `Until ${str(data.time) || '?'}${days}`;
      }
      return `For ${describeDuration(data.duration)}`;
    case 'branch':
      if (data.mode === 'split') {
        const variants = Array.isArray(data.variants) ? (data.variants as JsonObject[]) : [];
        return `Split ${variants.map((v) => `${str(v?.handle) || '?'} ${Number(v?.weight ?? 0)}`).join(' / ')}`;
      }
      return `${Array.isArray(data.cases) ? data.cases.length : 0} condition(s), else ${str(data.default) || 'else'}`;
    case 'send':
      return `${str(data.channel) || '?'} · ${str(data.template) || 'no template'}${data.offer ? ' + QR offer' : ''}`;
    case 'end':
      return 'Leaves the journey';
    default:
      return `Unknown node type '${type}'`;
  }
}

function JourneyNodeView({ id, type, data, selected }: NodeProps<FlowNode>) {
  const problems = useEditor((s) => s.problems).filter((p) => p.node === id && !p.edge);
  const usedHandles = useEditor((s) =>
    s.edges.filter((e) => e.source === id).map((e) => e.sourceHandle || DEFAULT_HANDLE).join('\n'));
  const counts = useLookups().counts?.[id];
  const handles = outHandles(type, data);
  const stray = [...new Set(usedHandles ? usedHandles.split('\n') : [])].filter((h) => !handles.includes(h));
  const all = [...handles.map((h) => ({ id: h, stray: false })), ...stray.map((h) => ({ id: h, stray: true }))];
  // React Flow measures handles when a node mounts or resizes; changed outcomes need a
  // fresh measure (not on mount: that would fit the view to the first node measured)
  const updateInternals = useUpdateNodeInternals();
  const handleKey = all.map((h) => `${h.id}:${h.stray}`).join('\n');
  const measuredKey = useRef(handleKey);
  useEffect(() => {
    if (measuredKey.current === handleKey) return;
    measuredKey.current = handleKey;
    updateInternals(id);
  }, [id, handleKey, updateInternals]);
  const errors = problems.filter((p) => (p.severity ?? 'error') === 'error');
  const label = str(data.label) || TYPE_TITLES[type] || type;
  const classes = ['journey-node', `node-${type}`, selected ? 'selected' : '',
    errors.length ? 'has-error' : problems.length ? 'has-warning' : ''].filter(Boolean).join(' ');

  return (
    <div className={classes} data-node-id={id} aria-label={`${TYPE_TITLES[type] ?? type} ${label}`}>
      {type !== 'entry' && <Handle type="target" position={Position.Top} className="in-handle" />}
      <div className="node-head">
        <span className="node-type">{TYPE_TITLES[type] ?? type}</span>
        <span className="node-id mono">{id}</span>
      </div>
      <div className="node-label">{label}</div>
      <div className="node-summary">{summary(type, data)}</div>
      {counts && (counts.entered > 0 || counts.current > 0 || counts.exited > 0) && (
        <div className="node-counts" data-testid="node-counts" title="contacts at this node now · entered it · left the journey here">
          <span className="count-now" data-testid="count-now">{counts.current} here</span>
          <span>{counts.entered} in</span>
          {counts.exited > 0 && <span>{counts.exited} left</span>}
        </div>
      )}
      {problems.length > 0 && (
        <ul className="node-problems" role="list">
          {problems.slice(0, 3).map((p, i) => (
            <li key={i} className={p.severity === 'warning' ? 'warning' : 'error'}>
              <span className="code">{p.code}</span> {p.message}
            </li>
          ))}
          {problems.length > 3 && <li>…and {problems.length - 3} more</li>}
        </ul>
      )}
      {all.length > 0 && (
        <div className={`out-handles${all.length > 1 ? ' many' : ''}`}>
          {all.map((h, i) => {
            const left = `${((i + 1) / (all.length + 1)) * 100}%`;
            const text = h.stray ? `⚠ ${h.id}` : handleLabel(type, h.id);
            return (
              <div key={`${h.id}:${h.stray}`}>
                <Handle type="source" position={Position.Bottom} id={h.id} style={{ left }}
                  className={h.stray ? 'stray-handle' : undefined} isConnectable={!h.stray}
                  title={h.stray ? `'${h.id}' is not an outcome of this node: reconnect the edge` : handleLabel(type, h.id) || 'next step'} />
                {text && <span className={`handle-label${h.stray ? ' stray' : ''}`} style={{ left }}>{text}</span>}
              </div>
            );
          })}
        </div>
      )}
    </div>
  );
}

export const JourneyNode = memo(JourneyNodeView);

/** Every node type (and unknown ones, via `default`) is drawn by `JourneyNode`. */
export const nodeTypes = { entry: JourneyNode, wait: JourneyNode, branch: JourneyNode, send: JourneyNode, end: JourneyNode,
  default: JourneyNode };
