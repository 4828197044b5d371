/** Shapes of the API's answers (docs/api.md) as the UI reads them. */

import type { ApiJourney, Problem } from '../graph/types';

export type Role = 'admin' | 'marketer' | 'analyst' | 'ingest' | 'redeemer';

export interface User {
  email: string;
  role: Role;
  workspace: string;
}

export interface Session {
  user: User;
  csrf_token: string;
}

export type JourneyStatus = 'draft' | 'published' | 'paused' | 'archived';

export interface JourneySummary {
  id: string;
  name: string;
  status: JourneyStatus;
  current_version: number;
  created_at: string;
  updated_at: string;
}

export interface JourneyDetail extends JourneySummary {
  draft: ApiJourney;
  versions: { version: number; published_at: string }[];
}

export interface SaveResult {
  journey: ApiJourney;
  problems: Problem[];
}

export interface NodeCounts {
  entered: number;
  current: number;
  exited: number;
}

export interface JourneyStats {
  nodes: Record<string, NodeCounts>;
  by_version: Record<string, Record<string, NodeCounts>>;
  totals: { entered: number; active: number; exited: number; goal_reached: number };
}

export interface Contact {
  contact_id: string;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  attributes: Record<string, unknown>;
  created_at: string | null;
  updated_at: string | null;
  order_count: number | null;
  lifetime_value: number | string | null;
  last_order_at: string | null;
  unsubscribed: unknown;
  tags: string[];
}

export interface ContactPage {
  items: Contact[];
  next_cursor: string | null;
  total: number;
}

export interface ContactEvent {
  id: string;
  type: string;
  occurred_at: string | null;
  received_at: string | null;
  source: string | null;
  data: Record<string, unknown>;
}

export interface JourneyPosition {
  journey_id: string;
  version: number;
  state: string;
  node_id: string | null;
  entered_at: string | null;
  updated_at: string | null;
  exited_at: string | null;
  exit_reason: string | null;
  entries: number;
  goals: number;
}

export interface Message {
  message_id: string;
  journey_id: string | null;
  node_id: string | null;
  broadcast_id: string | null;
  channel: string;
  template: string | null;
  status: string;
  queued_at: string | null;
  sent_at: string | null;
  delivered_at: string | null;
  opened_at: string | null;
  clicked_at: string | null;
  bounced_at: string | null;
  failed_at: string | null;
  suppressed_at: string | null;
  reason: string | null;
}

export interface ContactDetail extends Contact {
  recent_events: ContactEvent[];
  journeys: JourneyPosition[];
  messages: Message[];
}

export interface Template {
  id: string;
  name?: string;
  channel: 'email' | 'sms' | 'whatsapp';
  subject?: string;
}

export interface EventType {
  type: string;
  seen: number;
  description: string;
}

export interface ImportSummary {
  rows: number;
  created: number;
  updated: number;
  failed: number;
  projected: boolean;
}

export interface ImportRowError {
  line: number;
  column?: string;
  error: string;
}

export interface Items<T> {
  items: T[];
}
