/** Pages behind sign-in: wait for the session check, else go to the sign-in page. */

import { Navigate, Outlet, useLocation } from 'react-router';

import { useSession } from '../api/session';
import { ErrorState, Loading } from './States';

export function RequireSession() {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <Loading what="Checking your session" />;
  if (session.isError) return <ErrorState error={session.error} retry={() => session.refetch()} />;
  if (!session.data) {
    const next = `${location.pathname}${location.search}`;
    return <Navigate to={`/sign-in${next && next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`} replace />;
  }
  return <Outlet />;
}
