/**
 * A rule in the side panel (branch condition, entry filter, exit rule): the visual rule
 * builder, with a "JSON" toggle for rules the builder cannot show (those open as JSON).
 * Problems the builder finds are shown on their rows; the rule changes as rows change.
 */

import { useEffect, useId, useState } from 'react';

import { RuleBuilder } from '../segments/RuleBuilder';
import { useRuleLookups } from '../segments/lookups';
import { validateTree, type RuleNode } from '../segments/ruleTree';
import { JsonField } from './fields';
import { builderCanShow, ruleFromTree, sameRule, treeFor } from './ruleField';

export function RuleField({ label, value, onChange, disabled, hint, optional = false, withProperty = false, name }: {
  label: string;
  value: unknown;
  onChange: (rule: unknown) => void;
  disabled?: boolean;
  hint?: string;
  /** no conditions means no rule (`undefined`) */
  optional?: boolean;
  /** offer "Triggering event property" rows (entry filters) */
  withProperty?: boolean;
  name?: string;
}) {
  const id = useId();
  const lookups = useRuleLookups();
  const [asJson, setAsJson] = useState(() => !builderCanShow(value));
  const [tree, setTree] = useState<RuleNode>(() => treeFor(value));

  useEffect(() => {
    // the rule changed elsewhere (undo, the JSON view): show it in the builder
    if (!sameRule(tree, value, optional)) setTree(treeFor(value));
  }, [value]); // eslint-disable-line react-hooks/exhaustive-deps

  const change = (next: RuleNode) => {
    setTree(next);
    onChange(ruleFromTree(next, optional));
  };
  const showable = builderCanShow(value);

  return (
    <div className="field rule-field" data-rule-field={name}>
      <div className="rule-field-head">
        <span id={`${id}-label`} className="label">{label}</span>
        <button type="button" className="link small" aria-pressed={asJson}
          disabled={asJson && !showable}
          title={asJson && !showable ? 'The builder cannot show this rule; edit it as JSON' : undefined}
          onClick={() => { if (!asJson) setAsJson(true); else if (showable) { setTree(treeFor(value)); setAsJson(false); } }}>
          {asJson ? 'Builder' : 'JSON'}
        </button>
      </div>
      {asJson ? (
        <JsonField label={`${label} (JSON)`} name={name} value={value} disabled={disabled} hint={hint}
          onChange={onChange} />
      ) : (
        <div role="group" aria-labelledby={`${id}-label`}>
          <RuleBuilder tree={tree} onChange={change} problems={validateTree(tree)} disabled={disabled}
            withProperty={withProperty} {...lookups} />
          {hint && <small className="muted">{hint}</small>}
        </div>
      )}
    </div>
  );
}
