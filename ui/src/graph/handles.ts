/**
 * Out-handles of a node: the same list as `journeys/graph.py` `out_handles`, so the
 * handles drawn on the canvas are exactly the ones the API's validator accepts.
 * An edge without `sourceHandle` leaves from the `default` handle.
 */

import type { JsonObject } from './types';

export const DEFAULT_HANDLE = 'default';

/** Python's `str()` of a JSON value, for handle names taken from drafts that may hold anything. */
function pyStr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return value;
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}

/** Python truthiness of a JSON value (`[]`, `{}`, `""`, `0` are false). */
function pyTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function outHandles(type: string, data: JsonObject | undefined | null): string[] {
  const d = data ?? {};
  if (type === 'entry' || type === 'send') return [DEFAULT_HANDLE];
  if (type === 'wait') return d.mode === 'event' ? ['event', 'timeout'] : [DEFAULT_HANDLE];
  if (type === 'branch') {
    if (d.mode === 'split') {
      return Array.isArray(d.variants) ? d.variants.filter(isObject).map((v) => pyStr(v.handle)) : [];
    }
    const cases = Array.isArray(d.cases) ? d.cases.filter(isObject).map((c) => pyStr(c.handle)) : [];
    return [...cases, pyStr(pyTruthy(d.default) ? d.default : 'else')];
  }
  return [];
}

/** The handle an edge leaves from (`sourceHandle`, or `default` when it has none). */
export function edgeHandle(edge: { sourceHandle?: string | null }): string {
  return edge.sourceHandle || DEFAULT_HANDLE;
}

/** A human label for a handle on the canvas. */
export function handleLabel(type: string, handle: string): string {
  if (handle === DEFAULT_HANDLE) return '';
  if (type === 'wait') return handle === 'event' ? 'event came' : 'timed out';
  return handle;
}
