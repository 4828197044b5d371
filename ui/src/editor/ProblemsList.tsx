/** Every problem of the last save or validation; choosing one shows its step on the canvas. */

import { useReactFlow } from '@xyflow/react';

import type { Problem } from '../graph/types';
import { useEditor } from './context';

export function ProblemsList({ checked }: { checked: boolean }) {
  const problems = useEditor((s) => s.problems);
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const select = useEditor((s) => s.select);
  const flow = useReactFlow();

  const show = (problem: Problem) => {
    const nodeId = problem.node ?? edges.find((e) => e.id === problem.edge)?.source;
    const node = nodes.find((n) => n.id === nodeId);
    if (!node) return;
    select(node.id);
    const width = node.measured?.width ?? 240;
    const height = node.measured?.height ?? 90;
    flow.setCenter(node.position.x + width / 2, node.position.y + height / 2, { zoom: Math.max(flow.getZoom(), 0.8), duration: 300 });
  };

  const errors = problems.filter((p) => (p.severity ?? 'error') === 'error').length;
  const warnings = problems.length - errors;
  return (
    <section className="problems" aria-label="Problems" aria-live="polite">
      <h2>
        Problems{' '}
        {checked ? (
          <span className={errors ? 'count error' : 'count ok'} data-testid="problem-count">
            {errors} error{errors === 1 ? '' : 's'}{warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}
          </span>
        ) : (
          <span className="muted small">save or validate to check the journey</span>
        )}
      </h2>
      {problems.length > 0 && (
        <ul role="list">
          {problems.map((p, i) => (
            <li key={i} className={p.severity === 'warning' ? 'warning' : 'error'}>
              <button type="button" className="link" onClick={() => show(p)} disabled={!p.node && !p.edge}>
                <span className="code">{p.code}</span>{' '}
                <span className="where">{p.node ? `step ${p.node}` : p.edge ? `edge ${p.edge}` : 'journey'}</span>
                {p.field ? <span className="muted"> · {p.field}</span> : null}: {p.message}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
