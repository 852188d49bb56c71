-- Notify before deletion: an outbox of what happens to deletion jobs, and its delivery to webhooks.
--
-- Four steps, each in SQL; the TypeScript deliverer (src/notify/deliver.ts) only does the HTTP:
--   write    every change of a job writes its event in the change's own transaction
--            (deletion.record_job_event, called by deletion.schedule, deletion.claim_job,
--            deletion.finish_job, deletion.undo_job, and by the restore of a done soft job's
--            operation from the trash), with one delivery row for each webhook subscription that
--            wants it; a rolled-back change leaves no event. The due_soon event is written when
--            run_at - notify_before arrives (deletion.write_due_soon_events, which the deliverer
--            loop calls), and at the latest just before the job's started event;
--   announce NOTIFY deletion_events, at commit, with the event's id, type and job id only:
--            PostgreSQL lets any role LISTEN to any channel (and NOTIFY on it), so the announcement
--            is a wake-up call, never the event; the event is read from deletion.deletion_events;
--   claim    a deliverer leases due deliveries (deletion.claim_webhook_deliveries): per subscription
--            and job, only the oldest undelivered event, so a job's events arrive in order; a lease
--            whose session is gone (the deliverer was killed) is due again at once;
--   settle   deletion.webhook_delivered, or deletion.webhook_failed: retried after an exponential
--            back-off, given up after the subscription's max_attempts. Every attempt of a delivery
--            carries the same idempotency key, so a repeat is recognisable: at least once, in order.
-- Personal data: an event names its row (table and key) and never the actor or the reason, so an
-- erasure redacts or removes a subject's events by key (deletion.forget_events).

-- The time of an event field: UTC, ISO 8601 with microseconds, whatever the session's TimeZone, so
-- that the body of an event is the same text on every delivery.
CREATE OR REPLACE FUNCTION deletion.event_time(t timestamptz)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
COMMENT ON FUNCTION deletion.event_time(timestamptz) IS 'An event''s time as UTC ISO 8601 text (the same on every delivery).';

-- Writes one event of a job, in the caller's transaction: the outbox row (its payload is the body
-- webhooks receive), a delivery for each active subscription that wants it, and the NOTIFY. The job
-- row is locked first, so the events of one job are numbered in the order their transactions
-- commit. A job that starts while its due_soon event is still owed writes that first. Defined even
-- when the events migration is not applied (the job functions call it): then it writes nothing.
-- Internal: granted to nobody; the engine's SECURITY DEFINER job functions call it as the engine.
CREATE OR REPLACE FUNCTION deletion.record_job_event(job_id bigint, event_type text, operation uuid DEFAULT NULL, extra jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  job jsonb;
  event_id bigint;
  body jsonb;
  seq bigint;
BEGIN
  IF to_regclass('deletion.deletion_events') IS NULL THEN
    RETURN NULL;  -- the events migration is not applied
  END IF;
  SELECT to_jsonb(j) INTO job FROM deletion.deletion_jobs j WHERE j.id = job_id FOR UPDATE;
  IF job IS NULL THEN
    RETURN NULL;
  END IF;
  IF event_type = 'started' AND job ->> 'notify_before' IS NOT NULL AND job ->> 'due_soon_at' IS NULL THEN
    PERFORM deletion.record_job_event(job_id, 'due_soon');
  END IF;
  IF event_type = 'due_soon' THEN
    UPDATE deletion.deletion_jobs j SET due_soon_at = now() WHERE j.id = job_id;
    job := jsonb_set(job, '{due_soon_at}', to_jsonb(now()));
  END IF;

  event_id := nextval(pg_get_serial_sequence('deletion.deletion_events', 'id'));
  seq := (SELECT count(*) FROM deletion.deletion_events e WHERE e.job_id = record_job_event.job_id) + 1;
  body := jsonb_build_object(
    'id', event_id,
    'type', event_type,
    'occurred_at', deletion.event_time(now()),
    'sequence', seq,
    'job', jsonb_build_object(
      'id', (job ->> 'id')::bigint,
      'table', job ->> 'entity_table',
      'key', job ->> 'entity_pk',
      'hard', (job ->> 'hard_delete')::boolean,
      'status', job ->> 'status',
      'run_at', deletion.event_time((job ->> 'scheduled_at')::timestamptz),
      'notify_before_seconds', extract(epoch FROM (job ->> 'notify_before')::interval)::bigint,
      'due_soon_at', deletion.event_time((job ->> 'scheduled_at')::timestamptz - (job ->> 'notify_before')::interval),
      'started_at', deletion.event_time((job ->> 'started_at')::timestamptz),
      'finished_at', deletion.event_time((job ->> 'finished_at')::timestamptz),
      'rows_planned', (job ->> 'rows_planned')::bigint,
      'rows_deleted', (job ->> 'rows_deleted')::bigint,
      'chunks', (job ->> 'chunks')::integer,
      'attempts', (job ->> 'attempts')::integer))
    || jsonb_strip_nulls(jsonb_build_object('operation', operation))
    || coalesce(extra, '{}');
  INSERT INTO deletion.deletion_events (id, job_id, event_type, entity_table, entity_pk, occurred_at, payload, operation)
  OVERRIDING SYSTEM VALUE
  VALUES (event_id, job_id, event_type, job ->> 'entity_table', job ->> 'entity_pk', now(), body, operation);

  INSERT INTO deletion.webhook_deliveries (event_id, subscription_id, job_id)
  SELECT event_id, s.id, job_id
    FROM deletion.webhook_subscriptions s
   WHERE s.active
     AND (s.event_types IS NULL OR event_type = ANY (s.event_types))
     AND (s.tables IS NULL OR job ->> 'entity_table' = ANY (s.tables));

  PERFORM pg_notify('deletion_events', json_build_object('id', event_id, 'type', event_type, 'job_id', job_id)::text);
  RETURN event_id;
END
$$;
COMMENT ON FUNCTION deletion.record_job_event(bigint, text, uuid, jsonb) IS 'Writes a deletion job''s event in the caller''s transaction: outbox row, a delivery per interested webhook, NOTIFY deletion_events (id, type, job id).';

DO $notifications$
BEGIN
IF to_regclass('deletion.deletion_events') IS NULL OR to_regclass('deletion.deletion_jobs') IS NULL THEN
  RETURN;  -- the events migration is not applied: the job functions write no events
END IF;

-- The due_soon events whose time has come: pending jobs with a notify_before whose run_at minus
-- notify_before has passed and that have not announced themselves yet, oldest first, at most
-- max_jobs in one call; jobs another session is changing right now are left for the next call.
-- Each is written once (due_soon_at). Returns how many were written. For deletion_admin: the
-- deliverer loop of `deletion-kit worker` and `deletion-kit notify deliver` calls it.
CREATE OR REPLACE FUNCTION deletion.write_due_soon_events(max_jobs integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  due record;
  written integer := 0;
BEGIN
  FOR due IN SELECT j.id FROM deletion.deletion_jobs j
              WHERE j.status = 'pending' AND j.notify_before IS NOT NULL AND j.due_soon_at IS NULL
                AND j.scheduled_at - j.notify_before <= now()
              ORDER BY j.scheduled_at - j.notify_before, j.id
              LIMIT max_jobs
                FOR UPDATE SKIP LOCKED LOOP
    PERFORM deletion.record_job_event(due.id, 'due_soon');
    written := written + 1;
  END LOOP;
  RETURN written;
END
$$;
COMMENT ON FUNCTION deletion.write_due_soon_events(integer) IS 'Writes the due_soon event of every pending job whose run_at - notify_before has come (once each); returns how many.';

-- The restored event of a done soft job: its rows are one operation in the trash (named by its done
-- event), and restoring that operation (deletion.restore) brings them back. A trigger on the
-- operations' log, so that every way of restoring an operation is seen. Runs as the role that
-- restores (deletion.restore runs as the engine); granted to nobody.
CREATE OR REPLACE FUNCTION deletion.note_operation_restored()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  job_id bigint;
BEGIN
  SELECT e.job_id INTO job_id FROM deletion.deletion_events e
   WHERE e.operation = NEW.op AND e.event_type = 'done'
   ORDER BY e.id DESC LIMIT 1;
  IF job_id IS NOT NULL THEN
    PERFORM deletion.record_job_event(job_id, 'restored', NEW.op,
              jsonb_build_object('rows_restored', (SELECT coalesce(sum(r.value::bigint), 0) FROM jsonb_each_text(NEW.rows_per_table) r)));
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.note_operation_restored() IS 'Trigger: restoring the trash operation of a done soft deletion job writes the job''s restored event.';
DROP TRIGGER IF EXISTS deletion_70_restored_event ON deletion.soft_delete_operations;
CREATE TRIGGER deletion_70_restored_event
  AFTER UPDATE OF restored_at ON deletion.soft_delete_operations
  FOR EACH ROW WHEN (OLD.restored_at IS NULL AND NEW.restored_at IS NOT NULL)
  EXECUTE FUNCTION deletion.note_operation_restored();

-- Creates or changes a webhook subscription, by name. A new one gets a random secret unless one is
-- given (at least 16 characters); a changed one keeps its secret unless a new one is given (that is
-- how a secret is rotated). Returns the subscription's id, and its secret when this call set it
-- (NULL otherwise), so that the admin can give it to the receiver. event_types / tables: NULL for
-- all. For deletion_admin. Errors: 22023 an unknown event type or a bad URL or secret.
CREATE OR REPLACE FUNCTION deletion.set_webhook(name text, url text, secret text DEFAULT NULL, event_types text[] DEFAULT NULL,
                                                tables text[] DEFAULT NULL, max_attempts integer DEFAULT 20, active boolean DEFAULT true)
RETURNS TABLE (subscription_id bigint, new_secret text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  chosen_secret text := set_webhook.secret;
  unknown text;
  sub_id bigint;
  created boolean;
BEGIN
  IF name IS NULL OR url IS NULL OR url !~ '^https?://' THEN
    RAISE EXCEPTION 'a webhook needs a name and an http(s) URL, not %', coalesce(url, 'NULL')
      USING ERRCODE = '22023', HINT = 'like deletion.set_webhook(''billing'', ''https://example.com/hooks/deletion'')';
  END IF;
  IF chosen_secret IS NOT NULL AND length(chosen_secret) < 16 THEN
    RAISE EXCEPTION 'a webhook secret needs at least 16 characters' USING ERRCODE = '22023', HINT = 'leave it out to get a random one';
  END IF;
  SELECT string_agg(t, ', ') INTO unknown FROM unnest(event_types) t
   WHERE t NOT IN ('scheduled', 'due_soon', 'started', 'done', 'failed', 'cancelled', 'restored');
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'unknown event types: %', unknown
      USING ERRCODE = '22023', HINT = 'the types are scheduled, due_soon, started, done, failed, cancelled, restored';
  END IF;
  created := NOT EXISTS (SELECT 1 FROM deletion.webhook_subscriptions s WHERE s.name = set_webhook.name);
  IF created AND chosen_secret IS NULL THEN
    chosen_secret := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');  -- 244 random bits
  END IF;
  INSERT INTO deletion.webhook_subscriptions AS s (name, url, secret, event_types, tables, active, max_attempts, created_by)
  VALUES (set_webhook.name, set_webhook.url,
          coalesce(chosen_secret, (SELECT s.secret FROM deletion.webhook_subscriptions s WHERE s.name = set_webhook.name)), set_webhook.event_types, set_webhook.tables,
          coalesce(set_webhook.active, true), coalesce(set_webhook.max_attempts, 20), deletion.calling_role())
  ON CONFLICT ON CONSTRAINT webhook_subscriptions_name_key DO UPDATE
     SET url = excluded.url, secret = coalesce(set_webhook.secret, s.secret), event_types = excluded.event_types,
         tables = excluded.tables, active = excluded.active, max_attempts = excluded.max_attempts
  RETURNING s.id INTO sub_id;
  RETURN QUERY SELECT sub_id, chosen_secret;
END
$$;
COMMENT ON FUNCTION deletion.set_webhook(text, text, text, text[], text[], integer, boolean) IS 'Creates or changes a webhook subscription by name (a new one gets a random secret); returns its id and the secret this call set.';

-- Removes a webhook subscription and its deliveries (delivered or not). For deletion_admin.
CREATE OR REPLACE FUNCTION deletion.remove_webhook(name text)
RETURNS boolean
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
  WITH gone AS (DELETE FROM deletion.webhook_subscriptions s WHERE s.name = remove_webhook.name RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM gone)
$$;
COMMENT ON FUNCTION deletion.remove_webhook(text) IS 'Removes a webhook subscription and its deliveries; false when there was none of that name.';

-- Leases the deliveries that are due, for one deliverer: not delivered, not given up, past their
-- next attempt time, not leased (or leased by a session that is gone, or whose lease ran out), of an
-- active subscription, and the oldest undelivered event of their job for their subscription (so a
-- job's events go out one after the other, in order). Each claim counts an attempt. Returns what the
-- deliverer needs to send it: the URL, the secret to sign the body with, the body (the event's
-- payload as text, the same on every attempt) and the idempotency key. For deletion_admin (the
-- role of the worker, which signs with the secret).
CREATE OR REPLACE FUNCTION deletion.claim_webhook_deliveries(worker text, max_count integer DEFAULT 10, lease_seconds integer DEFAULT 60)
RETURNS TABLE (delivery_id bigint, event_id bigint, job_id bigint, event_type text, subscription text, url text, secret text,
               idempotency_key uuid, attempt integer, body text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN QUERY
  WITH due AS (
    SELECT d.id
      FROM deletion.webhook_deliveries d
      JOIN deletion.webhook_subscriptions s ON s.id = d.subscription_id AND s.active
     WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL AND d.next_attempt_at <= now()
       AND (d.lease_until IS NULL OR d.lease_until < now()
            OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = d.lease_pid))
       AND NOT EXISTS (SELECT 1 FROM deletion.webhook_deliveries e
                        WHERE e.subscription_id = d.subscription_id AND e.job_id = d.job_id AND e.event_id < d.event_id
                          AND e.delivered_at IS NULL AND e.gave_up_at IS NULL)
     ORDER BY d.next_attempt_at, d.event_id
     LIMIT max_count
       FOR UPDATE OF d SKIP LOCKED),
  leased AS (
    UPDATE deletion.webhook_deliveries d
       SET attempts = d.attempts + 1, lease_owner = worker, lease_pid = pg_backend_pid(),
           lease_until = now() + make_interval(secs => lease_seconds)
      FROM due WHERE d.id = due.id
    RETURNING d.*)
  SELECT l.id, l.event_id, l.job_id, e.event_type, s.name, s.url, s.secret, l.idempotency_key, l.attempts, e.payload::text
    FROM leased l
    JOIN deletion.deletion_events e ON e.id = l.event_id
    JOIN deletion.webhook_subscriptions s ON s.id = l.subscription_id
   ORDER BY l.event_id;
END
$$;
COMMENT ON FUNCTION deletion.claim_webhook_deliveries(text, integer, integer) IS 'Leases due webhook deliveries (the oldest undelivered event per job and subscription, skipping locked ones); returns URL, secret, body and idempotency key.';

-- A delivery the receiver accepted (a 2xx answer): done. Repeating it changes nothing.
CREATE OR REPLACE FUNCTION deletion.webhook_delivered(delivery_id bigint, status integer DEFAULT 200)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
  UPDATE deletion.webhook_deliveries d
     SET delivered_at = now(), last_status = status, last_error = NULL, lease_owner = NULL, lease_pid = NULL, lease_until = NULL
   WHERE d.id = delivery_id AND d.delivered_at IS NULL
$$;
COMMENT ON FUNCTION deletion.webhook_delivered(bigint, integer) IS 'Marks a webhook delivery delivered (the receiver answered 2xx).';

-- A delivery that failed (no 2xx answer, no answer in time, no connection): tried again after
-- backoff_ms x 2^(attempts - 1), at most an hour, or given up once it has been tried the
-- subscription's max_attempts times (the job's later events then go out). Returns whether it was
-- given up and when it is tried next.
CREATE OR REPLACE FUNCTION deletion.webhook_failed(delivery_id bigint, status integer, failure text, backoff_ms integer DEFAULT 1000)
RETURNS TABLE (gave_up boolean, attempts integer, next_attempt_at timestamptz)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
  UPDATE deletion.webhook_deliveries d
     SET last_status = status, last_error = left(failure, 2000), lease_owner = NULL, lease_pid = NULL, lease_until = NULL,
         gave_up_at = CASE WHEN d.attempts >= s.max_attempts THEN now() END,
         next_attempt_at = now() + least(make_interval(secs => greatest(backoff_ms, 1) / 1000.0 * 2 ^ greatest(d.attempts - 1, 0)), interval '1 hour')
    FROM deletion.webhook_subscriptions s
   WHERE d.id = delivery_id AND s.id = d.subscription_id AND d.delivered_at IS NULL
  RETURNING d.gave_up_at IS NOT NULL, d.attempts, d.next_attempt_at
$$;
COMMENT ON FUNCTION deletion.webhook_failed(bigint, integer, text, integer) IS 'Records a failed webhook attempt: retried after exponential back-off (at most an hour), given up after the subscription''s max_attempts.';

-- Erasure of a person: the events of one row (a job root) lose its key (redacted: the key is
-- removed from the row and from the payload webhooks get, deliveries still pending send the
-- redacted body), or, with purge, are deleted with their deliveries. Returns how many events.
-- For deletion_admin (and the erasure functions, which run as the engine).
CREATE OR REPLACE FUNCTION deletion.forget_events(target regclass, pk text, purge boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  job_table text := deletion.job_table_name(target);
  job_pk text := deletion.canonical_key(target, pk);
  n bigint;
BEGIN
  IF purge THEN
    DELETE FROM deletion.deletion_events e WHERE e.entity_table = job_table AND e.entity_pk = job_pk;
  ELSE
    UPDATE deletion.deletion_events e
       SET entity_pk = NULL, redacted_at = now(),
           payload = jsonb_set(e.payload, '{job,key}', 'null') || '{"redacted": true}'
     WHERE e.entity_table = job_table AND e.entity_pk = job_pk;
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION deletion.forget_events(regclass, text, boolean) IS 'Redacts the key of a row''s deletion events (or, with purge, deletes them and their deliveries), for an erasure.';

-- Upkeep of the outbox: deletes events older than the given age whose every delivery has been
-- delivered or given up. Returns how many. For deletion_admin.
CREATE OR REPLACE FUNCTION deletion.purge_events(older_than interval)
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
  WITH gone AS (
    DELETE FROM deletion.deletion_events e
     WHERE e.occurred_at < now() - older_than
       AND NOT EXISTS (SELECT 1 FROM deletion.webhook_deliveries d
                        WHERE d.event_id = e.id AND d.delivered_at IS NULL AND d.gave_up_at IS NULL)
    RETURNING 1)
  SELECT count(*) FROM gone
$$;
COMMENT ON FUNCTION deletion.purge_events(interval) IS 'Deletes deletion events older than the given age whose deliveries are all delivered or given up.';

REVOKE EXECUTE ON FUNCTION deletion.note_operation_restored() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.write_due_soon_events(integer),
                          deletion.set_webhook(text, text, text, text[], text[], integer, boolean),
                          deletion.remove_webhook(text),
                          deletion.claim_webhook_deliveries(text, integer, integer),
                          deletion.webhook_delivered(bigint, integer),
                          deletion.webhook_failed(bigint, integer, text, integer),
                          deletion.forget_events(regclass, text, boolean),
                          deletion.purge_events(interval)
  TO deletion_admin;

END
$notifications$;
