/**
 * The simulate panel's pure logic: reading an uploaded JSONL script (one event envelope or
 * `{"advance": "PT4H"}` a line, blank lines skipped, bad lines named by number), naming the
 * line behind the API's `events[3]` error path, and turning a simulation's path into the
 * node and edge ids to highlight on the canvas.
 */

export interface SimStep {
  node_id: string;
  at: string;
}

export interface SimMessage {
  message_id: string;
  node_id: string;
  channel: string;
  template: string;
  at: string;
  offer?: unknown;
}

export interface SimContact {
  contact_id: string;
  entered: boolean;
  steps: SimStep[];
  path: string[];
  messages: SimMessage[];
  suppressed: { message_id: string; node_id: string; channel: string; reason: string; at: string }[];
  exits: { reason: string; node_id: string | null; at: string }[];
  status: string | null;
  waiting_at: string | null;
}

export interface SimProblem {
  code?: string;
  message: string;
  severity?: string;
  node?: string;
  edge?: string;
}

export interface Simulation {
  journey_id: string;
  contacts: SimContact[];
  problems: SimProblem[];
  ended_at: string;
  simulated: boolean;
}

export interface ParsedScript {
  events: unknown[];
  /** the file's line number of each event (1-based) */
  lines: number[];
  errors: string[];
}

/** The events of a JSONL file; lines that are not a JSON object are reported, not sent. */
export function parseJsonl(text: string): ParsedScript {
  const out: ParsedScript = { events: [], lines: [], errors: [] };
  text.split(/\r?\n/).forEach((line, index) => {
    if (!line.trim()) return;
    const n = index + 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (exc) {
      out.errors.push(`line ${n}: not valid JSON (${(exc as Error).message})`);
      return;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      out.errors.push(`line ${n}: expected a JSON object: an event envelope or {"advance": "PT4H"}`);
      return;
    }
    out.events.push(value);
    out.lines.push(n);
  });
  if (!out.events.length && !out.errors.length) out.errors.push('the file has no events');
  return out;
}

/** The API's `events[i]: line i+1: why` as the file's own line (blank lines were skipped). */
export function explainEventError(loc: string | undefined, message: string | undefined, lines: number[]): string {
  const why = (message ?? '').replace(/^line \d+: /, '');
  const match = /^events\[(\d+)\]/.exec(loc ?? '');
  if (!match) return why || 'the events cannot be simulated';
  const line = lines[Number(match[1])];
  return `line ${line ?? Number(match[1]) + 1}: ${why}`;
}

export interface Highlight {
  nodes: Set<string>;
  edges: Set<string>;
}

interface EdgeLike {
  id: string;
  source: string;
  target: string;
}

/**
 * The nodes a contact entered and the edges it went along: for each pair of consecutive
 * steps, the edges from the one to the other (a step entered again after an exit starts
 * a new run, so no edge joins them).
 */
export function highlightOf(contact: SimContact | undefined, edges: EdgeLike[]): Highlight {
  const out: Highlight = { nodes: new Set(), edges: new Set() };
  if (!contact) return out;
  const path = contact.steps.length ? contact.steps.map((s) => s.node_id) : contact.path;
  path.forEach((node, i) => {
    out.nodes.add(node);
    if (i === 0) return;
    const from = path[i - 1];
    for (const edge of edges) if (edge.source === from && edge.target === node) out.edges.add(edge.id);
  });
  return out;
}

/** React Flow items with `className` `sim-visited` (or `sim-dimmed`) while a simulation is shown. */
export function withHighlight<T extends { id: string; className?: string }>(items: T[], visited: Set<string> | null): T[] {
  if (!visited) return items;
  return items.map((item) => {
    const base = (item.className ?? '').split(' ').filter((c) => c && !c.startsWith('sim-'));
    return { ...item, className: [...base, visited.has(item.id) ? 'sim-visited' : 'sim-dimmed'].join(' ') };
  });
}

/** "4 h 0 min after the start" style offsets, for the step list. */
export function sinceStart(at: string, start: string): string {
  const seconds = Math.round((Date.parse(at) - Date.parse(start)) / 1000);
  if (!Number.isFinite(seconds) || seconds <= 0) return 'at the start';
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const parts = [days && `${days} d`, hours && `${hours} h`, minutes && `${minutes} min`].filter(Boolean);
  return `+${parts.length ? parts.join(' ') : `${seconds} s`}`;
}
