/** The web app: routes, the API cache, and what happens when a session ends. */

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, Navigate, RouterProvider } from 'react-router';

import '@xyflow/react/dist/style.css';
import './styles.css';

import { ApiError, onUnauthorized } from './api/client';
import { SESSION_KEY } from './api/session';
import { Layout } from './components/Layout';
import { RequireSession } from './components/RequireSession';
import { ContactDetailPage } from './pages/ContactDetail';
import { ContactsPage } from './pages/Contacts';
import { ImportContactsPage } from './pages/ImportContacts';
import { JourneysPage } from './pages/Journeys';
import { NotFound } from './pages/NotFound';
import { SignInPage } from './pages/SignIn';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});
onUnauthorized(() => queryClient.setQueryData(SESSION_KEY, null));

/** The editor (React Flow and its styles) loads when a journey is opened. */
const editor = async () => ({ Component: (await import('./editor/EditorPage')).EditorPage });

const router = createBrowserRouter([
  { path: '/sign-in', element: <SignInPage /> },
  {
    element: <RequireSession />,
    children: [
      {
        element: <Layout />,
        children: [
          { index: true, element: <Navigate to="/journeys" replace /> },
          { path: 'journeys', element: <JourneysPage /> },
          { path: 'journeys/:journeyId', lazy: editor },
          { path: 'journeys/:journeyId/versions/:version', lazy: editor },
          { path: 'contacts', element: <ContactsPage /> },
          { path: 'contacts/import', element: <ImportContactsPage /> },
          { path: 'contacts/:contactId', element: <ContactDetailPage /> },
          { path: '*', element: <NotFound /> },
        ],
      },
    ],
  },
]);

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
