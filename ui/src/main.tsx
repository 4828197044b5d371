/** The web app: routes, the API cache, and what happens when a session ends. */

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';

import '@xyflow/react/dist/style.css';
import './styles.css';

import { ApiError, onUnauthorized } from './api/client';
import { SESSION_KEY } from './api/session';
import { Home, Layout } from './components/Layout';
import { RequireSession } from './components/RequireSession';
import { BroadcastDetailPage, BroadcastsPage } from './pages/Broadcasts';
import { BroadcastWizardPage } from './pages/BroadcastWizard';
import { ContactDetailPage } from './pages/ContactDetail';
import { ContactsPage } from './pages/Contacts';
import { ImportContactsPage } from './pages/ImportContacts';
import { JourneysPage } from './pages/Journeys';
import { NotFound } from './pages/NotFound';
import { OffersPage } from './pages/Offers';
import { OutboxPage } from './pages/Outbox';
import { SegmentEditorPage } from './pages/SegmentEditor';
import { SegmentMembersPage, SegmentsPage } from './pages/Segments';
import { SignInPage } from './pages/SignIn';
import { TemplateEditorPage } from './pages/TemplateEditor';
import { TemplatesPage } from './pages/Templates';

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

/** The analytics charts (recharts) load when the page is opened. */
const analytics = async () => ({ Component: (await import('./pages/Analytics')).AnalyticsPage });

const router = createBrowserRouter([
  { path: '/sign-in', element: <SignInPage /> },
  {
    element: <RequireSession />,
    children: [
      {
        element: <Layout />,
        children: [
          { index: true, element: <Home /> },
          { path: 'journeys', element: <JourneysPage /> },
          { path: 'journeys/:journeyId', lazy: editor },
          { path: 'journeys/:journeyId/versions/:version', lazy: editor },
          { path: 'contacts', element: <ContactsPage /> },
          { path: 'contacts/import', element: <ImportContactsPage /> },
          { path: 'contacts/:contactId', element: <ContactDetailPage /> },
          { path: 'templates', element: <TemplatesPage /> },
          { path: 'templates/new', element: <TemplateEditorPage /> },
          { path: 'templates/:templateId', element: <TemplateEditorPage /> },
          { path: 'broadcasts', element: <BroadcastsPage /> },
          { path: 'broadcasts/new', element: <BroadcastWizardPage /> },
          { path: 'broadcasts/:broadcastId', element: <BroadcastDetailPage /> },
          { path: 'segments', element: <SegmentsPage /> },
          { path: 'segments/new', element: <SegmentEditorPage /> },
          { path: 'segments/:segmentId', element: <SegmentEditorPage /> },
          { path: 'segments/:segmentId/members', element: <SegmentMembersPage /> },
          { path: 'offers', element: <OffersPage /> },
          { path: 'analytics', lazy: analytics },
          { path: 'outbox', element: <OutboxPage /> },
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
