// The editor's rule fields: which rules the builder shows, and rules kept as plain as they were.
import { describe, expect, it } from 'vitest';

import { asGroup, newNode, treeToRule, updateNode, type RuleNode } from '../segments/ruleTree';
import { builderCanShow, ruleFromTree, sameRule, treeFor } from './ruleField';

describe('builderCanShow', () => {
  it('shows every rule kind the builder has rows for, property included', () => {
    expect(builderCanShow(undefined)).toBe(true);
    expect(builderCanShow({ tag: 'vip' })).toBe(true);
    expect(builderCanShow({ property: 'data.total', op: 'gte', value: 50 })).toBe(true);
    expect(builderCanShow({ any: [{ attr: 'country', value: 'DE' }, { not: { subscribed: 'email' } }] })).toBe(true);
  });

  it('leaves rules it cannot show exactly to JSON', () => {
    expect(builderCanShow({ tag: 'vip', extra: 1 })).toBe(false);
    expect(builderCanShow({ all: [{ attr: 'x', op: 'in', value: ['a', 1] }] })).toBe(false);
    expect(builderCanShow('nonsense')).toBe(false);
  });
});

describe('ruleFromTree', () => {
  it('gives a single rule back as it was, not wrapped in a group', () => {
    for (const rule of [{ tag: 'vip' }, { property: 'data.cart_id', op: 'exists' }, { any: [{ tag: 'a' }, { tag: 'b' }] }]) {
      expect(ruleFromTree(asGroup(treeFor(rule)), false)).toEqual(rule);
    }
  });

  it('an empty optional rule is no rule; an empty required one matches all', () => {
    const empty = treeFor(undefined);
    expect(ruleFromTree(empty, true)).toBeUndefined();
    expect(ruleFromTree(empty, false)).toEqual({ all: [] });
  });

  it('adds a property row to an entry filter', () => {
    const root = treeFor(undefined) as Extract<RuleNode, { kind: 'group' }>;
    const row = { ...newNode('property'), name: 'data.total', op: 'gte', valueType: 'number', value: '50' } as RuleNode;
    const tree = updateNode(root, root.id, (n) => (n.kind === 'group' ? { ...n, children: [row] } : n));
    expect(ruleFromTree(tree, true)).toEqual({ property: 'data.total', op: 'gte', value: 50 });
    expect(treeToRule(tree)).toEqual({ all: [{ property: 'data.total', op: 'gte', value: 50 }] });
  });

  it('knows when the tree already stands for the rule (no rebuild while typing)', () => {
    const tree = asGroup(treeFor({ tag: 'vip' }));
    expect(sameRule(tree, { tag: 'vip' }, false)).toBe(true);
    expect(sameRule(tree, { tag: 'gold' }, false)).toBe(false);
    expect(sameRule(treeFor(undefined), undefined, true)).toBe(true);
  });
});
