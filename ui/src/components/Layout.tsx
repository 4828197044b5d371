/** The frame of every signed-in page: navigation (by role), who is signed in, sign out. */

import { Link, Navigate, NavLink, Outlet, useNavigate } from 'react-router';

import { useSignOut, useUser } from '../api/session';
import type { Role } from '../api/types';

const READERS: Role[] = ['admin', 'marketer', 'analyst'];

/** The main navigation: readers see every screen; a redeemer only Offers. */
export const NAV: { to: string; label: string; roles: Role[] }[] = [
  { to: '/journeys', label: 'Journeys', roles: READERS },
  { to: '/broadcasts', label: 'Broadcasts', roles: READERS },
  { to: '/templates', label: 'Templates', roles: READERS },
  { to: '/segments', label: 'Segments', roles: READERS },
  { to: '/contacts', label: 'Contacts', roles: READERS },
  { to: '/offers', label: 'Offers', roles: ['admin', 'marketer', 'analyst', 'redeemer'] },
  { to: '/analytics', label: 'Analytics', roles: READERS },
  { to: '/outbox', label: 'Outbox', roles: READERS },
];

export function navFor(role: Role): typeof NAV {
  return NAV.filter((item) => item.roles.includes(role));
}

/** `/`: the first screen the role may see. */
export function Home() {
  const user = useUser();
  return <Navigate to={navFor(user.role)[0]?.to ?? '/journeys'} replace />;
}

export function Layout() {
  const user = useUser();
  const signOut = useSignOut();
  const navigate = useNavigate();
  const items = navFor(user.role);
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to={items[0]?.to ?? '/journeys'} className="brand">
          Switchback
        </Link>
        <nav aria-label="Main">
          {items.map((item) => <NavLink key={item.to} to={item.to}>{item.label}</NavLink>)}
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
