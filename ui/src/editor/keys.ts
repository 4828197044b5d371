/**
 * Editor shortcuts: Ctrl+Z undo, Ctrl+Shift+Z (or Ctrl+Y) redo, Delete/Backspace
 * deletes the selected steps and edges, Ctrl+S saves. Inside a text field the
 * browser's own undo and deletion apply.
 */

import { useEffect, useRef } from 'react';
import type { StoreApi } from 'zustand';

import type { EditorState } from './store';

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  return ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName) || el.isContentEditable;
}

export function useEditorKeys(store: StoreApi<EditorState>, save: () => void): void {
  const saveRef = useRef(save);
  saveRef.current = save;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (mod && key === 's') {
        event.preventDefault();
        saveRef.current();
        return;
      }
      if (typing(event.target) || document.querySelector('dialog[open]')) return;
      const state = store.getState();
      if (mod && key === 'z') {
        event.preventDefault();
        if (event.shiftKey) state.redo();
        else state.undo();
      } else if (mod && key === 'y') {
        event.preventDefault();
        state.redo();
      } else if (!mod && (event.key === 'Delete' || event.key === 'Backspace')) {
        event.preventDefault();
        state.deleteSelected();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store]);
}
