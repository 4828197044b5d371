import { describe, expect, it } from 'vitest';

import {
  asGroup, newNode, removeNode, ruleToTree, treeToRule, updateNode, validateTree, type RuleNode,
} from './ruleTree';

const EVERY_KIND: Record<string, unknown>[] = [
  { attr: 'city', op: 'eq', value: 'Berlin' },
  { attr: 'city', value: 'Berlin' },
  { attr: 'age', op: 'gte', value: 18 },
  { attr: 'score', op: 'lt', value: 2.5 },
  { attr: 'vip', op: 'eq', value: true },
  { attr: 'beta', op: 'ne', value: false },
  { attr: 'plan', op: 'in', value: ['gold', 'silver'] },
  { attr: 'size', op: 'in', value: [38, 40.5] },
  { attr: 'name', op: 'contains', value: 'ann' },
  { attr: 'phone', op: 'exists' },
  { attr: 'address.city', op: 'ne', value: '' },
  { tag: 'vip' },
  { subscribed: 'email' },
  { subscribed: 'whatsapp' },
  { segment: 'lapsed' },
  { event: 'order.placed' },
  { event: 'order.placed', count: { gte: 1 } },
  { event: 'order.placed', count: { gte: 2 }, within: 'P90D' },
  { event: 'cart.abandoned', count: { eq: 0 } },
  { event: 'broadcast.targeted', within: 'P3D' },
  { metric: 'lifetime_value', op: 'gt', value: 100 },
  { metric: 'order_count', op: 'in', value: [1, 2, 3] },
  { metric: 'last_order_at', op: 'lt', value: 'P90D' },
  { metric: 'last_order_at', op: 'gte', value: '2026-01-01T00:00:00Z' },
  { metric: 'order_count', op: 'exists' },
  { engaged: 'opened' },
  { engaged: 'clicked', within: 'P30D' },
  { engaged: 'opened', message: 'm_1' },
  { engaged: 'clicked', journey: 'welcome', within: 'P7D' },
  { property: 'data.amount', op: 'gte', value: 50 },
  { property: 'data.sku', value: 'A-1' },
];

describe('rule <-> tree', () => {
  it.each(EVERY_KIND.map((rule) => [JSON.stringify(rule), rule]))('round trips %s', (_, rule) => {
    const tree = ruleToTree(rule);
    expect(tree.kind).not.toBe('json');
    expect(treeToRule(tree)).toEqual(rule);
    expect(JSON.stringify(treeToRule(tree))).toBe(JSON.stringify(rule)); // same keys in the same order
    expect(validateTree(tree)).toEqual([]);
  });

  it('round trips nesting: all, any, not, not of not, empty groups', () => {
    const rule = {
      all: [
        { any: [{ tag: 'vip' }, { all: [{ attr: 'city', op: 'eq', value: 'Berlin' }, { not: { tag: 'staff' } }] }] },
        { not: { not: { subscribed: 'email' } } },
        { not: { any: [{ event: 'order.placed', within: 'P30D' }, { segment: 'lapsed' }] } },
        { all: [] },
        { any: [] },
      ],
    };
    const tree = ruleToTree(rule);
    expect(tree.kind).toBe('group');
    expect(JSON.stringify(treeToRule(tree))).toBe(JSON.stringify(rule));
    expect(validateTree(tree)).toEqual([]);
  });

  it.each([
    ['an unknown key', { tag: 'vip', colour: 'red' }],
    ['a list mixing texts and numbers', { attr: 'x', op: 'in', value: ['a', 1] }],
    ['a list item with a comma', { attr: 'x', op: 'in', value: ['a,b'] }],
    ['an object value', { attr: 'x', op: 'eq', value: { a: 1 } }],
    ['null value', { attr: 'x', op: 'eq', value: null }],
    ['a count of two comparisons', { event: 'x', count: { gte: 1, lte: 3 } }],
    ['an unknown operator', { attr: 'x', op: 'near', value: 1 }],
    ['two kinds', { tag: 'a', segment: 'b' }],
    ['not an object', 'vip'],
  ])('keeps %s exactly, as a JSON row', (_, rule) => {
    const tree = ruleToTree(rule);
    expect(tree.kind).toBe('json');
    expect(treeToRule(tree)).toEqual(rule);
  });

  it('types values as the rows are edited', () => {
    const row = { ...newNode('attr'), name: 'plan', op: 'in', valueType: 'texts', value: 'gold, silver ,bronze' } as RuleNode;
    expect(treeToRule(row)).toEqual({ attr: 'plan', op: 'in', value: ['gold', 'silver', 'bronze'] });
    const numbers = { ...newNode('attr'), name: 'n', op: 'in', valueType: 'numbers', value: '1, 2.5' } as RuleNode;
    expect(treeToRule(numbers)).toEqual({ attr: 'n', op: 'in', value: [1, 2.5] });
    const exists = { ...newNode('attr'), name: 'phone', op: 'exists', value: 'left over' } as RuleNode;
    expect(treeToRule(exists)).toEqual({ attr: 'phone', op: 'exists' });
    const event = { ...newNode('event'), event: 'order.placed', count: '3' } as RuleNode;
    expect(treeToRule(event)).toEqual({ event: 'order.placed', count: { gte: 3 } });
  });

  it('new rows of every kind make valid rules once filled in', () => {
    expect(treeToRule(newNode('subscribed'))).toEqual({ subscribed: 'email' });
    expect(treeToRule(newNode('metric'))).toEqual({ metric: 'order_count', op: 'gte', value: 1 });
    expect(treeToRule(newNode('engaged'))).toEqual({ engaged: 'opened' });
    expect(treeToRule(newNode('group'))).toEqual({ all: [] });
    expect(treeToRule(newNode('not'))).toEqual({ not: { tag: '' } });
  });
});

describe('validation', () => {
  const problems = (rule: unknown) => validateTree(ruleToTree(rule)).map((p) => [p.path, p.message]);

  it('names the row and the API path of each problem', () => {
    const tree: RuleNode = {
      id: 'root', kind: 'group', mode: 'all', children: [
        { ...newNode('tag'), id: 'a' } as RuleNode,
        { id: 'b', kind: 'group', mode: 'any', children: [{ ...newNode('attr'), id: 'c', value: 'x' } as RuleNode] },
      ],
    };
    expect(validateTree(tree)).toEqual([
      { id: 'a', field: 'tag', path: 'rule.all[0].tag', message: 'name the tag' },
      { id: 'c', field: 'name', path: 'rule.all[1].any[0].attr', message: 'name the attribute' },
    ]);
  });

  it('checks numbers, lists, durations, counts and metrics', () => {
    const row = (over: Record<string, unknown>) => validateTree({ ...newNode('attr'), name: 'x', ...over } as RuleNode);
    expect(row({ valueType: 'number', value: 'ten' }).map((p) => p.message)).toEqual(["'ten' is not a number"]);
    expect(row({ valueType: 'number', value: '' }).map((p) => p.message)).toEqual(['give a number']);
    expect(row({ op: 'in', valueType: 'text', value: 'a' }).map((p) => p.message)).toEqual(["'is one of' needs a list: choose a list type"]);
    expect(row({ op: 'eq', valueType: 'texts', value: 'a' }).map((p) => p.message)).toEqual(["a list goes with 'is one of' only"]);
    expect(row({ op: 'in', valueType: 'numbers', value: '1, two' }).map((p) => p.path)).toEqual(['rule.value[1]']);
    expect(row({ op: 'in', valueType: 'texts', value: ' , ' }).map((p) => p.message)).toEqual(['give at least one value, separated by commas']);
    expect(problems({ event: 'x', within: 'soon' })).toEqual([['rule.within', "'soon' is not a duration such as P30D"]]);
    expect(problems({ event: '', count: { gte: 1 } })).toEqual([['rule.event', 'name the event type, e.g. order.placed']]);
    expect(validateTree({ ...newNode('event'), event: 'x', count: '1.5' } as RuleNode).map((p) => p.field)).toEqual(['count']);
    expect(problems({ metric: 'order_count', op: 'gte', value: 'many' })).toEqual([['rule.value', 'must be a number']]);
    expect(problems({ metric: 'order_count', op: 'contains', value: 1 })).toEqual([['rule.op', 'a metric is a number: use another comparison']]);
    expect(problems({ metric: 'last_order_at', op: 'lt', value: 'yesterday' })).toEqual(
      [['rule.value', "must be a number, a duration such as 'P90D' or an ISO time"]]);
    expect(problems({ metric: 'revenue', op: 'gt', value: 1 })).toEqual([['rule.metric', 'must be one of lifetime_value, order_count, last_order_at']]);
    expect(problems({ subscribed: 'fax' })).toEqual([['rule.subscribed', 'must be one of email, sms, whatsapp']]);
    expect(problems({ engaged: 'read' })).toEqual([['rule.engaged', "must be 'opened' or 'clicked'"]]);
    expect(problems({ segment: '' })).toEqual([['rule.segment', 'choose a segment']]);
    expect(problems({ not: { property: '', op: 'exists' } })).toEqual([['rule.not.property', 'name the property, e.g. data.amount']]);
  });

  it('reports a JSON row that does not parse', () => {
    const bad = validateTree({ id: 'j', kind: 'json', json: '{"tag": ' });
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ id: 'j', field: 'json', path: 'rule' });
    expect(bad[0].message).toMatch(/^not JSON/);
    expect(treeToRule({ id: 'j', kind: 'json', json: '{' })).toBeNull();
  });
});

describe('editing the tree', () => {
  it('updates and removes rows by id without touching the original', () => {
    const tree = ruleToTree({ all: [{ tag: 'a' }, { not: { tag: 'b' } }] });
    const inner = (tree as { children: RuleNode[] }).children[1] as { child: RuleNode };
    const renamed = updateNode(tree, inner.child.id, (n) => ({ ...n, tag: 'c' }) as RuleNode);
    expect(treeToRule(renamed)).toEqual({ all: [{ tag: 'a' }, { not: { tag: 'c' } }] });
    expect(treeToRule(tree)).toEqual({ all: [{ tag: 'a' }, { not: { tag: 'b' } }] });
    const first = (tree as { children: RuleNode[] }).children[0];
    expect(treeToRule(removeNode(tree, first.id))).toEqual({ all: [{ not: { tag: 'b' } }] });
  });

  it('wraps a single rule in a group so rows can be added', () => {
    expect(treeToRule(asGroup(ruleToTree({ tag: 'vip' })))).toEqual({ all: [{ tag: 'vip' }] });
    const group = ruleToTree({ any: [] });
    expect(asGroup(group)).toBe(group);
  });
});
