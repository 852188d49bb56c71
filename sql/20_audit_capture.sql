-- Capture: how deleted and updated rows reach audit.log.
--
-- Three statement-level triggers per audited table, installed by deletion.wire_audit:
--   deletion_50_audit_statement  BEFORE UPDATE OR DELETE, numbers the top-level statement;
--   deletion_50_audit_delete     AFTER DELETE, REFERENCING OLD TABLE: one INSERT for all deleted rows;
--   deletion_50_audit_update     AFTER UPDATE, REFERENCING OLD and NEW TABLE: one INSERT for all rows.
-- A foreign-key action (ON DELETE CASCADE / SET NULL) runs its own DELETE or UPDATE for each parent
-- row, but queues its trigger events into the statement that caused it: every table the cascade
-- reaches collects its rows into one transition table and its AFTER STATEMENT trigger fires once
-- (docs/audit.md has the measurements), so a 100,000-row cascade is logged by a handful of INSERTs.
--
-- The tables may be missing (when migration 0020 has been reverted, the runner still rebuilds this
-- module): everything here that touches them is PL/pgSQL, resolved when it runs.

-- The role a statement runs as, seen from inside a SECURITY DEFINER function (where current_user is
-- the function's owner): the role chosen with SET ROLE, else the login role. Neither can be forged by
-- a setting: SET ROLE only accepts roles the session is a member of.
CREATE OR REPLACE FUNCTION audit.acting_role()
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.calling_role()::text
$$;
COMMENT ON FUNCTION audit.acting_role() IS 'The role the current statement runs as (SET ROLE, else the login role), even inside SECURITY DEFINER functions.';

-- Numbers statements. Fires BEFORE each UPDATE or DELETE statement on an audited table. A statement
-- the client (or a function) issued directly fires it at trigger depth 1 and starts a new number;
-- the DELETEs and UPDATEs that foreign-key actions and triggers run inside it fire it deeper and keep
-- the number, so a statement and its whole cascade share (txid, statement_seq). The number lives in a
-- transaction-local setting, 'seq/root table oid/statement timestamp'. A cascade whose root table is
-- not audited starts a number of its own (root 0) when the statement timestamp has moved on. The
-- setting only groups rows; nothing about privilege or identity is read from it.
CREATE OR REPLACE FUNCTION audit.begin_statement()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  marker text := current_setting('audit.statement', true);
BEGIN
  IF pg_trigger_depth() = 1 THEN
    PERFORM set_config('audit.statement',
                       concat_ws('/', coalesce(nullif(split_part(marker, '/', 1), '')::integer, 0) + 1, TG_RELID, statement_timestamp()),
                       true);
  ELSIF split_part(marker, '/', 3) IS DISTINCT FROM statement_timestamp()::text THEN
    PERFORM set_config('audit.statement',
                       concat_ws('/', coalesce(nullif(split_part(marker, '/', 1), '')::integer, 0) + 1, 0, statement_timestamp()),
                       true);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION audit.begin_statement() IS 'BEFORE STATEMENT trigger: numbers top-level statements so a statement and its cascades share (txid, statement_seq).';

-- Writes the transaction's metadata once (the first audited statement of a transaction wins). The
-- check reads the table, not a setting, so a session cannot make its deletes anonymous by claiming
-- its metadata was already written.
CREATE OR REPLACE FUNCTION audit.note_transaction(xid bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM audit.transactions t WHERE t.txid = xid AND t.started_at = now()) THEN
    INSERT INTO audit.transactions (txid, started_at, actor, reason, application_name, session_role, acting_role, backend_pid, client_addr)
    VALUES (xid, now(), deletion.current_actor(), deletion.current_reason(), nullif(current_setting('application_name'), ''),
            session_user, audit.acting_role(), pg_backend_pid(), inet_client_addr())
    ON CONFLICT (txid, started_at) DO NOTHING;
  END IF;
END
$$;
COMMENT ON FUNCTION audit.note_transaction(bigint) IS 'Stores who, why and from where for the current transaction, once.';
REVOKE EXECUTE ON FUNCTION audit.note_transaction(bigint) FROM PUBLIC;

-- AFTER DELETE FOR EACH STATEMENT: every deleted row of the statement (or of the cascade wave that
-- reached this table) in one INSERT. Arguments, fixed by wire_audit: the excluded columns and the
-- primary-key columns, as array literals. SECURITY DEFINER so that the application role needs no
-- privilege on the log (and cannot write to it).
CREATE OR REPLACE FUNCTION audit.capture_delete()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  excluded text[] := TG_ARGV[0]::text[];
  k text[] := TG_ARGV[1]::text[];
  marker text := current_setting('audit.statement', true);
  statement_number integer := coalesce(nullif(split_part(marker, '/', 1), '')::integer, 0);
  cascaded boolean := split_part(marker, '/', 2) IS DISTINCT FROM TG_RELID::text;
  qualified_name text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
  excluding boolean := cardinality(TG_ARGV[0]::text[]) > 0;
  xid bigint;
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'audit.capture_delete'::regproc);
  IF NOT EXISTS (SELECT FROM old_rows) THEN
    RETURN NULL;
  END IF;
  xid := pg_current_xact_id()::text::bigint;
  IF NOT EXISTS (SELECT FROM audit.transactions t WHERE t.txid = xid AND t.started_at = now()) THEN
    PERFORM audit.note_transaction(xid);
  END IF;
  -- r is materialized so that to_jsonb runs once a row (a subquery in FROM is flattened, and its
  -- image would be computed again for every expression that names it)
  WITH r AS MATERIALIZED (
    SELECT CASE WHEN excluding THEN to_jsonb(o) - excluded ELSE to_jsonb(o) END AS img FROM old_rows o
  )
  INSERT INTO audit.log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, via_cascade)
  SELECT xid, statement_number, qualified_name, 'DELETE',
         CASE cardinality(k)
           WHEN 0 THEN NULL
           WHEN 1 THEN r.img ->> k[1]
           WHEN 2 THEN jsonb_build_array(r.img -> k[1], r.img -> k[2])::text
           ELSE (SELECT jsonb_agg(r.img -> c ORDER BY n) FROM unnest(k) WITH ORDINALITY AS u(c, n))::text
         END,
         CASE cardinality(k)
           WHEN 0 THEN NULL
           WHEN 1 THEN jsonb_build_object(k[1], r.img -> k[1])
           WHEN 2 THEN jsonb_build_object(k[1], r.img -> k[1], k[2], r.img -> k[2])
           ELSE (SELECT jsonb_object_agg(c, r.img -> c) FROM unnest(k) AS u(c))
         END,
         r.img,
         cascaded
    FROM r;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION audit.capture_delete() IS 'AFTER DELETE statement trigger: logs every deleted row of the statement with one INSERT.';

-- AFTER UPDATE FOR EACH STATEMENT: the old image of every changed row and the new values of the
-- columns that changed, old and new rows paired by primary key (its JSON array, key_of). Rows an
-- UPDATE left as they were are not logged. This is how the UPDATEs of ON DELETE SET NULL reach the
-- log, which restore undoes.
CREATE OR REPLACE FUNCTION audit.capture_update()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  excluded text[] := TG_ARGV[0]::text[];
  k text[] := TG_ARGV[1]::text[];
  marker text := current_setting('audit.statement', true);
  statement_number integer := coalesce(nullif(split_part(marker, '/', 1), '')::integer, 0);
  cascaded boolean := split_part(marker, '/', 2) IS DISTINCT FROM TG_RELID::text;
  qualified_name text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
  excluding boolean := cardinality(TG_ARGV[0]::text[]) > 0;
  xid bigint;
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'audit.capture_update'::regproc);
  IF NOT EXISTS (SELECT FROM old_rows) THEN
    RETURN NULL;
  END IF;
  xid := pg_current_xact_id()::text::bigint;
  IF NOT EXISTS (SELECT FROM audit.transactions t WHERE t.txid = xid AND t.started_at = now()) THEN
    PERFORM audit.note_transaction(xid);
  END IF;
  -- Each image is computed once a row and materialized (a flattened subquery would compute to_jsonb
  -- again wherever its image is named: for every column of the diff), and old and new rows are paired
  -- on the key's JSONB value (for a single key column the value itself, no array built a row).
  WITH o AS MATERIALIZED (
    SELECT r.img,
           CASE cardinality(k) WHEN 0 THEN NULL WHEN 1 THEN r.img -> k[1]
                ELSE (SELECT jsonb_agg(r.img -> c ORDER BY n) FROM unnest(k) WITH ORDINALITY AS u(c, n)) END AS key
      FROM (SELECT CASE WHEN excluding THEN to_jsonb(x) - excluded ELSE to_jsonb(x) END AS img FROM old_rows x) r
  ), n AS MATERIALIZED (
    SELECT r.img,
           CASE cardinality(k) WHEN 0 THEN NULL WHEN 1 THEN r.img -> k[1]
                ELSE (SELECT jsonb_agg(r.img -> c ORDER BY n) FROM unnest(k) WITH ORDINALITY AS u(c, n)) END AS key
      FROM (SELECT CASE WHEN excluding THEN to_jsonb(x) - excluded ELSE to_jsonb(x) END AS img FROM new_rows x) r
  )
  INSERT INTO audit.log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade)
  SELECT xid, statement_number, qualified_name, 'UPDATE',
         CASE cardinality(k) WHEN 0 THEN NULL WHEN 1 THEN o.img ->> k[1] ELSE o.key::text END,
         CASE cardinality(k)
           WHEN 0 THEN NULL
           WHEN 1 THEN jsonb_build_object(k[1], o.key)
           ELSE (SELECT jsonb_object_agg(c, o.img -> c) FROM unnest(k) AS u(c))
         END,
         o.img,
         (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(n.img) e WHERE e.value IS DISTINCT FROM o.img -> e.key),
         cascaded
    FROM o LEFT JOIN n ON n.key = o.key
   WHERE n.img IS DISTINCT FROM o.img;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION audit.capture_update() IS 'AFTER UPDATE statement trigger: logs the old image and the changed columns of every updated row with one INSERT.';

-- Makes one table's audit triggers match its registry row: installed when audit is on, removed when
-- it is off or the table is not registered. Idempotent; deletion.rewire() calls it for every
-- registered table after each migrate.
CREATE OR REPLACE FUNCTION deletion.wire_audit(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  policy deletion.table_policies;
  key_columns text[];
BEGIN
  IF to_regclass('audit.log') IS NULL THEN
    RETURN;  -- migration 0020 is not applied: nothing to wire
  END IF;
  policy := deletion.policy_of(target);
  IF policy IS NULL OR NOT policy.audit THEN
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_50_audit_statement ON %s', target);
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_50_audit_delete ON %s', target);
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_50_audit_update ON %s', target);
    RETURN;
  END IF;
  SELECT coalesce(array_agg(k.column_name::text), '{}') INTO key_columns FROM deletion.primary_key_columns(target) k;
  EXECUTE format('CREATE OR REPLACE TRIGGER deletion_50_audit_statement BEFORE UPDATE OR DELETE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION audit.begin_statement()', target);
  EXECUTE format('CREATE OR REPLACE TRIGGER deletion_50_audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_delete(%L, %L)',
                 target, policy.audit_exclude_columns::text, key_columns::text);
  EXECUTE format('CREATE OR REPLACE TRIGGER deletion_50_audit_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION audit.capture_update(%L, %L)',
                 target, policy.audit_exclude_columns::text, key_columns::text);
END
$$;
COMMENT ON FUNCTION deletion.wire_audit(regclass) IS 'Installs or removes the deletion_50_audit_* triggers of one table to match its registry row (idempotent).';

-- Turns auditing on for a table (registering it when needed) and sets the columns never stored.
-- Key columns cannot be excluded: restore finds rows by them.
CREATE OR REPLACE FUNCTION audit.enable(target regclass, exclude_columns text[] DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  unknown text;
  key_column text;
BEGIN
  SELECT c INTO unknown
    FROM unnest(coalesce(exclude_columns, '{}')) c
   WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = target AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped)
   LIMIT 1;
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'table % has no column "%" to exclude from the audit log', target, unknown
      USING ERRCODE = '42703', HINT = 'exclude_columns lists column names of the table, e.g. ARRAY[''password_hash'']';
  END IF;
  SELECT k.column_name INTO key_column
    FROM deletion.primary_key_columns(target) k
   WHERE k.column_name = ANY (exclude_columns)
   LIMIT 1;
  IF key_column IS NOT NULL THEN
    RAISE EXCEPTION 'column "%" is part of the primary key of %, which the audit log must keep', key_column, target
      USING ERRCODE = '22023', HINT = 'leave key columns out of exclude_columns; restore finds rows by their key';
  END IF;
  PERFORM deletion.register_table(target);
  UPDATE deletion.table_policies tp
     SET audit = true,
         audit_exclude_columns = ARRAY(SELECT DISTINCT c FROM unnest(coalesce(exclude_columns, '{}')) c ORDER BY c)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target AND tp.table_schema = n.nspname AND tp.table_name = c.relname;
  PERFORM deletion.wire_audit(target);
END
$$;
COMMENT ON FUNCTION audit.enable(regclass, text[]) IS 'Audits a table''s deletes and updates (idempotent); exclude_columns are never stored.';

-- Turns auditing off for a table: its registry row says so and its triggers are removed.
CREATE OR REPLACE FUNCTION audit.disable(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  UPDATE deletion.table_policies tp
     SET audit = false
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target AND tp.table_schema = n.nspname AND tp.table_name = c.relname;
  PERFORM deletion.wire_audit(target);
END
$$;
COMMENT ON FUNCTION audit.disable(regclass) IS 'Stops auditing a table: sets audit = false in its registry row and removes its triggers.';

-- The log is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks. Old months leave by
-- audit.drop_partitions_before, which drops whole partitions and never deletes a row. The one
-- exception is erasure's UPDATE made inside audit.redact (sql/24_audit_seal.sql), which
-- audit.redaction_allowed recognises.
CREATE OR REPLACE FUNCTION audit.refuse_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF audit.redaction_allowed(TG_RELID, to_jsonb(OLD), to_jsonb(NEW)) THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'PD201', HINT = 'old entries leave by whole months: SELECT audit.drop_partitions_before(<cutoff>)';
END
$$;
COMMENT ON FUNCTION audit.refuse_change() IS 'Trigger that keeps the audit tables append-only (SQLSTATE PD201).';

DO $append_only$
DECLARE
  log_table text;
BEGIN
  FOREACH log_table IN ARRAY ARRAY['audit.log', 'audit.transactions', 'audit.restorations'] LOOP
    CONTINUE WHEN to_regclass(log_table) IS NULL;
    EXECUTE format('CREATE OR REPLACE TRIGGER deletion_00_append_only BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()', log_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER deletion_00_append_only_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()', log_table);
  END LOOP;
END
$append_only$;
