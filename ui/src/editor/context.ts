/** The editor store and the live counts, shared by the canvas, its nodes and the side panel. */

import { createContext, useContext } from 'react';
import type { StoreApi } from 'zustand';
import { useStore } from 'zustand';

import type { EventType, JourneyStats, Template } from '../api/types';
import type { EditorState } from './store';

export const EditorStoreContext = createContext<StoreApi<EditorState> | null>(null);

export function useEditorStore(): StoreApi<EditorState> {
  const store = useContext(EditorStoreContext);
  if (!store) throw new Error('the editor store is missing');
  return store;
}

export function useEditor<T>(selector: (state: EditorState) => T): T {
  return useStore(useEditorStore(), selector);
}

export interface EditorLookups {
  /** per-node counts to overlay (all versions for the draft, one version when viewing it) */
  counts: JourneyStats['nodes'] | null;
  eventTypes: EventType[];
  templates: Template[];
}

export const LookupsContext = createContext<EditorLookups>({ counts: null, eventTypes: [], templates: [] });

export const useLookups = () => useContext(LookupsContext);
