/** A contact id input that suggests contacts (id and email) from the first page of contacts. */

import { useQuery } from '@tanstack/react-query';
import { useId } from 'react';

import { api } from '../api/client';
import type { ContactPage } from '../api/types';

export function ContactPicker({ label, value, onChange, id, disabled }: {
  label: string; value: string; onChange: (contactId: string) => void; id?: string; disabled?: boolean;
}) {
  const own = useId();
  const inputId = id ?? own;
  const contacts = useQuery({ queryKey: ['contacts-picker'], queryFn: () => api<ContactPage>('/v1/contacts?limit=50'),
    staleTime: 30_000 });
  return (
    <div className="field">
      <label htmlFor={inputId}>{label}</label>
      <input id={inputId} list={`${inputId}-list`} value={value} disabled={disabled} placeholder="contact id"
        autoComplete="off" onChange={(e) => onChange(e.target.value.trim())} />
      <datalist id={`${inputId}-list`}>
        {(contacts.data?.items ?? []).map((c) => <option key={c.contact_id} value={c.contact_id}>{c.email ?? ''}</option>)}
      </datalist>
    </div>
  );
}
