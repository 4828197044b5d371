/**
 * The editor's rule fields (branch conditions, entry filter, exit rule) between the rule
 * JSON and the rule builder's tree. Pure: the builder shows a rule when every part of it
 * has a row of its own; otherwise the field opens as JSON.
 */

import { ruleToTree, treeToRule, type RuleNode } from '../segments/ruleTree';

/** True when the builder shows `rule` without falling back to a JSON row. */
export function builderCanShow(rule: unknown): boolean {
  if (rule === undefined) return true;
  const walk = (node: RuleNode): boolean => {
    if (node.kind === 'json') return false;
    if (node.kind === 'group') return node.children.every(walk);
    if (node.kind === 'not') return walk(node.child);
    return true;
  };
  return walk(ruleToTree(rule));
}

/** The tree the builder starts from (an absent rule: an empty "all" group). */
export function treeFor(rule: unknown): RuleNode {
  return ruleToTree(rule === undefined ? { all: [] } : rule);
}

/**
 * The rule of the builder's tree, kept as plain as it was: a root "all" group of one row is
 * that row; an empty root is `undefined` for an optional rule (no filter) and `{"all": []}`
 * otherwise.
 */
export function ruleFromTree(tree: RuleNode, optional: boolean): unknown {
  if (tree.kind === 'group' && tree.mode === 'all' && tree.children.length === 1) return treeToRule(tree.children[0]);
  if (tree.kind === 'group' && tree.children.length === 0) return optional ? undefined : { all: [] };
  return treeToRule(tree);
}

/** True when the tree already stands for `rule` (so an outside change, e.g. undo, needs a new tree). */
export function sameRule(tree: RuleNode, rule: unknown, optional: boolean): boolean {
  return JSON.stringify(ruleFromTree(tree, optional)) === JSON.stringify(rule);
}
