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
-- capture functions call it only when their own probe of audit.transactions finds no row for the
-- transaction; that probe reads the table, not a setting, so a session cannot make its deletes
-- anonymous by claiming its metadata was already written. ON CONFLICT covers the other callers.
-- The first audited statement of every transaction pays for this, so its values are written out
-- here rather than read through deletion.current_actor, deletion.current_reason and
-- audit.acting_role: SQL functions that pin search_path are called, not inlined, and the three calls
-- cost about 25 µs, half again the INSERT itself. They compute the same values.
CREATE OR REPLACE FUNCTION audit.note_transaction(xid bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  INSERT INTO audit.transactions (txid, started_at, actor, reason, application_name, session_role, acting_role, backend_pid, client_addr)
  VALUES (xid, now(),
          nullif(current_setting('deletion.actor', true), ''),
          nullif(current_setting('deletion.reason', true), ''),
          nullif(current_setting('application_name'), ''),
          session_user,
          CASE WHEN current_setting('role') = 'none' THEN session_user ELSE current_setting('role')::name END,
          pg_backend_pid(), inet_client_addr())
  ON CONFLICT (txid, started_at) DO NOTHING;
END
$$;
COMMENT ON FUNCTION audit.note_transaction(bigint) IS 'Stores who, why and from where for the current transaction, once.';
REVOKE EXECUTE ON FUNCTION audit.note_transaction(bigint) FROM PUBLIC;

-- AFTER DELETE FOR EACH STATEMENT: every deleted row of the statement (or of the cascade wave that
-- reached this table) in one INSERT. Arguments, fixed by wire_audit: the excluded columns and the
-- primary-key columns, as array literals, and the registered table's name (a partition's copy of the
-- trigger logs under its parent's name, sql/03_partitions.sql). SECURITY DEFINER so that the application role needs no
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
  qualified_name text := coalesce(TG_ARGV[2], format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));  -- the registered table, for a partition too
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
    SELECT CASE WHEN excluding THEN to_jsonb(o.*) - excluded ELSE to_jsonb(o.*) END AS img FROM old_rows o
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
  qualified_name text := coalesce(TG_ARGV[2], format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));  -- the registered table, for a partition too
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
      FROM (SELECT CASE WHEN excluding THEN to_jsonb(x.*) - excluded ELSE to_jsonb(x.*) END AS img FROM old_rows x) r
  ), n AS MATERIALIZED (
    SELECT r.img,
           CASE cardinality(k) WHEN 0 THEN NULL WHEN 1 THEN r.img -> k[1]
                ELSE (SELECT jsonb_agg(r.img -> c ORDER BY n) FROM unnest(k) WITH ORDINALITY AS u(c, n)) END AS key
      FROM (SELECT CASE WHEN excluding THEN to_jsonb(x.*) - excluded ELSE to_jsonb(x.*) END AS img FROM new_rows x) r
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

-- Typed capture. audit.capture_delete and audit.capture_update above work for any table, from its
-- rows' JSONB images: both images of every updated row, a diff of every column through jsonb_each,
-- old and new rows paired on JSONB keys (sorts that spill to disk, estimates far off). The wiring
-- therefore generates, for each audited table, two trigger functions that know its columns: they
-- pair old_rows and new_rows on the typed primary key (a hash join, estimated from the transition
-- tables' row counts), compare each column as its type does, and build JSONB only for what the log
-- keeps: the old image, the key, and the new values of the columns that changed. What they write is
-- what the generic functions write, row for row (test/pgtap/800_audit_typed_capture.sql compares the
-- two); the generic ones are the reference and stay for that.
--
-- A column is compared typed when, for its type, equal values are exactly the values whose JSONB
-- images are equal (integers, floats, numeric, boolean, uuid, dates and timestamps, bytea, jsonb, and
-- text under a deterministic collation); any other column (arrays, composite and range types,
-- citext, text under a nondeterministic collation, a domain over a domain) is compared by its JSONB
-- image, as the generic function compares it.

-- The name of a table's generated capture function: 'capture_<action>_<table>_<digest>'
-- (deletion.generated_function_name, at most 61 bytes); NULL for another action than delete or
-- update. Used with format('%I') all the same.
CREATE OR REPLACE FUNCTION audit.capture_function_name(target regclass, action text)
RETURNS name
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE WHEN lower(action) IN ('delete', 'update') THEN deletion.generated_function_name(target, 'capture_' || lower(action)) END
$$;
COMMENT ON FUNCTION audit.capture_function_name(regclass, text) IS 'The name (in schema audit) of the trigger function generated to capture a table''s deletes or updates.';

-- The comment every generated capture function starts with: how the wiring (and deletion-kit migrate,
-- which keeps them when it replaces the engine's code) tells them from the modules' functions.
CREATE OR REPLACE FUNCTION audit.generated_capture_marker()
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT 'generated by deletion.wire_audit:'::text
$$;
COMMENT ON FUNCTION audit.generated_capture_marker() IS 'The prefix of the comment of every generated audit capture function.';

-- The guard of a generated capture function when it fires on another table than its own or from a
-- trigger of another name: allowed only from the engine's trigger on a partition of that table (its
-- copy, sql/03_partitions.sql), else 42501 as deletion.require_engine_trigger raises it.
CREATE OR REPLACE FUNCTION audit.require_capture_trigger(relid oid, trigger_name name, registered regclass, trigger_function regproc)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  PERFORM deletion.require_engine_trigger(relid, trigger_name, trigger_function);
  IF deletion.registered_table_of(relid) IS DISTINCT FROM registered THEN
    RAISE EXCEPTION 'audit capture function % is generated for % and may not run on %', trigger_function, registered, relid::regclass
      USING ERRCODE = '42501', HINT = 'let the engine wire the table: SELECT deletion.wire(''<table>'')';
  END IF;
END
$$;
COMMENT ON FUNCTION audit.require_capture_trigger(oid, name, regclass, regproc) IS 'Raises 42501 unless a generated capture function fired from the engine''s trigger on its own table or a partition of it.';

-- The CREATE FUNCTION statement of a table's generated capture function for 'delete' or 'update',
-- from the catalog as it is now and the columns the audit log leaves out. Every name in it is
-- quoted by format('%I') / ('%L'); the table is referred to by its qualified name, so the function
-- survives a dump and restore (the oid does not).
CREATE OR REPLACE FUNCTION audit.capture_function_statement(target regclass, action text, excluded text[])
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $gen$
DECLARE
  fn name := audit.capture_function_name(target, action);
  keys record;
  cols record;
  insert_sql text;
BEGIN
  -- The key columns in key order: each one's record_id text and its join condition.
  SELECT count(*) AS n,
         string_agg(format('%L, o.%I', k.column_name, k.column_name), ', ' ORDER BY k.ord) AS object_args,
         string_agg(format('o.%I', k.column_name), ', ' ORDER BY k.ord) AS array_args,
         min(CASE WHEN k.ord = 1 THEN CASE WHEN k.text_as_json THEN format('o.%I::text', k.column_name)
                                           ELSE format('(to_jsonb(o.%I) #>> ''{}'')', k.column_name) END END) AS single_text,
         string_agg(CASE WHEN k.typed THEN format('o.%I = n.%I', k.column_name, k.column_name)
                         ELSE format('to_jsonb(o.%I) = to_jsonb(n.%I)', k.column_name, k.column_name) END, ' AND ' ORDER BY k.ord) AS join_on,
         min(CASE WHEN k.ord = 1 THEN format('n.%I', k.column_name) END) AS first_new
    INTO keys
    FROM (SELECT pk.column_name, pk.ord, ty.typed, ty.text_as_json
            FROM deletion.primary_key_columns(target) WITH ORDINALITY AS pk(column_name, type_name, ord)
            JOIN pg_attribute a ON a.attrelid = target AND a.attname = pk.column_name
            CROSS JOIN LATERAL audit.capture_column_kind(a.atttypid, a.attcollation) ty) k;
  -- The columns the log keeps, in table order: how each is compared and, when it changed, logged.
  SELECT string_agg(format('CASE WHEN %s THEN jsonb_build_object(%L, n.%I) ELSE ''{}''::jsonb END', c.differs, c.attname, c.attname),
                    E'\n           || ' ORDER BY c.attnum) AS changed,
         string_agg(c.differs, ' OR ' ORDER BY c.attnum) AS any_differs
    INTO cols
    FROM (SELECT a.attnum, a.attname,
                 CASE WHEN ty.typed THEN format('o.%I IS DISTINCT FROM n.%I', a.attname, a.attname)
                      ELSE format('to_jsonb(o.%I) IS DISTINCT FROM to_jsonb(n.%I)', a.attname, a.attname) END AS differs
            FROM pg_attribute a CROSS JOIN LATERAL audit.capture_column_kind(a.atttypid, a.attcollation) ty
           WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped
             AND NOT a.attname::text = ANY (coalesce(excluded, '{}'))) c;

  IF lower(action) = 'delete' THEN
    insert_sql := format(
      $f$INSERT INTO audit.log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, via_cascade)
  SELECT xid, statement_number, %L, 'DELETE', %s, %s, %s, cascaded
    FROM old_rows o;$f$,
      target::text,
      CASE keys.n WHEN 0 THEN 'NULL' WHEN 1 THEN keys.single_text ELSE format('jsonb_build_array(%s)::text', keys.array_args) END,
      CASE keys.n WHEN 0 THEN 'NULL' ELSE format('jsonb_build_object(%s)', keys.object_args) END,
      CASE WHEN cardinality(excluded) > 0 THEN format('to_jsonb(o.*) - %L::text[]', excluded::text) ELSE 'to_jsonb(o.*)' END);
  ELSIF keys.n = 0 THEN
    -- No key to pair old and new rows by: every old row is logged, changed unknown (as the generic
    -- function logs them).
    insert_sql := format(
      $f$INSERT INTO audit.log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade)
  SELECT xid, statement_number, %L, 'UPDATE', NULL, NULL, %s, NULL, cascaded
    FROM old_rows o;$f$,
      target::text,
      CASE WHEN cardinality(excluded) > 0 THEN format('to_jsonb(o.*) - %L::text[]', excluded::text) ELSE 'to_jsonb(o.*)' END);
  ELSE
    -- An old row whose key no new row has (the UPDATE changed the key) is logged with changed NULL;
    -- a row the UPDATE left as it was is not logged.
    insert_sql := format(
      $f$INSERT INTO audit.log (txid, statement_seq, table_name, action, record_id, primary_key, old_data, changed, via_cascade)
  SELECT xid, statement_number, %L, 'UPDATE', %s, %s, %s,
         CASE WHEN %s IS NULL THEN NULL ELSE '{}'::jsonb
           || %s END,
         cascaded
    FROM old_rows o LEFT JOIN new_rows n ON %s
   WHERE %s IS NULL OR %s;$f$,
      target::text,
      CASE keys.n WHEN 1 THEN keys.single_text ELSE format('jsonb_build_array(%s)::text', keys.array_args) END,
      format('jsonb_build_object(%s)', keys.object_args),
      CASE WHEN cardinality(excluded) > 0 THEN format('to_jsonb(o.*) - %L::text[]', excluded::text) ELSE 'to_jsonb(o.*)' END,
      keys.first_new, cols.changed, keys.join_on, keys.first_new, cols.any_differs);
  END IF;

  RETURN format(
$f$CREATE OR REPLACE FUNCTION audit.%I()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $capture$
DECLARE
  marker text := current_setting('audit.statement', true);
  statement_number integer := coalesce(nullif(split_part(marker, '/', 1), '')::integer, 0);
  cascaded boolean := split_part(marker, '/', 2) IS DISTINCT FROM TG_RELID::text;
  xid bigint;
BEGIN
  IF TG_RELID <> %L::regclass::oid OR TG_NAME <> %L THEN
    PERFORM audit.require_capture_trigger(TG_RELID, TG_NAME, %L::regclass, %L::regproc);
  END IF;
  IF NOT EXISTS (SELECT FROM old_rows) THEN
    RETURN NULL;
  END IF;
  xid := pg_current_xact_id()::text::bigint;
  IF NOT EXISTS (SELECT FROM audit.transactions t WHERE t.txid = xid AND t.started_at = now()) THEN
    PERFORM audit.note_transaction(xid);
  END IF;
  %s
  RETURN NULL;
END
$capture$$f$,
    fn, target::text, 'deletion_50_audit_' || lower(action), target::text, format('audit.%I', fn), insert_sql);
END
$gen$;
COMMENT ON FUNCTION audit.capture_function_statement(regclass, text, text[]) IS 'The CREATE FUNCTION statement of the capture trigger function generated for one audited table (delete or update).';

-- How a column of this type is compared and keyed by the generated functions: typed (equal values
-- are exactly those with equal JSONB images) and text_as_json (its text is the text of its JSONB
-- image, so a single-column key's record_id is a plain cast). A domain counts as its base type.
CREATE OR REPLACE FUNCTION audit.capture_column_kind(type_oid oid, collation_oid oid, OUT typed boolean, OUT text_as_json boolean)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT b.typname IN ('int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'bool', 'uuid', 'date', 'timestamp', 'timestamptz',
                       'bytea', 'jsonb', 'text', 'varchar')
           AND NOT EXISTS (SELECT FROM pg_collation co WHERE co.oid = collation_oid AND NOT co.collisdeterministic),
         b.typname IN ('int2', 'int4', 'int8', 'numeric', 'bool', 'uuid', 'text', 'varchar')
    FROM pg_type t JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
   WHERE t.oid = type_oid
$$;
COMMENT ON FUNCTION audit.capture_column_kind(oid, oid) IS 'Whether the generated capture functions compare a column of this type typed, and may take its text as its JSONB text.';

-- Drops generated capture functions no trigger runs any more (a table renamed, dropped or no longer
-- audited): the wiring calls it after it has rewired a table.
CREATE OR REPLACE FUNCTION audit.drop_unused_capture_functions()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog
AS $$
  SELECT deletion.drop_unused_generated_functions('audit', 'capture\_%\_%', audit.generated_capture_marker())
$$;
COMMENT ON FUNCTION audit.drop_unused_capture_functions() IS 'Drops the generated audit capture functions that no trigger runs.';

-- Creates or replaces one generated capture function, only when its statement changed
-- (deletion.ensure_generated_function). It belongs to deletion_owner like every engine function (the
-- wiring role is a member: it already needs that to attach the engine's trigger functions), and
-- nobody may execute it: a trigger needs no EXECUTE to fire. Returns the function.
CREATE OR REPLACE FUNCTION audit.ensure_capture_function(target regclass, action text, excluded text[])
RETURNS regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  statement text := audit.capture_function_statement(target, action, excluded);
BEGIN
  RETURN deletion.ensure_generated_function(
    format('audit.%I()', audit.capture_function_name(target, action)), statement,
    deletion.wiring_stamp(statement, format('%s audit capture of %s (%s)', audit.generated_capture_marker(), target, lower(action))));
END
$$;
COMMENT ON FUNCTION audit.ensure_capture_function(regclass, text, text[]) IS 'Creates or replaces a table''s generated audit capture function when its definition changed (owner deletion_owner, EXECUTE to nobody).';

-- Makes one table's audit triggers match its registry row: installed when audit is on, removed when
-- it is off or the table is not registered. Idempotent; deletion.rewire() calls it for every
-- registered table after each migrate. The triggers run the table's generated capture functions
-- (above); a partition's copies of them (sql/03_partitions.sql) run the same functions.
CREATE OR REPLACE FUNCTION deletion.wire_audit(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  policy deletion.table_policies;
  capture_delete regprocedure;
  capture_update regprocedure;
  fn name;
BEGIN
  IF to_regclass('audit.log') IS NULL THEN
    RETURN;  -- migration 0020 is not applied: nothing to wire
  END IF;
  policy := deletion.policy_of(target);
  IF policy IS NULL OR NOT policy.audit THEN
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_50_audit_statement ON %s', target);
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_50_audit_delete ON %s', target);
    EXECUTE format('DROP TRIGGER IF EXISTS deletion_50_audit_update ON %s', target);
    -- CASCADE: a partition's copies of the triggers go with the functions (wire_partitions, which
    -- runs next, would drop them anyway).
    FOREACH fn IN ARRAY ARRAY[audit.capture_function_name(target, 'delete'), audit.capture_function_name(target, 'update')] LOOP
      IF to_regprocedure(format('audit.%I()', fn)) IS NOT NULL THEN
        EXECUTE format('DROP FUNCTION audit.%I() CASCADE', fn);
      END IF;
    END LOOP;
    PERFORM audit.drop_unused_capture_functions();
    RETURN;
  END IF;
  capture_delete := audit.ensure_capture_function(target, 'delete', policy.audit_exclude_columns);
  capture_update := audit.ensure_capture_function(target, 'update', policy.audit_exclude_columns);
  -- (deletion.ensure_trigger: no DDL and no lock when a trigger is as this wiring made it.)
  PERFORM deletion.ensure_trigger(target, 'deletion_50_audit_statement',
    format('CREATE TRIGGER deletion_50_audit_statement BEFORE UPDATE OR DELETE ON %s '
           'FOR EACH STATEMENT EXECUTE FUNCTION audit.begin_statement()', target));
  PERFORM deletion.ensure_trigger(target, 'deletion_50_audit_delete',
    format('CREATE TRIGGER deletion_50_audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
           'FOR EACH STATEMENT EXECUTE FUNCTION %s', target, capture_delete));
  PERFORM deletion.ensure_trigger(target, 'deletion_50_audit_update',
    format('CREATE TRIGGER deletion_50_audit_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
           'FOR EACH STATEMENT EXECUTE FUNCTION %s', target, capture_update));
  PERFORM audit.drop_unused_capture_functions();
END
$$;
COMMENT ON FUNCTION deletion.wire_audit(regclass) IS 'Installs or removes the deletion_50_audit_* triggers of one table and its generated capture functions to match its registry row (idempotent).';

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
  PERFORM deletion.wire_partitions(target);
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
  PERFORM deletion.wire_partitions(target);
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
