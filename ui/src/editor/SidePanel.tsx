/** The right-hand panel: the selected step's settings, or the journey's when none is selected. */

import { useEditor } from './context';
import { JourneySettings } from './JourneySettings';
import { NodeForm } from './NodeForm';

export function SidePanel() {
  const selected = useEditor((s) => {
    const chosen = s.nodes.filter((n) => n.selected);
    return chosen.length === 1 ? chosen[0] : null;
  });
  return (
    <aside className="side-panel" aria-label="Settings">
      {selected ? <NodeForm key={selected.id} node={selected} /> : <JourneySettings />}
    </aside>
  );
}
