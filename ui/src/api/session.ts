/**
 * The signed-in user: `POST /v1/session` signs in (HttpOnly cookie + CSRF token),
 * `GET /v1/session` says who is signed in after a reload, `DELETE` signs out.
 */

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';

import { api, ApiError, setCsrfToken } from './client';
import type { Role, Session, User } from './types';

export const SESSION_KEY = ['session'] as const;

function readSession(body: unknown): Session | null {
  const record = (body ?? {}) as Record<string, unknown>;
  const user = (record.user ?? record) as User;
  if (!user || typeof user.email !== 'string') return null;
  const token = typeof record.csrf_token === 'string' ? record.csrf_token : '';
  setCsrfToken(token || null);
  return { user, csrf_token: token };
}

export async function fetchSession(): Promise<Session | null> {
  try {
    return readSession(await api<unknown>('/v1/session', { quiet401: true }));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      setCsrfToken(null);
      return null;
    }
    throw error;
  }
}

export function useSession() {
  return useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: Infinity, retry: false });
}

/** Nobody: shown for the moment between signing out and leaving the page (may do nothing). */
const NOBODY: User = { email: '', role: 'analyst', workspace: '' };

/** The signed-in user (inside `RequireSession` there is one, except while signing out). */
export function useUser(): User {
  const { data } = useSession();
  return data?.user ?? NOBODY;
}

export function useSignIn() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (credentials: { email: string; password: string }) =>
      readSession(await api<unknown>('/v1/session', { method: 'POST', body: credentials, quiet401: true })),
    onSuccess: (session) => {
      client.setQueryData(SESSION_KEY, session);
    },
  });
}

export function useSignOut() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api<unknown>('/v1/session', { method: 'DELETE', quiet401: true }).catch(() => null),
    onSettled: () => {
      setCsrfToken(null);
      client.setQueryData(SESSION_KEY, null);
      client.removeQueries({ predicate: (query) => query.queryKey[0] !== SESSION_KEY[0] });
    },
  });
}

/** May this role change journeys, templates and contacts? (The API enforces it too.) */
export function canEdit(role: Role | undefined): boolean {
  return role === 'admin' || role === 'marketer';
}
