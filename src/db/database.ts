import type { Kysely, Transaction } from 'kysely';
import type { OrganizationsTable } from './tables/organizations.ts';
import type { ChargeStationsTable, ConnectorsTable, StationCapabilitiesTable } from './tables/charge-stations.ts';
import type { ApiKeysTable } from './tables/api-keys.ts';
import type {
  LedgerEntriesTable,
  RatesTable,
  TokensTable,
  TopUpsTable,
  UsersTable,
  WalletsTable,
} from './tables/wallets.ts';
import type { AlertsTable, SessionsTable } from './tables/sessions.ts';
import type { ConsoleSessionsTable } from './tables/console-sessions.ts';
import type { OutboxEventsTable, WebhookAttemptsTable, WebhookDeliveriesTable, WebhooksTable } from './tables/events.ts';
import type {
  ChargingProfilesTable,
  ReservationsTable,
  StationCommandsTable,
  StationReportsTable,
} from './tables/commands.ts';
import type { ClusterJobsTable, ClusterNodesTable, StationCallsTable, StationPresenceTable } from './tables/cluster.ts';

export interface Database {
  organizations: OrganizationsTable;
  charge_stations: ChargeStationsTable;
  connectors: ConnectorsTable;
  api_keys: ApiKeysTable;
  users: UsersTable;
  wallets: WalletsTable;
  top_ups: TopUpsTable;
  ledger_entries: LedgerEntriesTable;
  tokens: TokensTable;
  rates: RatesTable;
  sessions: SessionsTable;
  alerts: AlertsTable;
  console_sessions: ConsoleSessionsTable;
  cluster_nodes: ClusterNodesTable;
  station_presence: StationPresenceTable;
  station_calls: StationCallsTable;
  cluster_jobs: ClusterJobsTable;
  outbox_events: OutboxEventsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  station_commands: StationCommandsTable;
  reservations: ReservationsTable;
  charging_profiles: ChargingProfilesTable;
  station_reports: StationReportsTable;
  station_capabilities: StationCapabilitiesTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
