-- Soft delete, part 8: archive storage. A table registered with storage = 'archive' keeps no deleted
-- rows: a DELETE on it is a real DELETE, so every client is told the rows it deleted (DELETE 1) and
-- RETURNING returns them, and the foreign keys act as declared (CASCADE removes, SET NULL clears).
-- What went is already kept, exactly, by the audit log: every row the statement and its cascade
-- removed and every reference it set to NULL, under the statement's (txid, statement_seq). So the
-- engine needs only one more thing: to know that statement as a soft-delete operation.
--
--   wiring    deletion.wire_archive(t) checks that the table may leave rows (archive_blockers: a
--             primary key; no RESTRICT or NO ACTION key references it, since a referenced row could
--             not leave; it and every table its cascades and SET NULLs reach are audited; no table
--             its cascades reach keeps deleted rows in place, whose trigger would swallow the
--             cascaded DELETE) and installs deletion_70_archive
--   deleting  deletion_70_archive, AFTER DELETE, per statement, after the audit capture
--             (deletion_50_audit_delete) has logged the statement's rows: one row in
--             deletion.soft_delete_operations per audit statement (archive_txid, archive_statement_seq),
--             with the rows per table and the root's keys read from the log
--   restore   deletion.restore(op) hands the statement to audit.restore_statements (all or nothing,
--             conflicts refused with PD202); the trash asks archive_restore_conflicts
--   purge     deletion.purge_soft_deleted marks old archived operations purged like in-place ones;
--             their images leave with the audit log's retention
--   hard      a privileged role's SET LOCAL deletion.mode = 'hard' (and the engine's own hard paths:
--             purge, hard jobs, erasure) deletes without an operation; the audit log still has it
--
-- What the engine reads of the audit log is its row format (docs/audit.md): txid, statement_seq,
-- table_name, action, primary_key, via_cascade, created_at; never the capture's internals.

-- Every table a DELETE on target reaches through foreign-key actions: tables it cascades into (at any
-- depth, self-references included) with how, and tables whose references it sets to NULL or default.
CREATE OR REPLACE FUNCTION deletion.archive_reach(target regclass)
RETURNS TABLE (reached regclass, action text, via text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  WITH RECURSIVE cascade_reach (tbl, path) AS (
    SELECT target::oid, ARRAY[target::oid]
    UNION ALL
    SELECT c.conrelid, r.path || c.conrelid
      FROM cascade_reach r
      JOIN pg_constraint c ON c.contype = 'f' AND c.confrelid = r.tbl AND c.confdeltype = 'c'
     WHERE NOT c.conrelid = ANY (r.path)
  )
  SELECT DISTINCT c.conrelid::regclass,
         CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' END,
         format('%s (%s)', c.conname, c.confrelid::regclass)
    FROM (SELECT DISTINCT tbl FROM cascade_reach) r
    JOIN pg_constraint c ON c.contype = 'f' AND c.confrelid = r.tbl AND c.confdeltype IN ('c', 'n', 'd')
$$;
COMMENT ON FUNCTION deletion.archive_reach(regclass) IS 'The tables a DELETE on the table reaches through CASCADE (any depth), SET NULL and SET DEFAULT foreign keys, and by which key.';

-- Why a table cannot keep its deleted rows in the archive (the audit log), one line each; none: it can.
CREATE OR REPLACE FUNCTION deletion.archive_blockers(target regclass)
RETURNS SETOF text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  policy jsonb := to_jsonb(deletion.policy_of(target));
BEGIN
  IF to_regclass('audit.log') IS NULL THEN
    RETURN NEXT 'the audit log is not installed (migration 0020), and it is where archived rows are kept';
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT FROM deletion.primary_key_columns(target)) THEN
    RETURN NEXT format('%s has no primary key (archived rows are named and restored by it)', target);
  END IF;
  IF (policy ->> 'soft_delete')::boolean THEN
    RETURN NEXT format('%s keeps its deleted rows in place (soft_delete); turn that off first (deletion.disable_soft_delete, after restoring or purging its deleted rows)', target);
  END IF;
  RETURN QUERY
    SELECT format('%s is referenced by %s.%s ON DELETE %s: a referenced row cannot leave its table, so %s must stay in place',
                  target, c.conrelid::regclass, c.conname, CASE c.confdeltype WHEN 'r' THEN 'RESTRICT' ELSE 'NO ACTION' END, target)
      FROM pg_constraint c
     WHERE c.contype = 'f' AND c.confrelid = target AND c.confdeltype IN ('r', 'a')
     ORDER BY 1;
  RETURN QUERY
    SELECT format('%s is not audited, so what a delete %s would be lost: audit it (audit.enable)',
                  t.tbl, CASE WHEN t.tbl = target THEN 'removes' ELSE format('does to it (%s %s)', r.action, r.via) END)
      FROM (SELECT target AS tbl UNION SELECT reached FROM deletion.archive_reach(target)) t
      LEFT JOIN LATERAL (SELECT * FROM deletion.archive_reach(target) ar WHERE ar.reached = t.tbl LIMIT 1) r ON true
     WHERE NOT coalesce((SELECT tp.audit FROM deletion.policy_of(t.tbl) tp), false)
     ORDER BY 1;
  RETURN QUERY
    SELECT format('%s keeps deleted rows in place and turns a DELETE into a soft delete, so the cascade %s cannot remove its rows: archive it too, or make %s a hard-delete table',
                  r.reached, r.via, r.reached)
      FROM deletion.archive_reach(target) r
     WHERE r.action = 'cascade' AND r.reached <> target
       AND coalesce((SELECT tp.delete_becomes_soft FROM deletion.policy_of(r.reached) tp), false)
     ORDER BY 1;
END
$$;
COMMENT ON FUNCTION deletion.archive_blockers(regclass) IS 'Why a table cannot use archive storage (a RESTRICT or NO ACTION reference, no primary key, an unaudited table in its reach, an in-place soft-delete table in its cascade); empty: it can.';

-- AFTER DELETE FOR EACH STATEMENT on an archived table (deletion_70_archive, argument 'root'): the
-- statement becomes one soft-delete operation, or joins the one its statement already has. Reads the
-- rows the audit capture (deletion_50_audit_delete, which fires first by name) logged. PostgreSQL
-- fires the root table's statement triggers before the foreign-key actions' own statements run, so
-- the tables a cascade reaches carry the trigger too (argument 'cascade'): each recounts the
-- operation when its share of the cascade is logged, and does nothing for a DELETE of its own.
-- SECURITY DEFINER: the application role may not write the operation log; guarded like every engine
-- trigger function. Sets deletion.soft_delete_op to the operation, as an in-place soft delete does.
CREATE OR REPLACE FUNCTION deletion.archive_operation()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  xid bigint;
  seq integer;
  counts jsonb;
  root record;
  new_op uuid;
BEGIN
  PERFORM deletion.require_engine_trigger(TG_RELID, TG_NAME, 'deletion.archive_operation'::regproc);
  IF NOT EXISTS (SELECT FROM old_rows) THEN
    RETURN NULL;
  END IF;
  xid := pg_current_xact_id()::text::bigint;
  -- The statement is the latest of the transaction in the log (created_at = now() prunes to one month).
  SELECT max(l.statement_seq) INTO seq FROM audit.log l WHERE l.txid = xid AND l.created_at = now();
  IF TG_ARGV[1] = 'cascade' THEN
    -- A table an archived table's cascade reaches: only a statement that is an archived operation
    -- already (the root's trigger fired first) is recounted; a DELETE of its own is a plain delete.
    IF seq IS NULL OR NOT EXISTS (SELECT FROM deletion.soft_delete_operations o
                                   WHERE o.archive_txid = xid AND o.archive_statement_seq = seq) THEN
      RETURN NULL;
    END IF;
  END IF;
  IF seq IS NULL THEN
    RAISE EXCEPTION 'archived table % deleted rows the audit log did not capture', TG_ARGV[0]
      USING ERRCODE = 'PD105', HINT = 'audit the table (audit.enable) and rewire it (deletion.wire)';
  END IF;
  SELECT jsonb_object_agg(c.table_name, c.n) INTO counts
    FROM (SELECT l.table_name, count(*) AS n FROM audit.log l
           WHERE l.txid = xid AND l.created_at = now() AND l.statement_seq = seq AND l.action = 'DELETE'
           GROUP BY l.table_name) c;
  -- The root: the rows the statement itself named (not via a cascade), of the first table it named.
  SELECT r.table_name, jsonb_agg(r.primary_key ORDER BY r.id) AS keys INTO root
    FROM audit.log r
   WHERE r.txid = xid AND r.created_at = now() AND r.statement_seq = seq AND r.action = 'DELETE' AND NOT r.via_cascade
     AND r.table_name = (SELECT f.table_name FROM audit.log f
                          WHERE f.txid = xid AND f.created_at = now() AND f.statement_seq = seq AND f.action = 'DELETE' AND NOT f.via_cascade
                          ORDER BY f.id LIMIT 1)
   GROUP BY r.table_name;
  INSERT INTO deletion.soft_delete_operations AS o
         (op, root_table, root_key, deleted_by, deletion_reason, performed_at, rows_per_table, archive_txid, archive_statement_seq)
  VALUES (gen_random_uuid(), coalesce(root.table_name, TG_ARGV[0]), coalesce(root.keys, '[]'), deletion.current_actor(),
          deletion.current_reason(), now(), coalesce(counts, '{}'), xid, seq)
  ON CONFLICT (archive_txid, archive_statement_seq) WHERE archive_txid IS NOT NULL
  DO UPDATE SET root_table = EXCLUDED.root_table, root_key = EXCLUDED.root_key, rows_per_table = EXCLUDED.rows_per_table
  RETURNING o.op INTO new_op;
  PERFORM set_config('deletion.soft_delete_op', new_op::text, true);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.archive_operation() IS 'AFTER DELETE statement trigger of an archived table: logs the statement (its audit txid and statement_seq) as one soft-delete operation.';

-- Makes one table's archive wiring match its registry row (idempotent; deletion.rewire() calls it):
-- the deletion_70_archive trigger when storage = 'archive', refused with PD105 (every blocker named)
-- when the table cannot leave rows; nothing otherwise. The trigger fires unless a privileged role
-- (deletion_admin, superuser, the table's owner) set deletion.mode = 'hard', the same test as the
-- in-place DELETE trigger's.
CREATE OR REPLACE FUNCTION deletion.wire_archive(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  policy jsonb := to_jsonb(deletion.policy_of(target));
  blockers text[];
  owner_oid oid := (SELECT relowner FROM pg_class WHERE oid = target);
BEGIN
  IF policy IS NULL OR policy ->> 'storage' IS DISTINCT FROM 'archive' THEN
    -- Not archived itself; but a table an archived table's cascade reaches recounts its operations.
    IF policy ? 'storage' AND to_regclass('audit.log') IS NOT NULL AND EXISTS (
         SELECT FROM deletion.table_policies tp
          CROSS JOIN LATERAL deletion.archive_reach(to_regclass(format('%I.%I', tp.table_schema, tp.table_name))) r
          WHERE to_jsonb(tp) ->> 'storage' = 'archive' AND to_regclass(format('%I.%I', tp.table_schema, tp.table_name)) IS NOT NULL
            AND r.reached = target AND r.action = 'cascade') THEN
      PERFORM deletion.ensure_trigger(target, 'deletion_70_archive',
        format($t$CREATE TRIGGER deletion_70_archive AFTER DELETE ON %1$s REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
                   EXECUTE FUNCTION deletion.archive_operation(%2$L, 'cascade')$t$, target, target::text));
    ELSIF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = target AND tgname = 'deletion_70_archive') THEN
      EXECUTE format('DROP TRIGGER deletion_70_archive ON %s', target);
    END IF;
    RETURN;  -- in place, unregistered, or migrated down below 0170
  END IF;
  blockers := ARRAY(SELECT deletion.archive_blockers(target));
  IF cardinality(blockers) > 0 THEN
    RAISE EXCEPTION 'archive storage on % is not possible: %', target, array_to_string(blockers, '; ')
      USING ERRCODE = 'PD105',
            HINT = 'keep the table in place (deletion.enable_soft_delete), or remove what blocks it; nothing was changed';
  END IF;
  PERFORM deletion.ensure_trigger(target, 'deletion_70_archive',
    format($t$CREATE TRIGGER deletion_70_archive AFTER DELETE ON %1$s REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
               WHEN (deletion.delete_stays_soft(%2$s::oid))
               EXECUTE FUNCTION deletion.archive_operation(%3$L, 'root')$t$, target, owner_oid, target::text));
END
$$;
COMMENT ON FUNCTION deletion.wire_archive(regclass) IS 'Installs or removes the deletion_70_archive trigger of one table to match its registry storage (PD105 when the table cannot be archived).';

-- Turns archive storage on for a table (registering and auditing it when needed) and wires it; PD105
-- names what blocks it, and then nothing changes.
CREATE OR REPLACE FUNCTION deletion.enable_archive(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  PERFORM deletion.register_table(target);
  UPDATE deletion.table_policies tp
     SET storage = 'archive', audit = true
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target AND tp.table_schema = n.nspname AND tp.table_name = c.relname
     AND NOT tp.soft_delete AND NOT tp.delete_becomes_soft;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'archive storage on % is not possible: it keeps its deleted rows in place', target
      USING ERRCODE = 'PD105', HINT = 'restore or purge its deleted rows, deletion.disable_soft_delete it, then enable archive storage';
  END IF;
  PERFORM deletion.wire(target);
  PERFORM deletion.wire_archive(r.reached) FROM (SELECT DISTINCT reached FROM deletion.archive_reach(target) WHERE reached <> target) r;
END
$$;
COMMENT ON FUNCTION deletion.enable_archive(regclass) IS 'Archive storage for a table: a DELETE removes its rows (and reports them), the audit log keeps them, deletion.restore(op) puts them back (PD105 when not possible).';

-- Turns archive storage off: a DELETE is a plain hard delete again (still audited). Operations already
-- in the trash stay restorable.
CREATE OR REPLACE FUNCTION deletion.disable_archive(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
  UPDATE deletion.table_policies tp
     SET storage = 'in_place'
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target AND tp.table_schema = n.nspname AND tp.table_name = c.relname;
  PERFORM deletion.wire(target);
  PERFORM deletion.wire_archive(r.reached) FROM (SELECT DISTINCT reached FROM deletion.archive_reach(target) WHERE reached <> target) r;
END
$$;
COMMENT ON FUNCTION deletion.disable_archive(regclass) IS 'Turns archive storage off for a table: DELETE is a plain (audited) delete again; archived operations stay restorable.';

-- deletion.soft_delete(target, pk) on an archived table: the caller's own DELETE of the row (its
-- privileges, its policies), whose trigger logs the operation; returns it. P0002 when no row was deleted.
CREATE OR REPLACE FUNCTION deletion.archive_delete(target regclass, pk text, reason text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  removed bigint;
  previous_reason text := current_setting('deletion.reason', true);
BEGIN
  PERFORM set_config('deletion.soft_delete_op', '', true);
  IF reason IS NOT NULL THEN
    PERFORM set_config('deletion.reason', reason, true);
  END IF;
  EXECUTE format('DELETE FROM %s WHERE %s', target, deletion.key_predicate(target, pk));
  GET DIAGNOSTICS removed = ROW_COUNT;
  IF reason IS NOT NULL THEN
    PERFORM set_config('deletion.reason', coalesce(previous_reason, ''), true);
  END IF;
  IF removed = 0 THEN
    RAISE EXCEPTION 'no row of % has the key % (or it is not visible to you)', target, pk USING ERRCODE = 'P0002';
  END IF;
  RETURN nullif(current_setting('deletion.soft_delete_op', true), '')::uuid;
END
$$;
COMMENT ON FUNCTION deletion.archive_delete(regclass, text, text) IS 'deletion.soft_delete on an archived table: deletes the row as the caller; returns the operation.';

-- Whether an operation's rows were archived (kept in the audit log) rather than kept in place.
CREATE OR REPLACE FUNCTION deletion.is_archived_operation(op uuid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  RETURN EXISTS (SELECT FROM deletion.soft_delete_operations o
                  WHERE o.op = is_archived_operation.op AND to_jsonb(o) ->> 'archive_txid' IS NOT NULL);
END
$$;
COMMENT ON FUNCTION deletion.is_archived_operation(uuid) IS 'True for an operation of an archived table (its rows are in the audit log).';

-- What stops an archived operation from coming back now, for the trash: a row whose primary key an
-- active row holds again (at most 20 per table). The restore itself checks everything else
-- (audit.restore_statements: unique keys, missing parents) and refuses with PD202.
CREATE OR REPLACE FUNCTION deletion.archive_restore_conflicts(op uuid)
RETURNS SETOF text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  operation record;
  t record;
  line text;
BEGIN
  SELECT o.archive_txid, o.archive_statement_seq, o.performed_at INTO operation
    FROM deletion.soft_delete_operations o WHERE o.op = archive_restore_conflicts.op;
  IF operation.archive_txid IS NULL THEN
    RETURN;
  END IF;
  FOR t IN
    SELECT DISTINCT l.table_name, to_regclass(l.table_name) AS target FROM audit.log l
     WHERE l.txid = operation.archive_txid AND l.statement_seq = operation.archive_statement_seq
       AND l.created_at = operation.performed_at AND l.action = 'DELETE'
  LOOP
    IF t.target IS NULL THEN
      RETURN NEXT format('table %s no longer exists', t.table_name);
      CONTINUE;
    END IF;
    FOR line IN EXECUTE format(
        'SELECT format(''%%s row %%s: an active row holds its key again'', %1$L, l.record_id) '
        '  FROM audit.log l WHERE l.txid = $1 AND l.statement_seq = $2 AND l.created_at = $3 AND l.action = ''DELETE'' AND l.table_name = %1$L '
        '   AND EXISTS (SELECT FROM %2$s t WHERE %3$s) LIMIT 20',
        t.table_name, t.target,
        (SELECT string_agg(format('t.%1$I = (l.primary_key ->> %2$L)::%3$s', k.column_name, k.column_name, k.type_name), ' AND ')
           FROM deletion.primary_key_columns(t.target) k))
      USING operation.archive_txid, operation.archive_statement_seq, operation.performed_at
    LOOP
      RETURN NEXT line;
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.archive_restore_conflicts(uuid) IS 'Rows of an archived operation whose primary key an active row holds again (the trash''s restorable test).';

-- deletion.restore(op) for an archived operation: audit.restore_statements puts back every row its
-- statement removed and every reference it set to NULL, all or nothing (PD202 on a conflict); the
-- operation is marked restored. Returns the rows put back and re-linked. Called by deletion.restore.
CREATE OR REPLACE FUNCTION deletion.restore_archived(op uuid)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  operation record;
  restored bigint;
BEGIN
  SELECT o.archive_txid, o.archive_statement_seq INTO operation
    FROM deletion.soft_delete_operations o WHERE o.op = restore_archived.op;
  SELECT coalesce(sum(r.rows) FILTER (WHERE r.kind IN ('insert', 'relink')), 0) INTO restored
    FROM audit.restore_statements(operation.archive_txid, ARRAY[operation.archive_statement_seq], false) r;
  UPDATE deletion.soft_delete_operations o
     SET restored_at = now(), restored_by = deletion.current_actor()
   WHERE o.op = restore_archived.op;
  RETURN restored;
END
$$;
COMMENT ON FUNCTION deletion.restore_archived(uuid) IS 'Restores an archived operation from the audit log (internal, called by deletion.restore).';

REVOKE EXECUTE ON FUNCTION deletion.archive_reach(regclass), deletion.archive_blockers(regclass), deletion.archive_operation(),
                           deletion.wire_archive(regclass), deletion.enable_archive(regclass), deletion.disable_archive(regclass),
                           deletion.archive_delete(regclass, text, text), deletion.is_archived_operation(uuid),
                           deletion.archive_restore_conflicts(uuid), deletion.restore_archived(uuid)
  FROM PUBLIC;
-- Lint and plan read the blockers as the caller; deletion.soft_delete (granted to the application)
-- calls archive_delete as the caller.
GRANT EXECUTE ON FUNCTION deletion.archive_reach(regclass), deletion.archive_blockers(regclass) TO deletion_app, deletion_admin;
GRANT EXECUTE ON FUNCTION deletion.archive_delete(regclass, text, text) TO deletion_app, deletion_admin;
