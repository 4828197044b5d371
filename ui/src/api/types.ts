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

export type Channel = 'email' | 'sms' | 'whatsapp';

export interface TemplateBody {
  id?: string;
  name?: string;
  channel: Channel;
  subject?: string;
  html?: string;
  text?: string;
}

export interface Rendered {
  subject?: string;
  html?: string;
  text?: string;
  [key: string]: unknown;
}

export interface BroadcastProgress {
  targeted: number;
  entered: number;
  finished: number;
  queued: number;
  pending: number;
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  complained: number;
  failed: number;
  suppressed: number;
}

export interface OfferSpec {
  kind: 'qr';
  expires_in?: string;
  max_uses?: number;
  value?: string;
  description?: string;
}

export interface Broadcast {
  id: string;
  journey_id: string;
  name: string;
  channel: Channel;
  template: string;
  audience: Record<string, unknown>;
  schedule: string;
  send_at: string | null;
  rate_limit_per_minute: number;
  offer: OfferSpec | null;
  targeted: number;
  status: string;
  created_at: string;
  progress?: BroadcastProgress;
}

export interface AudienceCount {
  count: number;
  reachable?: number;
}

export interface Segment {
  id: string;
  name?: string;
  kind: 'dynamic' | 'static';
  rule?: unknown;
  members?: number;
  description?: string;
  [key: string]: unknown;
}

export interface SegmentPreview {
  count: number;
  sample: (Contact | { contact_id: string; [key: string]: unknown })[];
  [key: string]: unknown;
}

export interface Redemption {
  use: number;
  redeemed_at: string;
  by: string;
}

export interface Offer {
  token: string;
  campaign: string;
  value?: string | null;
  description?: string | null;
  status: 'active' | 'used_up' | 'expired';
  uses: number;
  max_uses: number;
  uses_left: number;
  issued_at?: string;
  expires_at?: string | null;
  contact_id?: string;
  message_id?: string;
  redemptions?: Redemption[];
}

export interface Redeemed {
  redeemed: true;
  use: number;
  redeemed_at: string;
  replayed: boolean;
  offer: Offer;
}

export interface OfferStats {
  workspace: string;
  campaign: string | null;
  issued: number;
  redeemed: number;
  uses: number;
  redemption_rate: number;
  median_time_to_redeem: string | null;
  campaigns?: (Omit<OfferStats, 'campaigns' | 'workspace'> & { campaign: string })[];
}

export interface OutboxMessage {
  message_id: string;
  workspace: string;
  contact_id: string;
  channel: string;
  to_address: string;
  subject: string | null;
  html: string | null;
  text: string | null;
  journey_id: string | null;
  node_id: string | null;
  headers: Record<string, string>;
  created_at: number;
}

export const MESSAGE_STATUSES = ['queued', 'sent', 'delivered', 'opened', 'clicked', 'bounced', 'complained', 'failed', 'suppressed'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export type DailyCounts = Record<MessageStatus, number> & { orders: number; revenue: Record<string, number> };

export interface Daily {
  journey_id: string | null;
  broadcast_id: string | null;
  days: (DailyCounts & { day: string })[];
  totals: DailyCounts;
}

export interface Variant {
  handle: string;
  control: boolean;
  entered: number;
  converted: number | null;
  rate: number | null;
  probability_best: number | null;
  difference: number | null;
  lift: number | null;
  p_value: number | null;
  ci: [number, number] | null;
}

export interface Experiment {
  version: number;
  node_id: string;
  weights: Record<string, number>;
  variants: Variant[];
  verdict: string;
  outcome: string;
  winner: string | null;
  warnings: string[];
}

export interface Experiments {
  journey_id: string;
  experiments: Experiment[];
}
