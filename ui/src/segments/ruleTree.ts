/**
 * The segment rule language (journeys/rules.py, docs/segments.md) as the rule builder's
 * tree of groups and rows, and back. Pure: no React, no I/O.
 *
 * `ruleToTree(rule)` then `treeToRule(tree)` gives the same rule back, key for key: rows
 * remember whether an operator or an event count was written out, values keep their type
 * (text, number, true/false, a list), and anything the rows cannot show exactly (an
 * unknown key, a list mixing texts and numbers) becomes a JSON row holding it as it is.
 * `validateTree` names each problem with the row and the API's path (`rule.all[1].value`).
 */

import { parseDuration } from '../graph/durations';

export type Rule = Record<string, unknown>;

export const OPS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'contains', 'exists'] as const;
export const COUNT_OPS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte'] as const;
export const METRICS = ['lifetime_value', 'order_count', 'last_order_at'] as const;
export const CHANNELS = ['email', 'sms', 'whatsapp'] as const;
export type Op = (typeof OPS)[number];
export type CountOp = (typeof COUNT_OPS)[number];

/** How a row's value is typed: text, a number, true/false, or (for `in`) a list of texts or numbers. */
export type ValueType = 'text' | 'number' | 'boolean' | 'texts' | 'numbers';

export interface Compare {
  op: Op;
  /** the rule had no `op` (it means `eq`); kept so the rule comes back as it was */
  implicitOp: boolean;
  valueType: ValueType;
  /** the value as typed: lists comma-separated */
  value: string;
}

interface Base {
  id: string;
}

export type RuleNode =
  | (Base & { kind: 'group'; mode: 'all' | 'any'; children: RuleNode[] })
  | (Base & { kind: 'not'; child: RuleNode })
  | (Base & Compare & { kind: 'attr' | 'property'; name: string })
  | (Base & Compare & { kind: 'metric'; metric: string })
  | (Base & { kind: 'tag'; tag: string })
  | (Base & { kind: 'subscribed'; channel: string })
  | (Base & { kind: 'segment'; segment: string })
  | (Base & { kind: 'event'; event: string; countOp: CountOp; count: string; explicitCount: boolean; within: string })
  | (Base & { kind: 'engaged'; engaged: string; message: string; journey: string; within: string })
  | (Base & { kind: 'json'; json: string });

export type RowKind = RuleNode['kind'];

export const ROW_KINDS: { kind: RowKind; label: string }[] = [
  { kind: 'attr', label: 'Attribute' },
  { kind: 'tag', label: 'Tag' },
  { kind: 'event', label: 'Did an event' },
  { kind: 'metric', label: 'Orders / revenue' },
  { kind: 'engaged', label: 'Opened or clicked' },
  { kind: 'subscribed', label: 'Subscribed to' },
  { kind: 'segment', label: 'In segment' },
  { kind: 'property', label: 'Triggering event property' },
  { kind: 'group', label: 'Group (all / any)' },
  { kind: 'not', label: 'Not' },
  { kind: 'json', label: 'JSON' },
];

let counter = 0;
/** A fresh row id (only the UI uses it). */
export function newId(): string {
  counter += 1;
  return `r${counter}`;
}

const KEYS: Record<string, string[]> = {
  attr: ['attr', 'op', 'value'],
  property: ['property', 'op', 'value'],
  metric: ['metric', 'op', 'value'],
  tag: ['tag'],
  subscribed: ['subscribed'],
  segment: ['segment'],
  event: ['event', 'count', 'within'],
  engaged: ['engaged', 'message', 'journey', 'within'],
};

const isObject = (v: unknown): v is Rule => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The value's type and text, or null when no row type shows it exactly. */
function valueOf(value: unknown): { valueType: ValueType; value: string } | null {
  if (typeof value === 'string') return { valueType: 'text', value };
  if (isNumber(value)) return { valueType: 'number', value: String(value) };
  if (typeof value === 'boolean') return { valueType: 'boolean', value: String(value) };
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string' && !v.includes(',') && v === v.trim() && v !== '') && value.length > 0) {
      return { valueType: 'texts', value: value.join(', ') };
    }
    if (value.every(isNumber) && value.length > 0) return { valueType: 'numbers', value: value.join(', ') };
  }
  return null;
}

function asJson(rule: unknown, id: string): RuleNode {
  return { id, kind: 'json', json: JSON.stringify(rule, null, 2) };
}

/** The rule as the builder's tree. Never throws: what it cannot show is a JSON row. */
export function ruleToTree(rule: unknown): RuleNode {
  const id = newId();
  if (!isObject(rule)) return asJson(rule, id);
  const keys = Object.keys(rule);
  if (keys.length === 1 && (keys[0] === 'all' || keys[0] === 'any') && Array.isArray(rule[keys[0]])) {
    return { id, kind: 'group', mode: keys[0] as 'all' | 'any', children: (rule[keys[0]] as unknown[]).map(ruleToTree) };
  }
  if (keys.length === 1 && keys[0] === 'not') return { id, kind: 'not', child: ruleToTree(rule.not) };
  const kind = Object.keys(KEYS).find((k) => k in rule);
  if (!kind || keys.some((k) => !KEYS[kind].includes(k)) || typeof rule[kind] !== 'string') return asJson(rule, id);
  const text = rule[kind] as string;
  if (kind === 'attr' || kind === 'property' || kind === 'metric') {
    const op = 'op' in rule ? rule.op : 'eq';
    if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) return asJson(rule, id);
    let typed: { valueType: ValueType; value: string } | null = { valueType: 'text', value: '' };
    if (op === 'exists') {
      if ('value' in rule) return asJson(rule, id);
    } else {
      typed = valueOf(rule.value);
      if (!typed || (op === 'in') !== (typed.valueType === 'texts' || typed.valueType === 'numbers')) return asJson(rule, id);
    }
    const compare = { op: op as Op, implicitOp: !('op' in rule), ...typed };
    return kind === 'metric' ? { id, kind, metric: text, ...compare } : { id, kind, name: text, ...compare };
  }
  if (kind === 'tag') return { id, kind, tag: text };
  if (kind === 'subscribed') return { id, kind, channel: text };
  if (kind === 'segment') return { id, kind, segment: text };
  const within = rule.within;
  if (within !== undefined && typeof within !== 'string') return asJson(rule, id);
  if (kind === 'event') {
    let countOp: CountOp = 'gte';
    let count = '1';
    if ('count' in rule) {
      const c = rule.count;
      if (!isObject(c) || Object.keys(c).length !== 1) return asJson(rule, id);
      const [op, n] = Object.entries(c)[0];
      if (!(COUNT_OPS as readonly string[]).includes(op) || !Number.isInteger(n)) return asJson(rule, id);
      countOp = op as CountOp;
      count = String(n);
    }
    return { id, kind, event: text, countOp, count, explicitCount: 'count' in rule, within: within ?? '' };
  }
  const message = rule.message;
  const journey = rule.journey;
  if ((message !== undefined && (typeof message !== 'string' || !message)) ||
      (journey !== undefined && (typeof journey !== 'string' || !journey))) return asJson(rule, id);
  return { id, kind: 'engaged', engaged: text, message: message ?? '', journey: journey ?? '', within: within ?? '' };
}

function typedValue(c: Compare): unknown {
  const items = () => c.value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  switch (c.valueType) {
    case 'number':
      return c.value.trim() === '' ? Number.NaN : Number(c.value);
    case 'boolean':
      return c.value === 'true';
    case 'texts':
      return items();
    case 'numbers':
      return items().map(Number);
    default:
      return c.value;
  }
}

function compareRule(key: string, name: string, c: Compare): Rule {
  const rule: Rule = { [key]: name };
  if (!(c.implicitOp && c.op === 'eq')) rule.op = c.op;
  if (c.op !== 'exists') rule.value = typedValue(c);
  return rule;
}

/** The rule the tree stands for (a JSON row that does not parse gives `null` in its place). */
export function treeToRule(node: RuleNode): unknown {
  switch (node.kind) {
    case 'group':
      return { [node.mode]: node.children.map(treeToRule) };
    case 'not':
      return { not: treeToRule(node.child) };
    case 'attr':
    case 'property':
      return compareRule(node.kind, node.name, node);
    case 'metric':
      return compareRule('metric', node.metric, node);
    case 'tag':
      return { tag: node.tag };
    case 'subscribed':
      return { subscribed: node.channel };
    case 'segment':
      return { segment: node.segment };
    case 'event': {
      const rule: Rule = { event: node.event };
      if (node.explicitCount || node.countOp !== 'gte' || node.count.trim() !== '1') {
        rule.count = { [node.countOp]: node.count.trim() === '' ? Number.NaN : Number(node.count) };
      }
      if (node.within) rule.within = node.within;
      return rule;
    }
    case 'engaged': {
      const rule: Rule = { engaged: node.engaged };
      if (node.message) rule.message = node.message;
      if (node.journey) rule.journey = node.journey;
      if (node.within) rule.within = node.within;
      return rule;
    }
    case 'json':
      try {
        return JSON.parse(node.json);
      } catch {
        return null;
      }
  }
}

/** A new row of `kind` with sensible defaults. */
export function newNode(kind: RowKind): RuleNode {
  const id = newId();
  const compare: Compare = { op: 'eq', implicitOp: false, valueType: 'text', value: '' };
  switch (kind) {
    case 'group':
      return { id, kind, mode: 'all', children: [] };
    case 'not':
      return { id, kind, child: newNode('tag') };
    case 'attr':
    case 'property':
      return { id, kind, name: '', ...compare };
    case 'metric':
      return { id, kind, metric: 'order_count', ...compare, op: 'gte', valueType: 'number', value: '1' };
    case 'tag':
      return { id, kind, tag: '' };
    case 'subscribed':
      return { id, kind, channel: 'email' };
    case 'segment':
      return { id, kind, segment: '' };
    case 'event':
      return { id, kind, event: '', countOp: 'gte', count: '1', explicitCount: false, within: '' };
    case 'engaged':
      return { id, kind, engaged: 'opened', message: '', journey: '', within: '' };
    case 'json':
      return { id, kind, json: '{"tag": "vip"}' };
  }
}

export interface TreeProblem {
  /** the row */
  id: string;
  /** the row's input: name, op, value, count, within, json, ... */
  field: string;
  /** where the API would say it is (`rule.all[1].value`) */
  path: string;
  message: string;
}

const NUMBER = /^-?\d+(\.\d+)?$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

function checkCompare(node: RuleNode & Compare, path: string, metric: string | null, add: (f: string, p: string, m: string) => void) {
  if (node.op === 'exists') return;
  if (metric && node.op === 'contains') add('op', `${path}.op`, 'a metric is a number: use another comparison');
  const list = node.valueType === 'texts' || node.valueType === 'numbers';
  if (node.op === 'in' && !list) add('value', `${path}.value`, "'is one of' needs a list: choose a list type");
  if (node.op !== 'in' && list) add('value', `${path}.value`, "a list goes with 'is one of' only");
  if (list) {
    const items = node.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) add('value', `${path}.value`, 'give at least one value, separated by commas');
    if (node.valueType === 'numbers') {
      const bad = items.findIndex((s) => !NUMBER.test(s));
      if (bad >= 0) add('value', `${path}.value[${bad}]`, `'${items[bad]}' is not a number`);
    }
  } else if (node.valueType === 'number' && !NUMBER.test(node.value.trim())) {
    add('value', `${path}.value`, node.value.trim() ? `'${node.value}' is not a number` : 'give a number');
  }
  if (metric && !list && node.valueType !== 'number') {
    const okTime = metric === 'last_order_at' && node.valueType === 'text' &&
      (parseDuration(node.value) !== null || ISO_TIME.test(node.value));
    if (!okTime) {
      add('value', `${path}.value`, metric === 'last_order_at'
        ? "must be a number, a duration such as 'P90D' or an ISO time" : 'must be a number');
    }
  }
  if (metric && node.valueType === 'texts') add('value', `${path}.value`, 'must be a list of numbers');
}

/** Every problem the API would refuse the rule for (and some it would accept but surely are slips). */
export function validateTree(tree: RuleNode, root = 'rule'): TreeProblem[] {
  const problems: TreeProblem[] = [];
  const walk = (node: RuleNode, path: string) => {
    const add = (field: string, at: string, message: string) => problems.push({ id: node.id, field, path: at, message });
    const within = (value: string) => {
      if (value && parseDuration(value) === null) add('within', `${path}.within`, `'${value}' is not a duration such as P30D`);
    };
    switch (node.kind) {
      case 'group':
        node.children.forEach((child, i) => walk(child, `${path}.${node.mode}[${i}]`));
        break;
      case 'not':
        walk(node.child, `${path}.not`);
        break;
      case 'attr':
      case 'property':
        if (!node.name.trim()) add('name', `${path}.${node.kind}`, node.kind === 'attr' ? 'name the attribute' : 'name the property, e.g. data.amount');
        checkCompare(node, path, null, add);
        break;
      case 'metric':
        if (!(METRICS as readonly string[]).includes(node.metric)) add('metric', `${path}.metric`, `must be one of ${METRICS.join(', ')}`);
        checkCompare(node, path, node.metric, add);
        break;
      case 'tag':
        if (!node.tag.trim()) add('tag', `${path}.tag`, 'name the tag');
        break;
      case 'segment':
        if (!node.segment.trim()) add('segment', `${path}.segment`, 'choose a segment');
        break;
      case 'subscribed':
        if (!(CHANNELS as readonly string[]).includes(node.channel)) add('channel', `${path}.subscribed`, `must be one of ${CHANNELS.join(', ')}`);
        break;
      case 'event':
        if (!node.event.trim()) add('event', `${path}.event`, 'name the event type, e.g. order.placed');
        if (!/^\d+$/.test(node.count.trim())) add('count', `${path}.count`, 'the count is a whole number');
        within(node.within);
        break;
      case 'engaged':
        if (node.engaged !== 'opened' && node.engaged !== 'clicked') add('engaged', `${path}.engaged`, "must be 'opened' or 'clicked'");
        within(node.within);
        break;
      case 'json':
        try {
          JSON.parse(node.json);
        } catch (error) {
          add('json', path, `not JSON: ${(error as Error).message}`);
        }
        break;
    }
  };
  walk(tree, root);
  return problems;
}

/** Replace the node with id `id` (the tree is never changed in place). */
export function updateNode(tree: RuleNode, id: string, change: (node: RuleNode) => RuleNode): RuleNode {
  if (tree.id === id) return change(tree);
  if (tree.kind === 'group') return { ...tree, children: tree.children.map((c) => updateNode(c, id, change)) };
  if (tree.kind === 'not') return { ...tree, child: updateNode(tree.child, id, change) };
  return tree;
}

/** Remove the node with id `id` from its group (the root and a `not`'s only child stay). */
export function removeNode(tree: RuleNode, id: string): RuleNode {
  if (tree.kind === 'group') return { ...tree, children: tree.children.filter((c) => c.id !== id).map((c) => removeNode(c, id)) };
  if (tree.kind === 'not') return { ...tree, child: removeNode(tree.child, id) };
  return tree;
}

/** The root as a group, so rows can be added to it (a single rule becomes `all` of one). */
export function asGroup(tree: RuleNode): RuleNode {
  return tree.kind === 'group' ? tree : { id: newId(), kind: 'group', mode: 'all', children: [tree] };
}
