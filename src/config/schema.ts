// The one config schema: every key has a description and a default. config/schema.json is
// generated from it (npm run schema). Passwords are never part of it (R25): a mailbox only says
// which credential store holds its secret.
// A namespace import (not `{ z }`): the bundler then keeps only the zod functions used, not its 40 locales.
import * as z from 'zod';

const tagList = z.array(z.string().min(1)).describe('CRM tags (Merkmale)');

export const conflictPolicy = z
  .enum(['crm-wins', 'device-wins', 'newest-wins'])
  .describe('Who wins a field changed on both sides since the last sync (R20)');

export const mailboxSchema = z
  .strictObject({
    user: z.string().min(1).describe('CRM user id this mailbox belongs to'),
    url: z.url({ protocol: /^(https?|file)$/ }).describe('CardDAV/CalDAV server URL (no credentials in it); file:///folder for a vdir'),
    username: z.string().min(1).describe('Login name at the mailbox server'),
    auth: z.enum(['basic', 'bearer', 'digest']).default('basic').describe('HTTP authentication scheme'),
    credentialStore: z
      .enum(['keychain', 'systemd', 'file', 'env', 'cluster'])
      .default('file')
      .describe('Where the password of this mailbox is kept (never in config.json); cluster: sealed in the shared PostgreSQL state'),
    addressTags: tagList.optional().describe("Address tags synced to this mailbox (R1); default: the CRM user's"),
    activityTags: tagList.optional().describe("Activity tags synced to this mailbox (R2); default: the CRM user's"),
    pastDays: z.number().int().min(0).max(3650).optional().describe('Appointments ended more than this many days ago are not sent (R3)'),
    syncPrivate: z.boolean().optional().describe('Import device items marked private as private CRM records (R13, R19)'),
    importAppointmentType: z.string().min(1).optional().describe('Activity type for events created on the device (R19)'),
    importTaskType: z.string().min(1).optional().describe('Activity type for tasks created on the device (R19)'),
    intervalSeconds: z.number().int().min(10).optional().describe('Daemon sync interval for this mailbox'),
    trustedOrigins: z
      .array(z.url({ protocol: /^https?$/ }))
      .optional()
      .describe('Other servers (https://host[:port]) the mailbox server names during discovery that the admin confirmed at assign (--trust-origin); the password goes nowhere else (docs/credentials.md)'),
    collections: z
      .strictObject({
        contacts: z.string().min(1).optional().describe('Address book URL'),
        appointments: z.string().min(1).optional().describe('Calendar URL'),
        tasks: z.string().min(1).optional().describe('Task list URL'),
      })
      .optional()
      .describe('Collection URLs found at provisioning (filled in by sync-cli)'),
  })
  .strict();

export const configSchema = z
  .strictObject({
    $schema: z.string().optional(),
    crm: z
      .strictObject({
        dialect: z.enum(['sqlite', 'postgres', 'mysql']).default('sqlite').describe('CRM database kind'),
        url: z
          .string()
          .optional()
          .describe('Database URL (postgres://…, mysql://…) or SQLite file path; default: crm.sqlite under --home'),
        schema: z.string().optional().describe('Database schema holding the sync-cli views (PostgreSQL)'),
        overlapSeconds: z.number().int().min(0).default(120).describe('Re-read window for CRM changes (R6)'),
      })
      .default({ dialect: 'sqlite', overlapSeconds: 120 })
      .describe('Where the CRM is'),
    state: z
      .strictObject({
        kind: z.enum(['sqlite', 'postgres']).default('sqlite').describe('Where the sync state lives: the embedded SQLite file, or PostgreSQL (shared by a cluster)'),
        url: z.string().optional().describe('postgres://user@host:5432/db of the state (kind postgres); the password is kept out of config.json'),
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/)
          .default('sync_cli')
          .describe('PostgreSQL schema that holds the state tables'),
      })
      .default({ kind: 'sqlite', schema: 'sync_cli' })
      .describe('The state store (docs/scale-out.md)'),
    sync: z
      .strictObject({
        conflict: conflictPolicy.default('crm-wins'),
        maxDeletePercent: z.number().min(0).max(100).default(50).describe('Mass-delete guard (R21)'),
        pastDays: z.number().int().min(0).max(3650).default(30).describe('Default past window in days (R3)'),
        syncPrivate: z.boolean().default(false).describe('Default for private import (R13, R19)'),
        concurrency: z.number().int().min(1).max(32).default(4).describe('Parallel writes per mailbox'),
        mailboxConcurrency: z.number().int().min(1).max(64).default(4).describe('Mailboxes synced at once'),
        fullEveryHours: z
          .number()
          .min(0)
          .max(8760)
          .default(24)
          .describe('Compare everything on both sides at least this often (hours; 0 = only when needed): catches what a server forgot behind an accepted sync token'),
        subjectFormat: z.string().default('{type}: {subject}').describe('Device subject format (R15)'),
        vcardVersion: z.enum(['3.0', '4.0']).default('3.0').describe('vCard version for new contacts'),
        phoneSlots: z.string().optional().describe('Path of a phone-slot table replacing config/phone-slots.json (R12)'),
        collectionNames: z
          .strictObject({
            contacts: z.string().default('CRM Kontakte').describe('Address book for CRM addresses'),
            appointments: z.string().default('CRM Termine').describe('Calendar for CRM appointments'),
            tasks: z.string().default('CRM Aufgaben').describe('Task list for CRM tasks'),
          })
          .default({ contacts: 'CRM Kontakte', appointments: 'CRM Termine', tasks: 'CRM Aufgaben' })
          .describe('Display names of the collections sync-cli creates in each mailbox'),
      })
      .default({
        conflict: 'crm-wins',
        maxDeletePercent: 50,
        pastDays: 30,
        syncPrivate: false,
        concurrency: 4,
        mailboxConcurrency: 4,
        fullEveryHours: 24,
        subjectFormat: '{type}: {subject}',
        vcardVersion: '3.0',
        collectionNames: { contacts: 'CRM Kontakte', appointments: 'CRM Termine', tasks: 'CRM Aufgaben' },
      })
      .describe('Sync behaviour'),
    dav: z
      .strictObject({
        timeoutMs: z.number().int().min(100).default(30_000).describe('Timeout per HTTP request'),
        retries: z.number().int().min(0).max(10).default(3).describe('Retries for network errors, 5xx and 429'),
        concurrency: z.number().int().min(1).max(32).default(4).describe('Concurrent requests per server, shared by all mailboxes on it'),
        caFile: z.string().optional().describe('Extra CA certificate file (PEM) for TLS verification'),
      })
      .default({ timeoutMs: 30_000, retries: 3, concurrency: 4 })
      .describe('Mailbox server transport'),
    limits: z
      .strictObject({
        maxResponseBytes: z
          .number()
          .int()
          .min(1024 * 1024)
          .default(32 * 1024 * 1024)
          .describe('Bytes of one mailbox server answer, on the wire and after decompression; reading stops there'),
        maxHrefsPerListing: z.number().int().min(100).default(50_000).describe('hrefs in one listing answer (PROPFIND, sync-collection page)'),
        maxItemsPerMailbox: z.number().int().min(100).default(100_000).describe('Items a mailbox may list (its three collections together)'),
        requestSeconds: z.number().int().min(1).default(300).describe('One request to a mailbox server with all its retries and Retry-After waits'),
        mailboxRunSeconds: z.number().int().min(5).default(1800).describe('Wall time of one mailbox sync; what is done is kept, the next sync continues'),
      })
      .default({ maxResponseBytes: 32 * 1024 * 1024, maxHrefsPerListing: 50_000, maxItemsPerMailbox: 100_000, requestSeconds: 300, mailboxRunSeconds: 1800 })
      .describe('Bounds on what a mailbox server may cost (docs/security.md)'),
    daemon: z
      .strictObject({
        intervalSeconds: z.number().int().min(10).default(300).describe('Default sync interval'),
        maxBackoffSeconds: z.number().int().min(10).default(3600).describe('Cap of the retry backoff'),
        httpPort: z.number().int().min(0).max(65535).optional().describe('Loopback port for /healthz, /metrics and /hooks/crm; off when unset'),
        retentionDays: z.number().int().min(1).default(10).describe('Purge state of mailboxes unassigned or unused this long'),
        retrySeconds: z.number().int().min(1).default(30).describe('First retry delay of a failed mailbox; doubles per failure up to maxBackoffSeconds'),
        pushPollMs: z.number().int().min(200).max(60_000).default(1000).describe('How often the CRM change feed is checked for pushed changes'),
        postgresChannel: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('sync_cli_crm').describe('PostgreSQL LISTEN channel the CRM trigger notifies (sql/postgres/notify.sql)'),
        shutdownGraceSeconds: z.number().int().min(1).max(600).default(20).describe('On SIGTERM: how long running syncs may finish before they are abandoned (keep below TimeoutStopSec)'),
        webhookSecretFile: z.string().optional().describe('File (0600) with the shared secret of POST /hooks/crm; default: webhook-secret in the data dir; env SYNC_CLI_WEBHOOK_SECRET wins'),
        statusTokenFile: z
          .string()
          .optional()
          .describe('File (0600) with the token of the status page\'s Sync now / Retry buttons; default: status-token in the data dir; env SYNC_CLI_STATUS_TOKEN wins'),
        http: z
          .strictObject({
            maxConnections: z.number().int().min(1).max(10_000).default(64).describe('Open connections to the daemon port at once; more are closed at once'),
            headersTimeoutMs: z.number().int().min(100).default(5000).describe('Time a client has to send the request headers'),
            requestTimeoutMs: z.number().int().min(100).default(10_000).describe('Time a client has to send the whole request'),
            idleTimeoutMs: z.number().int().min(100).default(5000).describe('An idle connection is closed after this long'),
            allowedHosts: z
              .array(z.string().min(1))
              .default([])
              .describe('Host header names accepted besides localhost, 127.0.0.1 and [::1] (e.g. the name a reverse proxy sends)'),
            webhookMaxAgeSeconds: z.number().int().min(10).max(3600).default(300).describe('A signed webhook request older (or newer) than this is refused; each signature is accepted once'),
          })
          .default({ maxConnections: 64, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, idleTimeoutMs: 5000, allowedHosts: [], webhookMaxAgeSeconds: 300 })
          .describe('Limits of the daemon HTTP port (docs/security.md)'),
      })
      .default({
        intervalSeconds: 300,
        maxBackoffSeconds: 3600,
        retentionDays: 10,
        retrySeconds: 30,
        pushPollMs: 1000,
        postgresChannel: 'sync_cli_crm',
        shutdownGraceSeconds: 20,
        http: { maxConnections: 64, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, idleTimeoutMs: 5000, allowedHosts: [], webhookMaxAgeSeconds: 300 },
      })
      .describe('Daemon settings'),
    mailboxes: z.array(mailboxSchema).default([]).describe('Mailbox assignments, one per CRM user'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type MailboxConfig = z.infer<typeof mailboxSchema>;
export type ConflictPolicy = z.infer<typeof conflictPolicy>;
