-- Up Migration

-- Notify before deletion (docs/notifications.md): an outbox of what happens to deletion jobs, written
-- in the same transaction as the change it tells of, and the webhooks it is delivered to, at least
-- once, in order per job. Code: sql/70_notifications.sql.

-- How long before its run a job announces itself ("due soon"), and when it did. A job scheduled again
-- forgets both (deletion.schedule sets them afresh).
ALTER TABLE deletion.deletion_jobs
  ADD COLUMN notify_before interval,
  ADD COLUMN due_soon_at timestamptz,
  ADD CONSTRAINT deletion_jobs_notify_before_check CHECK (notify_before > interval '0');
COMMENT ON COLUMN deletion.deletion_jobs.notify_before IS 'How long before scheduled_at the job writes its due_soon event (NULL: no such event).';
COMMENT ON COLUMN deletion.deletion_jobs.due_soon_at IS 'When the job''s due_soon event was written (NULL: not yet, or none asked for).';
CREATE INDEX deletion_jobs_due_soon_idx ON deletion.deletion_jobs (scheduled_at)
  WHERE status = 'pending' AND notify_before IS NOT NULL AND due_soon_at IS NULL;

-- The outbox: one row per thing that happened to a job. Its payload is the body every webhook gets;
-- it names the row (table and key), times and counts, and never the actor or the reason, so that the
-- key is the only personal datum in it (deletion.forget_events redacts or removes it).
CREATE TABLE deletion.deletion_events (
  id           bigint      GENERATED ALWAYS AS IDENTITY,
  job_id       bigint      NOT NULL,
  event_type   text        NOT NULL,
  entity_table text        NOT NULL,
  entity_pk    text,
  occurred_at  timestamptz NOT NULL DEFAULT now(),
  payload      jsonb       NOT NULL,
  operation    uuid,
  redacted_at  timestamptz,
  CONSTRAINT deletion_events_pkey PRIMARY KEY (id),
  CONSTRAINT deletion_events_type_check CHECK (event_type IN ('scheduled', 'due_soon', 'started', 'done', 'failed', 'cancelled', 'restored'))
);
CREATE INDEX deletion_events_job_idx ON deletion.deletion_events (job_id, id);
CREATE INDEX deletion_events_row_idx ON deletion.deletion_events (entity_table, entity_pk) WHERE entity_pk IS NOT NULL;
CREATE INDEX deletion_events_operation_idx ON deletion.deletion_events (operation) WHERE operation IS NOT NULL;
COMMENT ON TABLE deletion.deletion_events IS 'The outbox of deletion events (scheduled, due_soon, started, done, failed, cancelled, restored), each written in the transaction of the change it tells of.';
COMMENT ON COLUMN deletion.deletion_events.payload IS 'The event as webhooks receive it: ids, type, table, key, times and counts (no actor, no reason).';
COMMENT ON COLUMN deletion.deletion_events.operation IS 'The soft-delete operation a done soft job left in the trash: its restore writes the job''s restored event.';
COMMENT ON COLUMN deletion.deletion_events.redacted_at IS 'When the row''s key was taken out of the event (deletion.forget_events, for an erasure).';

-- Webhook subscriptions: where events go, signed with the subscription's secret (HMAC-SHA256 of the
-- body). Only the engine reads the secret; deletion_admin manages subscriptions through functions.
CREATE TABLE deletion.webhook_subscriptions (
  id           bigint      GENERATED ALWAYS AS IDENTITY,
  name         text        NOT NULL,
  url          text        NOT NULL,
  secret       text        NOT NULL,
  event_types  text[],
  tables       text[],
  active       boolean     NOT NULL DEFAULT true,
  max_attempts integer     NOT NULL DEFAULT 20,
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   name        NOT NULL DEFAULT current_user,
  CONSTRAINT webhook_subscriptions_pkey PRIMARY KEY (id),
  CONSTRAINT webhook_subscriptions_name_key UNIQUE (name),
  CONSTRAINT webhook_subscriptions_url_check CHECK (url ~ '^https?://'),
  CONSTRAINT webhook_subscriptions_secret_check CHECK (length(secret) >= 16),
  CONSTRAINT webhook_subscriptions_attempts_check CHECK (max_attempts >= 1)
);
COMMENT ON TABLE deletion.webhook_subscriptions IS 'Webhooks that receive deletion events (all, or only some types or tables), signed with their secret.';
COMMENT ON COLUMN deletion.webhook_subscriptions.secret IS 'The HMAC-SHA256 key of the X-Deletion-Kit-Signature header; readable by the engine only.';
COMMENT ON COLUMN deletion.webhook_subscriptions.event_types IS 'The event types it receives (NULL: every type).';
COMMENT ON COLUMN deletion.webhook_subscriptions.tables IS 'The tables (schema.table) whose events it receives (NULL: every table).';
COMMENT ON COLUMN deletion.webhook_subscriptions.max_attempts IS 'Attempts before a delivery is given up.';

-- One delivery per event and subscription, made when the event is written. Its idempotency key is
-- sent on every attempt; the bookkeeping (lease, attempts, next attempt, delivered) is the engine's.
CREATE TABLE deletion.webhook_deliveries (
  id               bigint      GENERATED ALWAYS AS IDENTITY,
  event_id         bigint      NOT NULL,
  subscription_id  bigint      NOT NULL,
  job_id           bigint      NOT NULL,
  idempotency_key  uuid        NOT NULL DEFAULT gen_random_uuid(),
  attempts         integer     NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_pid        integer,
  lease_until      timestamptz,
  delivered_at     timestamptz,
  gave_up_at       timestamptz,
  last_status      integer,
  last_error       text,
  CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
  CONSTRAINT webhook_deliveries_event_subscription_key UNIQUE (event_id, subscription_id),
  CONSTRAINT webhook_deliveries_key_key UNIQUE (idempotency_key),
  CONSTRAINT webhook_deliveries_event_fkey FOREIGN KEY (event_id) REFERENCES deletion.deletion_events (id) ON DELETE CASCADE,
  CONSTRAINT webhook_deliveries_subscription_fkey FOREIGN KEY (subscription_id) REFERENCES deletion.webhook_subscriptions (id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due_idx ON deletion.webhook_deliveries (next_attempt_at, event_id)
  WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX webhook_deliveries_subscription_idx ON deletion.webhook_deliveries (subscription_id);
CREATE INDEX webhook_deliveries_order_idx ON deletion.webhook_deliveries (subscription_id, job_id, event_id)
  WHERE delivered_at IS NULL AND gave_up_at IS NULL;
COMMENT ON TABLE deletion.webhook_deliveries IS 'The delivery of each event to each subscription: attempts, next attempt (exponential back-off), delivered or given up.';
COMMENT ON COLUMN deletion.webhook_deliveries.idempotency_key IS 'Sent as the Idempotency-Key header on every attempt of this delivery: the receiver''s way to see a repeat.';
COMMENT ON COLUMN deletion.webhook_deliveries.lease_pid IS 'The backend of the deliverer holding it: when that session is gone, the delivery is due again at once.';

GRANT SELECT ON deletion.deletion_events TO deletion_app, deletion_admin;
GRANT SELECT ON deletion.webhook_deliveries TO deletion_admin;
GRANT SELECT (id, name, url, event_types, tables, active, max_attempts, created_at, created_by)
  ON deletion.webhook_subscriptions TO deletion_admin;

-- Down Migration

DROP TABLE deletion.webhook_deliveries;
DROP TABLE deletion.webhook_subscriptions;
DROP TABLE deletion.deletion_events;
ALTER TABLE deletion.deletion_jobs DROP COLUMN due_soon_at, DROP COLUMN notify_before;
