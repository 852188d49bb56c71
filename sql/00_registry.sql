-- The policy registry's functions. The registry (deletion.table_policies) is data and is versioned by
-- migrations; what hangs off it (triggers, policies, indexes) is derived from it here, so the runner
-- can drop and recreate all engine code on every upgrade and end with the same wiring.

-- Each concern (soft delete, audit, protection, files, ...) defines deletion.wire_<concern>(regclass):
-- an idempotent function that makes one table's triggers and policies match its registry row.
-- rewire() calls every one of them for every registered table that exists: wire_soft_delete first,
-- because it adds the columns (deleted_at, ...) that other concerns' triggers name, then the rest in
-- name order. The runner calls it after (re)applying the sql/ modules; nothing else needs to.
CREATE OR REPLACE FUNCTION deletion.wire_functions()
RETURNS SETOF regprocedure
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT p.oid::regprocedure
    FROM pg_proc p
   WHERE p.pronamespace = 'deletion'::regnamespace
     AND p.proname LIKE 'wire\_%'
     AND p.proargtypes = '2205'::oidvector  -- exactly one regclass argument
   ORDER BY p.proname <> 'wire_soft_delete', p.proname = 'wire_partitions', p.proname
$$;
COMMENT ON FUNCTION deletion.wire_functions() IS 'Every deletion.wire_<concern>(regclass), soft delete first, wire_partitions last (it copies what the others installed), the rest by name.';

CREATE OR REPLACE FUNCTION deletion.rewire()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN deletion.rewire_tables(NULL);  -- (defined below; PL/pgSQL resolves it when called)
END
$$;
COMMENT ON FUNCTION deletion.rewire() IS 'Re-derives every registered table''s triggers and policies from the registry by calling each deletion.wire_<concern>(regclass); run by the migrate command after the sql/ modules.';

-- rewire() for some tables only (targets NULL: every registered table). What migrate runs after a
-- product's own migrations when the engine itself did not change: only the tables those migrations
-- touched (deletion.touched_tables) can have a wiring that changed, and re-deriving the wiring of
-- every registered table would keep the migration's locks (an enable_soft_delete's ACCESS EXCLUSIVE)
-- held for that long, on a large schema hundreds of milliseconds, before the commit.
CREATE OR REPLACE FUNCTION deletion.rewire_tables(targets regclass[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  wire regprocedure;
  tables regclass[] := ARRAY(SELECT r.rel
                               FROM deletion.table_policies tp,
                                    LATERAL (SELECT to_regclass(format('%I.%I', tp.table_schema, tp.table_name)) AS rel) r
                              WHERE r.rel IS NOT NULL AND (targets IS NULL OR r.rel = ANY (targets))
                              ORDER BY tp.table_schema, tp.table_name);
  target regclass;
  wired integer := 0;
BEGIN
  FOR wire IN SELECT deletion.wire_functions() LOOP
    FOREACH target IN ARRAY tables LOOP
      EXECUTE format('SELECT %s($1)', wire::oid::regproc) USING target;
      wired := wired + 1;
    END LOOP;
  END LOOP;
  -- The soft-delete walks follow keys between tables (sql/12_soft_delete_walk.sql): written again
  -- once for all the tables wired, not once a table.
  PERFORM deletion.regenerate_soft_delete_walks(tables);
  RETURN wired;
END
$$;
COMMENT ON FUNCTION deletion.rewire_tables(regclass[]) IS 'deletion.rewire() for the given registered tables only (NULL: every one).';

-- Stamps a registry row with the top-level transaction that writes it, so that migrate can tell the
-- tables a product migration registered or changed (deletion.touched_tables), whatever function or
-- statement wrote the row. jsonb_populate_record leaves a row without the column (a database
-- migrated down below the migration that adds it) as it is.
CREATE OR REPLACE FUNCTION deletion.note_registry_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  NEW := jsonb_populate_record(NEW, jsonb_build_object('written_in', pg_current_xact_id()::text));
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION deletion.note_registry_write() IS 'Trigger function: sets table_policies.written_in to the writing transaction (read by deletion.touched_tables).';

CREATE OR REPLACE TRIGGER deletion_00_registry_written_in BEFORE INSERT OR UPDATE ON deletion.table_policies
  FOR EACH ROW EXECUTE FUNCTION deletion.note_registry_write();

-- The registered tables whose wiring the current transaction may have changed: those it holds a lock
-- on stronger than a read's (ACCESS SHARE), a partition counting as its registered ancestor; those
-- whose registry row it inserted or updated (table_policies.written_in); and the
-- registered tables referencing or referenced by any of these (their live-parent triggers and the
-- engine's grants follow the keys between them). Computed from pg_locks of this backend, so a
-- product migration that altered a table, added a foreign key or attached a partition is seen
-- without the runner parsing its SQL.
CREATE OR REPLACE FUNCTION deletion.touched_tables()
RETURNS SETOF regclass
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN QUERY
  WITH registered AS (
    SELECT c.oid
      FROM deletion.table_policies tp
      JOIN pg_namespace n ON n.nspname = tp.table_schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = tp.table_name
  ), locked AS (
    SELECT DISTINCT coalesce((SELECT a.relid FROM pg_partition_ancestors(l.relation) a
                               WHERE a.relid IN (SELECT oid FROM registered)
                               ORDER BY a.relid = l.relation DESC LIMIT 1), l.relation) AS oid
      FROM pg_locks l
     WHERE l.locktype = 'relation' AND l.pid = pg_backend_pid() AND l.granted
       AND l.mode <> 'AccessShareLock' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  ), written AS (
    -- registry rows this transaction inserted or updated, in any of its subtransactions
    -- (written_in is the top-level id, set by deletion.note_registry_write)
    SELECT c.oid
      FROM deletion.table_policies tp
      JOIN pg_namespace n ON n.nspname = tp.table_schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = tp.table_name
     WHERE tp.written_in = pg_current_xact_id_if_assigned()
  ), touched AS (
    SELECT oid FROM locked WHERE oid IN (SELECT oid FROM registered)
    UNION SELECT oid FROM written
  )
  SELECT t.oid::regclass FROM touched t
  UNION
  SELECT CASE WHEN con.conrelid = t.oid THEN con.confrelid ELSE con.conrelid END::regclass
    FROM touched t
    JOIN pg_constraint con ON con.contype = 'f' AND con.conparentid = 0 AND t.oid IN (con.conrelid, con.confrelid)
   WHERE CASE WHEN con.conrelid = t.oid THEN con.confrelid ELSE con.conrelid END IN (SELECT oid FROM registered);
END
$$;
COMMENT ON FUNCTION deletion.touched_tables() IS 'The registered tables whose wiring the current transaction may have changed (locked above ACCESS SHARE, registry row written, or linked to one by a foreign key): what migrate rewires after a product''s migrations.';

-- rewire() as migrate runs it: every attempt with a short lock_timeout, so that the brief ACCESS
-- EXCLUSIVE steps of the wiring (DROP/CREATE TRIGGER, CREATE POLICY) never wait long in a table's lock
-- queue, where every later query on the table would wait behind them. An attempt that cannot take a
-- lock in time is undone whole (a subtransaction: the locks it took are released at once) and tried
-- again after a short, growing, jittered pause, until give_up_after has passed; then 55P03, with
-- nothing changed. lock_timeout is a standard setting, put back as it was before returning.
CREATE OR REPLACE FUNCTION deletion.rewire_with_retries(attempt_lock_timeout interval, give_up_after interval, targets regclass[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  previous text := current_setting('lock_timeout');
  started timestamptz := clock_timestamp();
  attempt integer := 0;
  wired integer;
BEGIN
  LOOP
    attempt := attempt + 1;
    BEGIN
      PERFORM set_config('lock_timeout', greatest(1, (extract(epoch FROM attempt_lock_timeout) * 1000)::bigint)::text || 'ms', true);
      wired := deletion.rewire_tables(targets);
      PERFORM set_config('lock_timeout', previous, true);
      RETURN wired;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM set_config('lock_timeout', previous, true);
      IF clock_timestamp() - started >= give_up_after THEN
        RAISE EXCEPTION 'rewiring the registered tables could not take its locks within % (% attempts, each waiting at most %)',
                        give_up_after, attempt, attempt_lock_timeout
          USING ERRCODE = '55P03',
                HINT = 'a long transaction holds a registered table (see pg_stat_activity); let it finish and run deletion-kit migrate again: nothing was changed';
      END IF;
      PERFORM pg_sleep(least(2.0, 0.05 * power(2, least(attempt, 6))) * (0.5 + random()));
    END;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.rewire_with_retries(interval, interval, regclass[]) IS 'deletion.rewire_tables(targets) with a short lock_timeout per attempt, retried with back-off until give_up_after (55P03 then); what deletion-kit migrate runs.';

CREATE OR REPLACE FUNCTION deletion.rewire_with_retries(attempt_lock_timeout interval DEFAULT '200 milliseconds',
                                                        give_up_after interval DEFAULT '5 minutes')
RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog
AS $$
  SELECT deletion.rewire_with_retries(attempt_lock_timeout, give_up_after, NULL)
$$;
COMMENT ON FUNCTION deletion.rewire_with_retries(interval, interval) IS 'deletion.rewire() with a short lock_timeout per attempt, retried with back-off until give_up_after (55P03 then); what deletion-kit migrate runs.';

-- A trigger or policy the wiring installs, installed only when it differs from what is there. The
-- object's comment carries a digest of the statement that made it ('deletion engine wiring <md5>'),
-- so an unchanged object is recognised without parsing PostgreSQL's deparsed form, and rewiring a
-- table whose wiring did not change runs no DDL and takes no lock on it (DROP and CREATE TRIGGER,
-- CREATE POLICY would take SHARE ROW EXCLUSIVE or ACCESS EXCLUSIVE every time). statement NULL: the
-- object must not exist. Returns whether anything changed.
CREATE OR REPLACE FUNCTION deletion.wiring_stamp(statement text, description text DEFAULT NULL)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT concat_ws(' ', description, format('(deletion engine wiring %s)', left(md5(statement), 16)))
$$;
COMMENT ON FUNCTION deletion.wiring_stamp(text, text) IS 'The comment a wired trigger or policy carries: its description and a digest of the statement that created it.';

CREATE OR REPLACE FUNCTION deletion.ensure_trigger(target regclass, trigger_name name, statement text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  existing oid := (SELECT t.oid FROM pg_trigger t WHERE t.tgrelid = target AND t.tgname = trigger_name AND t.tgparentid = 0);
BEGIN
  IF statement IS NULL THEN
    IF existing IS NULL THEN
      RETURN false;
    END IF;
    EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, target);
    RETURN true;
  END IF;
  IF existing IS NOT NULL AND obj_description(existing, 'pg_trigger') IS NOT DISTINCT FROM deletion.wiring_stamp(statement) THEN
    RETURN false;
  END IF;
  IF existing IS NOT NULL THEN
    EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, target);
  END IF;
  EXECUTE statement;
  EXECUTE format('COMMENT ON TRIGGER %I ON %s IS %L', trigger_name, target, deletion.wiring_stamp(statement));
  RETURN true;
END
$$;
COMMENT ON FUNCTION deletion.ensure_trigger(regclass, name, text) IS 'Creates (or drops, statement NULL) one wired trigger only when it differs from the statement that made it (digest in its comment): no DDL, no lock, when unchanged.';

-- The name of a function the wiring generates for a table: '<kind>_<table name, letters and digits
-- only, at most 30>_<first 8 hex digits of md5 of the quoted schema.table>' (kind 'soft_delete_walk',
-- 'capture_delete', 'live_parent_update', ...). Plain ASCII, at most 63 bytes for the kinds the engine
-- uses, stable for as long as the table keeps its name, and different for tables of the same name in
-- two schemas; NULL when there is no such table. PL/pgSQL over pg_identify_object_as_address, which
-- reads the names from the catalog cache (unquoted): every soft delete asks for its table's walk, and
-- as an SQL function joining pg_class and pg_namespace this cost 57 µs a soft delete, now 30.
CREATE OR REPLACE FUNCTION deletion.generated_function_name(target regclass, kind text)
RETURNS name
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  names text[] := (pg_identify_object_as_address('pg_class'::regclass, target, 0)).object_names;  -- {schema, table}
BEGIN
  IF names IS NULL THEN   -- no such table
    RETURN NULL;
  END IF;
  RETURN format('%s_%s_%s', kind,
                left(trim(BOTH '_' FROM regexp_replace(lower(names[2]), '[^a-z0-9]+', '_', 'g')), 30),
                left(md5(format('%I.%I', names[1], names[2])), 8))::name;
END
$$;
COMMENT ON FUNCTION deletion.generated_function_name(regclass, text) IS 'The name of the function of one kind the wiring generates for a table (<kind>_<table>_<digest>).';

-- The functions the wiring generates for each table (audit captures, soft-delete walks, live-parent
-- update checks) are the engine's like its modules' functions: each one, once created, gets the
-- comment that marks it as generated and carries the digest the wiring compares next time, no
-- EXECUTE for PUBLIC (a trigger fires without it; a walk's only caller runs as the owner), and
-- deletion_owner as its owner (the wiring role is a member of it).
CREATE OR REPLACE FUNCTION deletion.adopt_generated_function(fn regprocedure, stamp text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  EXECUTE format('COMMENT ON FUNCTION %s IS %L', fn, stamp);
  EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
  IF to_regrole('deletion_owner') IS NOT NULL AND (SELECT proowner FROM pg_proc WHERE oid = fn) <> 'deletion_owner'::regrole THEN
    EXECUTE format('ALTER FUNCTION %s OWNER TO deletion_owner', fn);
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.adopt_generated_function(regprocedure, text) IS 'Gives a function the wiring generated its comment (marker and digest), no EXECUTE for PUBLIC, and deletion_owner as owner.';

-- Creates or replaces a generated function from its statement, only when the statement changed (the
-- digest in `stamp`, kept in its comment, as for wired triggers: a rewire that changes nothing runs
-- no DDL), and adopts it (above). `signature` is the function as to_regprocedure reads it. Returns
-- the function.
CREATE OR REPLACE FUNCTION deletion.ensure_generated_function(signature text, statement text, stamp text)
RETURNS regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  fn regprocedure := to_regprocedure(signature);
BEGIN
  IF fn IS NOT NULL AND obj_description(fn, 'pg_proc') IS NOT DISTINCT FROM stamp THEN
    RETURN fn;
  END IF;
  EXECUTE statement;
  fn := to_regprocedure(signature);
  PERFORM deletion.adopt_generated_function(fn, stamp);
  RETURN fn;
END
$$;
COMMENT ON FUNCTION deletion.ensure_generated_function(text, text, text) IS 'Creates or replaces a generated function when its statement changed (digest in its comment), and adopts it.';

-- Drops the generated trigger functions of one kind (in `schema_name`, named LIKE `name_pattern`,
-- their comment starting with `marker`) that no trigger runs any more: a table renamed, dropped or
-- no longer wired for them. The wiring calls it after it has wired a table.
CREATE OR REPLACE FUNCTION deletion.drop_unused_generated_functions(schema_name regnamespace, name_pattern text, marker text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  fn regprocedure;
BEGIN
  FOR fn IN
    SELECT p.oid::regprocedure
      FROM pg_proc p
     WHERE p.pronamespace = schema_name AND p.proname LIKE name_pattern
       AND starts_with(coalesce(obj_description(p.oid, 'pg_proc'), ''), marker)
       AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgfoid = p.oid)
  LOOP
    EXECUTE format('DROP FUNCTION %s', fn);
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.drop_unused_generated_functions(regnamespace, text, text) IS 'Drops the generated trigger functions of one kind that no trigger runs.';

CREATE OR REPLACE FUNCTION deletion.ensure_policy(target regclass, policy_name name, statement text, description text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  existing oid := (SELECT p.oid FROM pg_policy p WHERE p.polrelid = target AND p.polname = policy_name);
BEGIN
  IF statement IS NULL THEN
    IF existing IS NULL THEN
      RETURN false;
    END IF;
    EXECUTE format('DROP POLICY %I ON %s', policy_name, target);
    RETURN true;
  END IF;
  IF existing IS NOT NULL AND obj_description(existing, 'pg_policy') IS NOT DISTINCT FROM deletion.wiring_stamp(statement, description) THEN
    RETURN false;
  END IF;
  IF existing IS NOT NULL THEN
    EXECUTE format('DROP POLICY %I ON %s', policy_name, target);
  END IF;
  EXECUTE statement;
  EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', policy_name, target, deletion.wiring_stamp(statement, description));
  RETURN true;
END
$$;
COMMENT ON FUNCTION deletion.ensure_policy(regclass, name, text, text) IS 'Creates (or drops, statement NULL) one wired policy only when it differs from the statement that made it (digest in its comment): no DDL, no lock, when unchanged.';

-- An index the wiring needs on a product table, named and defined by the caller ('(cols) WHERE ...').
-- When a valid index of that name exists: nothing, and no lock (CREATE INDEX IF NOT EXISTS would take
-- SHARE on the table even then). When the table is large (over 8 MB) and not partitioned, the build is
-- left for after the transaction: the CREATE INDEX CONCURRENTLY statement goes to
-- deletion.deferred_index_builds (migration 0080) and deletion-kit migrate runs it once its
-- transaction has committed, so the build never holds the transaction's locks while it scans the
-- table. Otherwise the index is built here (an INVALID one of that name, left by an interrupted
-- concurrent build, is dropped first).
CREATE OR REPLACE FUNCTION deletion.create_index(target regclass, index_name name, definition text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  schema_name name := (SELECT relnamespace::regnamespace::name FROM pg_class WHERE oid = target);
  existing record;
BEGIN
  SELECT i.indisvalid INTO existing
    FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
   WHERE c.relname = index_name AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = target);
  IF existing.indisvalid THEN
    RETURN;
  END IF;
  IF to_regclass('deletion.deferred_index_builds') IS NOT NULL
     AND (SELECT relkind FROM pg_class WHERE oid = target) = 'r'
     AND pg_relation_size(target) > 8 * 1024 * 1024 THEN
    EXECUTE 'INSERT INTO deletion.deferred_index_builds (table_schema, table_name, index_name, statement) VALUES ($1, $2, $3, $4)
             ON CONFLICT (table_schema, index_name) DO UPDATE SET statement = excluded.statement'
      USING schema_name, (SELECT relname FROM pg_class WHERE oid = target), index_name,
            format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %s %s', index_name, target, definition);
    RETURN;
  END IF;
  IF existing.indisvalid IS NOT NULL THEN
    EXECUTE format('DROP INDEX %I.%I', schema_name, index_name);
  END IF;
  EXECUTE format('CREATE INDEX %I ON %s %s', index_name, target, definition);
END
$$;
COMMENT ON FUNCTION deletion.create_index(regclass, name, text) IS 'Builds an index the wiring needs unless a valid one of that name exists; on a large table, leaves a CREATE INDEX CONCURRENTLY for deletion-kit migrate to run after its transaction (deletion.deferred_index_builds).';

-- The same for one table: what register_table calls, so a table is wired the moment it is registered.
CREATE OR REPLACE FUNCTION deletion.wire(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  wire regprocedure;
BEGIN
  FOR wire IN SELECT deletion.wire_functions() LOOP
    EXECUTE format('SELECT %s($1)', wire::oid::regproc) USING target;
  END LOOP;
  PERFORM deletion.regenerate_soft_delete_walks(ARRAY[target]);  -- as rewire_tables does
END
$$;
COMMENT ON FUNCTION deletion.wire(regclass) IS 'Makes one table''s triggers, policies and grants match its registry row, every concern (called by register_table).';

-- The registry row of a table, or a clear error when the table is not registered.
CREATE OR REPLACE FUNCTION deletion.policy_of(target regclass)
RETURNS deletion.table_policies
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT tp.*
    FROM deletion.table_policies tp
    JOIN pg_class c ON c.relname = tp.table_name
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = tp.table_schema
   WHERE c.oid = target
$$;
COMMENT ON FUNCTION deletion.policy_of(regclass) IS 'The registry row of a table (NULL when it has none).';

-- Registers a table (idempotent) and wires it at once: the engine's access, and whatever the row's
-- defaults ask for (audit is on by default). Concern-specific options are set by that concern's
-- enable_* function, which wires again.
CREATE OR REPLACE FUNCTION deletion.register_table(target regclass, description text DEFAULT '')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  relation pg_class := (SELECT c FROM pg_class c WHERE c.oid = target);
BEGIN
  IF relation.relkind NOT IN ('r', 'p') OR relation.relpersistence = 't'
     OR relation.relnamespace IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'pg_toast'::regnamespace)
     OR relation.relnamespace::regnamespace::text = ANY (ARRAY['deletion', 'audit', 'deletion_work', 'deletion_kit']) THEN
    RAISE EXCEPTION '% cannot be registered: the deletion engine governs ordinary and partitioned tables of a product, not temporary tables, views, system catalogs or its own tables', target
      USING ERRCODE = '42809', HINT = 'register the product''s own tables';
  END IF;
  INSERT INTO deletion.table_policies (table_schema, table_name, description)
  SELECT n.nspname, c.relname, coalesce(register_table.description, '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target
  ON CONFLICT (table_schema, table_name) DO UPDATE
     SET description = CASE WHEN excluded.description = '' THEN deletion.table_policies.description
                            ELSE excluded.description END;
  PERFORM deletion.wire(target);
END
$$;
COMMENT ON FUNCTION deletion.register_table(regclass, text) IS 'Adds a table to the deletion policy registry (idempotent); the description says why it is deleted the way it is.';

-- The engine's access to a registered table. The engine's SECURITY DEFINER functions run as
-- deletion_owner (see sql/99_privileges.sql), which owns no product table and bypasses no row-level
-- security; what it may do to a table is granted here, by the table's owner, when the table is
-- registered: read and write its rows (soft delete and restore, purge, audit restore, a job's
-- chunks), and a permissive policy that lets it past the table's own row-level security (in force
-- only while the table has RLS turned on). Triggers that fire during the engine's statements run
-- with these rights and no more. Idempotent and silent when nothing is missing, so rewire() takes no
-- lock on a table that is already wired.
CREATE OR REPLACE FUNCTION deletion.wire_engine_access(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  access record;
  missing text[];
BEGIN
  IF deletion.policy_of(target) IS NULL THEN
    RETURN;
  END IF;
  -- The table's rows, and read access to the tables it references, registered or not: an audit
  -- restore checks that the parents of the rows it brings back exist (as PostgreSQL's own key check
  -- would, which runs as the parent's owner). A parent is granted where the wiring role may grant it;
  -- elsewhere the restore's check says what it cannot read.
  FOR access IN
    SELECT target AS rel, ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] AS privileges
    UNION ALL
    SELECT DISTINCT con.confrelid::regclass, ARRAY['SELECT']
      FROM pg_constraint con JOIN pg_class p ON p.oid = con.confrelid
     WHERE con.contype = 'f' AND con.conrelid = target AND con.confrelid <> target
       AND (has_table_privilege(con.confrelid, 'SELECT WITH GRANT OPTION') OR pg_has_role(p.relowner, 'USAGE'))
  LOOP
    IF NOT has_schema_privilege('deletion_owner', (SELECT relnamespace FROM pg_class WHERE oid = access.rel), 'USAGE') THEN
      EXECUTE format('GRANT USAGE ON SCHEMA %I TO deletion_owner',
                     (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = access.rel));
    END IF;
    missing := ARRAY(SELECT p FROM unnest(access.privileges) p WHERE NOT has_table_privilege('deletion_owner', access.rel, p));
    IF cardinality(missing) > 0 THEN
      EXECUTE format('GRANT %s ON %s TO deletion_owner', array_to_string(missing, ', '), access.rel);
    END IF;
  END LOOP;
  IF NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = target AND polname = 'deletion_00_engine') THEN
    EXECUTE format('CREATE POLICY deletion_00_engine ON %s AS PERMISSIVE FOR ALL TO deletion_owner USING (true) WITH CHECK (true)', target);
    EXECUTE format('COMMENT ON POLICY deletion_00_engine ON %s IS %L', target,
                   'The deletion engine (role deletion_owner) reads and writes every row, deleted ones included, as foreign-key actions do.');
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.wire_engine_access(regclass) IS 'Grants the engine''s role (deletion_owner) the row access it needs on a registered table, and a policy past the table''s row-level security (idempotent; called by deletion.rewire()).';

-- Whether a trigger that called an engine trigger function is one the engine's wiring installed: the
-- trigger of that name on that table runs that function, the table is registered (itself or, for a
-- partition, its partitioned parent) and is not a temporary table. The engine's SECURITY DEFINER
-- trigger functions call it first and refuse to run otherwise, so attaching them to a table of one's
-- own (a temp table) gains nothing even for a role that may execute them. PL/pgSQL, not SQL: it runs
-- on every audited statement, and PL/pgSQL keeps its queries' plans for the session where a SQL
-- function called from a trigger plans it again on every call. For the same reason the common case
-- comes first and alone: a registered table, found by the schema and name that
-- pg_identify_object_as_address reads from the catalog cache (unquoted, where pg_identify_object
-- quotes them), one probe of the registry (a join of pg_class, pg_namespace and the registry cost
-- 30 µs a call; the whole check took 78 µs, this path takes 56). Only a table that is not registered itself
-- (a partition) has its ancestors read, and their names looked up the same way.
CREATE OR REPLACE FUNCTION deletion.is_engine_trigger(relid oid, trigger_name name, trigger_function regproc)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = relid AND t.tgname = trigger_name AND t.tgfoid = trigger_function) THEN
    RETURN false;
  END IF;
  -- a temporary table's schema reads as pg_temp, which no registry row names (deletion.register_table
  -- refuses temporary tables, and no schema of that name can be created)
  IF EXISTS (SELECT FROM pg_identify_object_as_address('pg_class'::regclass, relid, 0) o
               JOIN deletion.table_policies tp ON tp.table_schema = o.object_names[1] AND tp.table_name = o.object_names[2]
              WHERE o.object_names[1] <> 'pg_temp') THEN
    RETURN true;
  END IF;
  -- a partition: one of its ancestors is registered, found the same way
  RETURN EXISTS (SELECT FROM pg_partition_ancestors(relid) a
                   CROSS JOIN LATERAL pg_identify_object_as_address('pg_class'::regclass, a.relid, 0) o
                   JOIN deletion.table_policies tp ON tp.table_schema = o.object_names[1] AND tp.table_name = o.object_names[2]
                  WHERE o.object_names[1] <> 'pg_temp');
END
$$;
COMMENT ON FUNCTION deletion.is_engine_trigger(oid, name, regproc) IS 'True when the named trigger on the table runs the given function and the table is a registered, non-temporary table (the guard of the engine''s SECURITY DEFINER trigger functions).';

-- The guard itself, the first statement of every engine SECURITY DEFINER trigger function: 42501
-- unless the engine installed the trigger that fired it.
CREATE OR REPLACE FUNCTION deletion.require_engine_trigger(relid oid, trigger_name name, trigger_function regproc)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  IF NOT deletion.is_engine_trigger(relid, trigger_name, trigger_function) THEN
    RAISE EXCEPTION 'engine trigger function % may only run from the trigger the deletion engine installed, not from trigger % on %',
                    trigger_function, trigger_name, relid::regclass
      USING ERRCODE = '42501',
            HINT = 'register the table (deletion.register_table) and let the engine wire it; its trigger functions never run on other tables';
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.require_engine_trigger(oid, name, regproc) IS 'Raises 42501 unless the named trigger on the table is one the engine installed for that function (the guard of the engine''s SECURITY DEFINER trigger functions).';

-- policy_of is read by functions the application's roles call (plan, lint, require_soft_delete_table);
-- it shows a registry row, which those roles may SELECT anyway. The rest is wiring, for the roles
-- that own tables and run migrations, and the guard, called inside the engine's own functions.
GRANT EXECUTE ON FUNCTION deletion.policy_of(regclass) TO deletion_app, deletion_admin;
