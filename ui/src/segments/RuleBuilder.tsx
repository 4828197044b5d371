/**
 * The visual rule builder: nested all/any groups, not, and one row per rule kind with its
 * own inputs. The tree and its conversion to the rule JSON are in `ruleTree.ts` (pure).
 */

import { useId, type ReactNode } from 'react';

import {
  asGroup, CHANNELS, COUNT_OPS, METRICS, newNode, OPS, removeNode, ROW_KINDS, updateNode,
  type RowKind, type RuleNode, type TreeProblem, type ValueType,
} from './ruleTree';

const OP_LABELS: Record<string, string> = {
  eq: 'is', ne: 'is not', lt: 'is less than', lte: 'is at most', gt: 'is more than', gte: 'is at least',
  in: 'is one of', contains: 'contains', exists: 'is set',
};
const VALUE_TYPES: { value: ValueType; label: string }[] = [
  { value: 'text', label: 'text' }, { value: 'number', label: 'number' }, { value: 'boolean', label: 'true/false' },
  { value: 'texts', label: 'list of texts' }, { value: 'numbers', label: 'list of numbers' },
];

export interface RuleBuilderProps {
  tree: RuleNode;
  onChange: (tree: RuleNode) => void;
  problems?: TreeProblem[];
  disabled?: boolean;
  /** offered in the row inputs (datalists) */
  attributes?: string[];
  tags?: string[];
  eventTypes?: string[];
  segments?: string[];
  /** offer the "triggering event property" row (entry filters only) */
  withProperty?: boolean;
}

/** The builder: the root is always shown as a group so rows can be added. */
export function RuleBuilder(props: RuleBuilderProps) {
  const { tree, onChange } = props;
  const root = asGroup(tree);
  const lists = useId();
  const context: Ctx = {
    ...props, lists,
    change: (id, fn) => onChange(updateNode(root, id, fn)),
    remove: (id) => onChange(removeNode(root, id)),
  };
  return (
    <div className="rule-builder" data-testid="rule-builder">
      <Datalist id={`${lists}-attr`} items={props.attributes} />
      <Datalist id={`${lists}-tag`} items={props.tags} />
      <Datalist id={`${lists}-event`} items={props.eventTypes} />
      <Datalist id={`${lists}-segment`} items={props.segments} />
      <NodeView node={root} ctx={context} depth={0} />
    </div>
  );
}

interface Ctx extends RuleBuilderProps {
  lists: string;
  change: (id: string, fn: (node: RuleNode) => RuleNode) => void;
  remove: (id: string) => void;
}

function Datalist({ id, items }: { id: string; items?: string[] }) {
  return (
    <datalist id={id}>
      {(items ?? []).map((item) => <option key={item} value={item} />)}
    </datalist>
  );
}

function AddRow({ ctx, onAdd, label }: { ctx: Ctx; onAdd: (node: RuleNode) => void; label: string }) {
  const id = useId();
  const kinds = ROW_KINDS.filter((k) => k.kind !== 'property' || ctx.withProperty);
  return (
    <div className="add-row">
      <label htmlFor={id} className="visually-hidden">{label}</label>
      <select id={id} value="" disabled={ctx.disabled}
        onChange={(e) => { if (e.target.value) onAdd(newNode(e.target.value as RowKind)); }}>
        <option value="">+ Add a condition…</option>
        {kinds.map((k) => <option key={k.kind} value={k.kind}>{k.label}</option>)}
      </select>
    </div>
  );
}

function NodeView({ node, ctx, depth }: { node: RuleNode; ctx: Ctx; depth: number }): ReactNode {
  const problems = (ctx.problems ?? []).filter((p) => p.id === node.id);
  if (node.kind === 'group') {
    return (
      <fieldset className={`rule-group depth-${depth % 3}`} data-rule-id={node.id}>
        <legend>
          <label>
            <span className="visually-hidden">Contacts match </span>
            <select aria-label="Match" value={node.mode} disabled={ctx.disabled}
              onChange={(e) => ctx.change(node.id, (n) => ({ ...n, mode: e.target.value as 'all' | 'any' }))}>
              <option value="all">all of these</option>
              <option value="any">any of these</option>
            </select>
          </label>
          {depth > 0 && <RemoveButton ctx={ctx} id={node.id} />}
        </legend>
        {node.children.length === 0 && (
          <p className="muted small">{node.mode === 'all' ? 'No conditions: every contact matches.' : 'No conditions: nobody matches.'}</p>
        )}
        <ul className="rule-rows">
          {node.children.map((child) => (
            <li key={child.id}><NodeView node={child} ctx={ctx} depth={depth + 1} /></li>
          ))}
        </ul>
        <AddRow ctx={ctx} label="Add a condition to this group"
          onAdd={(added) => ctx.change(node.id, (n) => (n.kind === 'group' ? { ...n, children: [...n.children, added] } : n))} />
      </fieldset>
    );
  }
  if (node.kind === 'not') {
    return (
      <div className="rule-not" data-rule-id={node.id}>
        <div className="rule-not-head"><strong>Not:</strong> <RemoveButton ctx={ctx} id={node.id} /></div>
        <NodeView node={node.child} ctx={{ ...ctx, remove: (id) => (id === node.child.id ? ctx.remove(node.id) : ctx.remove(id)) }}
          depth={depth + 1} />
      </div>
    );
  }
  return (
    <div className={`rule-row${problems.length ? ' invalid' : ''}`} data-rule-id={node.id} data-kind={node.kind}>
      <span className="rule-kind">{ROW_KINDS.find((k) => k.kind === node.kind)?.label}</span>
      <RowInputs node={node} ctx={ctx} problems={problems} />
      <RemoveButton ctx={ctx} id={node.id} />
      {problems.length > 0 && (
        <ul className="rule-problems" role="alert">
          {problems.map((p) => <li key={p.field + p.path} className="field-error">{p.message}</li>)}
        </ul>
      )}
    </div>
  );
}

function RemoveButton({ ctx, id }: { ctx: Ctx; id: string }) {
  if (ctx.disabled) return null;
  return <button type="button" className="icon" aria-label="Remove this condition" onClick={() => ctx.remove(id)}>×</button>;
}

type Set = (patch: Record<string, unknown>) => void;

function Input({ label, value, onChange, list, invalid, disabled, placeholder, width }: {
  label: string; value: string; onChange: (v: string) => void; list?: string; invalid?: boolean; disabled?: boolean;
  placeholder?: string; width?: string;
}) {
  return (
    <input aria-label={label} value={value} list={list} aria-invalid={invalid || undefined} disabled={disabled}
      placeholder={placeholder} style={width ? { width } : undefined} onChange={(e) => onChange(e.target.value)} />
  );
}

function Select({ label, value, options, onChange, disabled }: {
  label: string; value: string; options: { value: string; label: string }[]; onChange: (v: string) => void; disabled?: boolean;
}) {
  return (
    <select aria-label={label} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value)}>
      {options.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
    </select>
  );
}

const opts = (items: readonly string[], labels: Record<string, string> = {}) => items.map((v) => ({ value: v, label: labels[v] ?? v }));

function RowInputs({ node, ctx, problems }: { node: RuleNode; ctx: Ctx; problems: TreeProblem[] }) {
  const set: Set = (patch) => ctx.change(node.id, (n) => ({ ...n, ...patch }) as RuleNode);
  const bad = (field: string) => problems.some((p) => p.field === field);
  const d = ctx.disabled;
  const within = (value: string) => (
    <Input label="Within (duration, e.g. P30D)" value={value} placeholder="ever (or P30D)" width="8rem" disabled={d}
      invalid={bad('within')} onChange={(v) => set({ within: v.trim() })} />
  );
  switch (node.kind) {
    case 'attr':
    case 'property':
    case 'metric': {
      const list = node.valueType === 'texts' || node.valueType === 'numbers';
      return (
        <>
          {node.kind === 'metric' ? (
            <Select label="Metric" value={node.metric} options={opts(METRICS)} disabled={d} onChange={(v) => set({ metric: v })} />
          ) : (
            <Input label={node.kind === 'attr' ? 'Attribute' : 'Property'} value={node.name} invalid={bad('name')} disabled={d}
              list={node.kind === 'attr' ? `${ctx.lists}-attr` : undefined}
              placeholder={node.kind === 'attr' ? 'city' : 'data.amount'} onChange={(v) => set({ name: v })} />
          )}
          <Select label="Comparison" value={node.op} options={opts(OPS, OP_LABELS)} disabled={d}
            onChange={(v) => set({
              op: v, implicitOp: false,
              ...(v === 'in' && !list ? { valueType: node.valueType === 'number' ? 'numbers' : 'texts' } : {}),
              ...(v !== 'in' && list ? { valueType: node.valueType === 'numbers' ? 'number' : 'text' } : {}),
            })} />
          {node.op !== 'exists' && (
            <>
              <Select label="Value type" value={node.valueType} options={VALUE_TYPES} disabled={d}
                onChange={(v) => set({ valueType: v, ...(v === 'boolean' ? { value: 'true' } : {}) })} />
              {node.valueType === 'boolean' ? (
                <Select label="Value" value={node.value === 'false' ? 'false' : 'true'} disabled={d}
                  options={[{ value: 'true', label: 'true' }, { value: 'false', label: 'false' }]} onChange={(v) => set({ value: v })} />
              ) : (
                <Input label="Value" value={node.value} invalid={bad('value')} disabled={d}
                  placeholder={list ? 'a, b, c' : node.kind === 'metric' && node.metric === 'last_order_at' ? 'P90D' : ''}
                  onChange={(v) => set({ value: v })} />
              )}
            </>
          )}
        </>
      );
    }
    case 'tag':
      return <Input label="Tag" value={node.tag} list={`${ctx.lists}-tag`} invalid={bad('tag')} disabled={d} placeholder="vip" onChange={(v) => set({ tag: v })} />;
    case 'segment':
      return <Input label="Segment" value={node.segment} list={`${ctx.lists}-segment`} invalid={bad('segment')} disabled={d} onChange={(v) => set({ segment: v })} />;
    case 'subscribed':
      return <Select label="Channel" value={node.channel} options={opts(CHANNELS)} disabled={d} onChange={(v) => set({ channel: v })} />;
    case 'event':
      return (
        <>
          <Input label="Event type" value={node.event} list={`${ctx.lists}-event`} invalid={bad('event')} disabled={d}
            placeholder="order.placed" onChange={(v) => set({ event: v })} />
          <Select label="Times" value={node.countOp} options={opts(COUNT_OPS, { ...OP_LABELS, eq: 'exactly', ne: 'not exactly' })}
            disabled={d} onChange={(v) => set({ countOp: v, explicitCount: true })} />
          <Input label="Count" value={node.count} invalid={bad('count')} width="4rem" disabled={d}
            onChange={(v) => set({ count: v, explicitCount: true })} />
          <span className="muted">times</span>
          {within(node.within)}
        </>
      );
    case 'engaged':
      return (
        <>
          <Select label="Engagement" value={node.engaged} options={opts(['opened', 'clicked'])} disabled={d}
            onChange={(v) => set({ engaged: v })} />
          <Input label="Journey id (optional)" value={node.journey} placeholder="any journey" width="9rem" disabled={d}
            onChange={(v) => set({ journey: v.trim() })} />
          <Input label="Message id (optional)" value={node.message} placeholder="any message" width="9rem" disabled={d}
            onChange={(v) => set({ message: v.trim() })} />
          {within(node.within)}
        </>
      );
    case 'json':
      return (
        <textarea aria-label="Rule (JSON)" className="mono" rows={3} value={node.json} aria-invalid={bad('json') || undefined}
          disabled={d} onChange={(e) => set({ json: e.target.value })} />
      );
    default:
      return null;
  }
}
