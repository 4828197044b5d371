/** The frame of every signed-in page: navigation, who is signed in, sign out. */

import { Link, NavLink, Outlet, useNavigate } from 'react-router';

import { useSignOut, useUser } from '../api/session';

export function Layout() {
  const user = useUser();
  const signOut = useSignOut();
  const navigate = useNavigate();
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/journeys" className="brand">
          Switchback
        </Link>
        <nav aria-label="Main">
          <NavLink to="/journeys">Journeys</NavLink>
          <NavLink to="/contacts">Contacts</NavLink>
        </nav>
        <div className="who">
          <span title={`workspace ${user.workspace}`}>
            {user.email} <span className="role">{user.role}</span>
          </span>
          <button type="button" className="link" disabled={signOut.isPending}
            onClick={() => signOut.mutate(undefined, { onSettled: () => navigate('/sign-in') })}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
