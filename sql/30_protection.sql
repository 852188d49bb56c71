-- The functions below read tables of migration 0030; after `migrate down` past it they must still be
-- creatable (and simply unused), so their bodies are checked when called, not when created.
SET LOCAL check_function_bodies = off;

-- Protection: triggers that refuse dangerous deletes, driven by the rules in deletion.protection_rules
-- (migrations/0030_protection_rules.sql explains the three kinds). The triggers are named
-- deletion_10_protect* so that, within BEFORE DELETE, they fire before the soft-delete trigger
-- (deletion_20_soft_delete): a protected row is refused whether its DELETE would have become a soft
-- delete or a hard one. docs/protection.md describes the rules, the bypass and the errors.

-- True when an admin forced this row in the current transaction (deletion.allow_forced_delete).
-- Only deletion_admin may write deletion.forced_deletes, so no application role can force anything.
CREATE OR REPLACE FUNCTION deletion.is_forced(target regclass, pk text)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT EXISTS (
    SELECT 1
      FROM deletion.forced_deletes f
      JOIN pg_class c ON c.oid = target AND c.relname = f.table_name
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = f.table_schema
     WHERE f.transaction_id = pg_current_xact_id_if_assigned() AND f.pk = is_forced.pk)
$$;
COMMENT ON FUNCTION deletion.is_forced(regclass, text) IS 'True when an admin forced the row past protection in the current transaction.';

-- True when a rule does not bind the given role: admins pass every rule, and a rule marked
-- admin_must_force only for a row an admin forced in this transaction. The role is the one the
-- delete runs as: the caller for the statement's own rows, the table's owner for rows a cascade
-- removes (PostgreSQL runs referential actions, and the triggers they fire, as the table's owner).
CREATE OR REPLACE FUNCTION deletion.role_passes_protection(acting_role oid, admin_must_force boolean, target regclass, pk text)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT pg_has_role(acting_role, 'deletion_admin', 'MEMBER')
     AND (NOT admin_must_force OR deletion.is_forced(target, pk))
$$;
COMMENT ON FUNCTION deletion.role_passes_protection(oid, boolean, regclass, text) IS 'True when a protection rule does not bind the role: an admin, who for an admin_must_force rule must also have forced the row in this transaction.';

-- The same for the current role (what the triggers ask).
CREATE OR REPLACE FUNCTION deletion.passes_protection(admin_must_force boolean, target regclass, pk text)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT deletion.role_passes_protection(current_user::regrole::oid, admin_must_force, target, pk)
$$;
COMMENT ON FUNCTION deletion.passes_protection(boolean, regclass, text) IS 'True when a protection rule does not bind the current role (see role_passes_protection).';

-- A row's key as the text the engine's APIs take: the value itself for a one-column key, a JSON
-- array in key order for a composite key.
CREATE OR REPLACE FUNCTION deletion.key_text(target regclass, row_image jsonb)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE WHEN count(*) = 1 THEN min(row_image ->> k.column_name)
              ELSE jsonb_agg(row_image -> k.column_name)::text END
    FROM deletion.primary_key_columns(target) k
$$;
COMMENT ON FUNCTION deletion.key_text(regclass, jsonb) IS 'The key of a row image as the text deletion APIs take (the value, or a JSON array for composite keys).';

-- The foreign key a child_count rule counts through: the named constraint, or the only foreign key
-- from the child to the protected table. NULL when there is none or the choice is ambiguous.
CREATE OR REPLACE FUNCTION deletion.rule_foreign_key(rule_id bigint)
RETURNS oid
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE WHEN count(*) = 1 THEN min(con.oid) END
    FROM deletion.protection_rules rule
    JOIN pg_constraint con
      ON con.contype = 'f'
     AND con.conrelid = to_regclass(format('%I.%I', rule.child_schema, rule.child_table))
     AND con.confrelid = to_regclass(format('%I.%I', rule.table_schema, rule.table_name))
     AND (rule.via_constraint IS NULL OR con.conname = rule.via_constraint)
   WHERE rule.id = rule_id
$$;
COMMENT ON FUNCTION deletion.rule_foreign_key(bigint) IS 'The child''s foreign key a child_count rule counts through (NULL when missing or ambiguous).';

-- A rule's message with {table} and {pk} filled in.
CREATE OR REPLACE FUNCTION deletion.rule_message(message text, target regclass, pk text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT replace(replace(message, '{table}', target::text), '{pk}', coalesce(pk, ''))
$$;
COMMENT ON FUNCTION deletion.rule_message(text, regclass, text) IS 'A rule''s message with {table} and {pk} replaced.';

-- Every row-level rule (child_count, pre_delete_check) one row of `target` fails, with the error it
-- raises. `soft` selects the rules that guard soft deletes; `for_caller` leaves out the rules the
-- current role passes (deletion.passes_protection). Shared by the trigger and by deletion.plan, so the
-- preview and the refusal cannot disagree.
CREATE OR REPLACE FUNCTION deletion.row_protection_failures(target regclass, row_image jsonb, soft boolean DEFAULT false, for_caller boolean DEFAULT true)
RETURNS TABLE (rule_id bigint, kind text, errcode text, message text, hint text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  rule deletion.protection_rules;
  pk text := deletion.key_text(target, row_image);
  child regclass;
  child_columns text;
  parent_columns text;
  held bigint;
  verdict record;
BEGIN
  FOR rule IN
    SELECT r.*
      FROM deletion.protection_rules r
      JOIN pg_class c ON c.oid = target AND c.relname = r.table_name
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = r.table_schema
     WHERE r.kind IN ('child_count', 'pre_delete_check')
       AND (NOT soft OR r.guards_soft_delete)
     ORDER BY r.id
  LOOP
    CONTINUE WHEN for_caller AND deletion.passes_protection(rule.admin_must_force, target, pk);
    IF rule.kind = 'child_count' THEN
      SELECT con.conrelid::regclass,
             (SELECT string_agg(format('child.%I', a.attname), ', ' ORDER BY k.n)
                FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
                JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
             (SELECT string_agg(format('parent.%I', a.attname), ', ' ORDER BY k.n)
                FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
                JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum)
        INTO child, child_columns, parent_columns
        FROM pg_constraint con WHERE con.oid = deletion.rule_foreign_key(rule.id);
      EXECUTE format('SELECT count(*) FROM %s child WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%s, $1) parent)',
                     child, child_columns, parent_columns, target)
         INTO held
         USING row_image;
      IF held > rule.threshold THEN
        rule_id := rule.id;
        kind := rule.kind;
        errcode := 'PD301';
        message := format('%s %s holds %s rows in %I.%I, more than the %s a direct delete may remove',
                          target, pk, held, rule.child_schema, rule.child_table, rule.threshold);
        hint := deletion.rule_message(rule.message, target, pk);
        RETURN NEXT;
      END IF;
    ELSE
      EXECUTE format('SELECT safe, reasons FROM %s(%L::%s)',
                     to_regproc(rule.check_function), pk,
                     (SELECT k.type_name FROM deletion.primary_key_columns(target) k))
         INTO verdict;
      IF NOT coalesce(verdict.safe, false) THEN
        rule_id := rule.id;
        kind := rule.kind;
        errcode := 'PD303';
        message := format('%s %s is not safe to delete: %s', target, pk,
                          coalesce(array_to_string(verdict.reasons, '; '), 'the check gave no verdict'));
        hint := deletion.rule_message(rule.message, target, pk);
        RETURN NEXT;
      END IF;
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.row_protection_failures(regclass, jsonb, boolean, boolean) IS 'The row-level protection rules (child_count, pre_delete_check) a row fails, with the SQLSTATE and message the trigger raises.';

-- BEFORE DELETE (and, for rules that guard soft deletes, BEFORE the UPDATE that sets deleted_at)
-- FOR EACH ROW: refuses the row when it fails a rule that binds the current role.
CREATE OR REPLACE FUNCTION deletion.protect_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  failure record;
BEGIN
  -- On a partition (the parent's row trigger, cloned), the rules are the registered parent's.
  SELECT * INTO failure
    FROM deletion.row_protection_failures(coalesce(deletion.registered_table_of(TG_RELID), TG_RELID::regclass), to_jsonb(OLD), TG_OP = 'UPDATE', true)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%', failure.message USING ERRCODE = failure.errcode, HINT = failure.hint;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    RETURN NEW;
  END IF;
  RETURN OLD;
END
$$;
COMMENT ON FUNCTION deletion.protect_row() IS 'Trigger deletion_10_protect / deletion_10_protect_soft: refuses a delete (or soft delete) of a row that fails a protection rule.';

-- The rows this transaction's current statement asked to soft-delete from a table and that the
-- soft-delete engine has not marked yet (deletion.soft_delete_requests, issue 3): a DELETE on a table
-- whose DELETE becomes soft, or an UPDATE that sets deleted_at, records its rows there and removes
-- none. SECURITY DEFINER because the requests are the engine's own; it returns a count for the
-- caller's own transaction and table (with its partitions, where the row triggers record them), nothing else. 0 without the soft-delete concern.
CREATE OR REPLACE FUNCTION deletion.pending_soft_deletes(target regclass)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  pending bigint := 0;
BEGIN
  IF to_regclass('deletion.soft_delete_requests') IS NOT NULL THEN
    EXECUTE 'SELECT count(*) FROM deletion.soft_delete_requests WHERE xact_id = pg_current_xact_id_if_assigned() AND (table_oid = $1 OR table_oid IN (SELECT relid FROM pg_partition_tree($1)))'
       INTO pending USING target;
  END IF;
  RETURN pending;
END
$$;
COMMENT ON FUNCTION deletion.pending_soft_deletes(regclass) IS 'Rows of a table the current transaction asked to soft-delete and the soft-delete engine has not marked yet.';

-- AFTER DELETE (and AFTER UPDATE, on soft-delete tables) FOR EACH STATEMENT: refuses a statement that
-- deleted or soft-deleted more rows than the table's bulk_delete rule allows (the unqualified DELETE
-- accident). Removed rows come from the transition table; rows a DELETE or UPDATE turned into soft
-- deletes are still pending in the soft-delete engine's requests when this trigger fires, because
-- deletion_10_protect_bulk* fire before the engine's deletion_20_soft_delete_flush. A cascade runs
-- as the table's owner (usually an admin), so it is the direct statement that is counted.
CREATE OR REPLACE FUNCTION deletion.protect_bulk()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  rule deletion.protection_rules;
  removed bigint := 0;
  -- On a partition (a copy of the parent's trigger, deletion.wire_partitions), the parent's rules.
  target regclass := coalesce(deletion.registered_table_of(TG_RELID), TG_RELID::regclass);
BEGIN
  SELECT r.* INTO rule
    FROM deletion.protection_rules r, deletion.policy_of(target) reg
   WHERE r.kind = 'bulk_delete' AND r.table_schema = reg.table_schema AND r.table_name = reg.table_name
     AND NOT deletion.passes_protection(r.admin_must_force, target, NULL)
   ORDER BY r.threshold
   LIMIT 1;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    SELECT count(*) INTO removed FROM removed_rows;
  END IF;
  removed := removed + deletion.pending_soft_deletes(target);
  IF removed > rule.threshold THEN
    RAISE EXCEPTION 'one statement may delete at most % rows of %, this one deleted %', rule.threshold, target, removed
      USING ERRCODE = 'PD302', HINT = deletion.rule_message(rule.message, target, '*');
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION deletion.protect_bulk() IS 'Trigger deletion_10_protect_bulk / _bulk_soft: refuses one statement that deletes or soft-deletes more rows than the table''s bulk_delete rule allows.';

-- Makes one table's protection triggers match its rules (idempotent; called by deletion.rewire()):
--   deletion_10_protect       BEFORE DELETE FOR EACH ROW, when the table has a row-level rule;
--   deletion_10_protect_soft  BEFORE UPDATE OF deleted_at, when a row-level rule guards soft deletes
--                             and the table has a deleted_at column (the soft-delete marker);
--   deletion_10_protect_bulk  AFTER DELETE FOR EACH STATEMENT, when the table has a bulk_delete rule;
--   deletion_10_protect_bulk_soft  AFTER UPDATE FOR EACH STATEMENT, when it also has a deleted_at column.
-- A rule that cannot work (missing child table or foreign key, a check function that does not exist,
-- a check on a composite key) is refused here with PD304, so a broken rule fails the migration.
CREATE OR REPLACE FUNCTION deletion.wire_protection(target regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  rule deletion.protection_rules;
  row_rules boolean := false;
  soft_rules boolean := false;
  bulk_rules boolean := false;
  has_marker boolean;
BEGIN
  IF to_regclass('deletion.protection_rules') IS NULL THEN
    RETURN;  -- migration 0030 is not applied (migrate down): nothing to wire
  END IF;
  FOR rule IN
    SELECT r.* FROM deletion.protection_rules r
      JOIN pg_class c ON c.oid = target AND c.relname = r.table_name
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = r.table_schema
  LOOP
    IF rule.kind = 'child_count' AND deletion.rule_foreign_key(rule.id) IS NULL THEN
      RAISE EXCEPTION 'protection rule % on %: no single foreign key from %.% to it%', rule.id, target,
                      quote_ident(rule.child_schema), quote_ident(rule.child_table),
                      CASE WHEN rule.via_constraint IS NULL THEN '' ELSE format(' named %I', rule.via_constraint) END
        USING ERRCODE = 'PD304', HINT = 'name the foreign key in via_constraint, or fix the child table';
    END IF;
    IF rule.kind = 'pre_delete_check' THEN
      IF to_regproc(rule.check_function) IS NULL THEN
        RAISE EXCEPTION 'protection rule % on %: check function % does not exist (or is overloaded)', rule.id, target, rule.check_function
          USING ERRCODE = 'PD304', HINT = 'create the function, taking the primary key and returning (safe boolean, reasons text[])';
      END IF;
      IF (SELECT count(*) FROM deletion.primary_key_columns(target)) <> 1 THEN
        RAISE EXCEPTION 'protection rule % on %: a pre-delete check needs a one-column primary key', rule.id, target
          USING ERRCODE = 'PD304';
      END IF;
    END IF;
    row_rules := row_rules OR rule.kind IN ('child_count', 'pre_delete_check');
    soft_rules := soft_rules OR (rule.kind IN ('child_count', 'pre_delete_check') AND rule.guards_soft_delete);
    bulk_rules := bulk_rules OR rule.kind = 'bulk_delete';
  END LOOP;

  has_marker := EXISTS (SELECT 1 FROM pg_attribute
                         WHERE attrelid = target AND attname = 'deleted_at' AND attnum > 0 AND NOT attisdropped);

  -- (deletion.ensure_trigger: no DDL and no lock for a trigger that is already as wanted, or absent and unwanted.)
  PERFORM deletion.ensure_trigger(target, 'deletion_10_protect', CASE WHEN row_rules THEN
    format('CREATE TRIGGER deletion_10_protect BEFORE DELETE ON %s FOR EACH ROW EXECUTE FUNCTION deletion.protect_row()', target) END);
  PERFORM deletion.ensure_trigger(target, 'deletion_10_protect_soft', CASE WHEN soft_rules AND has_marker THEN
    format('CREATE TRIGGER deletion_10_protect_soft BEFORE UPDATE OF deleted_at ON %s FOR EACH ROW
                    WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION deletion.protect_row()', target) END);
  PERFORM deletion.ensure_trigger(target, 'deletion_10_protect_bulk', CASE WHEN bulk_rules THEN
    format('CREATE TRIGGER deletion_10_protect_bulk AFTER DELETE ON %s REFERENCING OLD TABLE AS removed_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION deletion.protect_bulk()', target) END);
  PERFORM deletion.ensure_trigger(target, 'deletion_10_protect_bulk_soft', CASE WHEN bulk_rules AND has_marker THEN
    format('CREATE TRIGGER deletion_10_protect_bulk_soft AFTER UPDATE ON %s
                    FOR EACH STATEMENT EXECUTE FUNCTION deletion.protect_bulk()', target) END);
END
$$;
COMMENT ON FUNCTION deletion.wire_protection(regclass) IS 'Installs or removes a table''s deletion_10_protect* triggers to match its protection rules (idempotent).';

-- The table's registry key, or a clear error when the table is not registered.
CREATE OR REPLACE FUNCTION deletion.registered_name(target regclass, OUT table_schema name, OUT table_name name)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  SELECT tp.table_schema, tp.table_name INTO table_schema, table_name FROM deletion.policy_of(target) tp;
  IF table_name IS NULL THEN
    RAISE EXCEPTION 'table % has no deletion policy', target
      USING ERRCODE = 'PD305', HINT = format('register it first: SELECT deletion.register_table(%L)', target::text);
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.registered_name(regclass) IS 'The registry key (schema, name) of a registered table; PD305 when it has no deletion policy.';

-- Adds a child_count rule: a row of `target` holding more than `threshold` rows of `child` cannot be
-- deleted directly. Returns the rule's id.
CREATE OR REPLACE FUNCTION deletion.protect_child_count(target regclass, child regclass, threshold bigint, message text,
                                                        via_constraint name DEFAULT NULL, guards_soft_delete boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  rule_id bigint;
BEGIN
  INSERT INTO deletion.protection_rules (table_schema, table_name, kind, child_schema, child_table, via_constraint,
                                         threshold, guards_soft_delete, message)
  SELECT r.table_schema, r.table_name, 'child_count', n.nspname, c.relname, protect_child_count.via_constraint,
         protect_child_count.threshold, protect_child_count.guards_soft_delete, protect_child_count.message
    FROM deletion.registered_name(target) r, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = child
  RETURNING id INTO rule_id;
  PERFORM deletion.wire_protection(target);
  PERFORM deletion.wire_partitions(target);
  RETURN rule_id;
END
$$;
COMMENT ON FUNCTION deletion.protect_child_count(regclass, regclass, bigint, text, name, boolean) IS 'Adds a child_count protection rule and wires it; returns the rule id.';

-- Adds a bulk_delete rule: one statement may remove at most `threshold` rows of `target`.
CREATE OR REPLACE FUNCTION deletion.protect_bulk_delete(target regclass, threshold bigint, message text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  rule_id bigint;
BEGIN
  INSERT INTO deletion.protection_rules (table_schema, table_name, kind, threshold, message)
  SELECT r.table_schema, r.table_name, 'bulk_delete', protect_bulk_delete.threshold, protect_bulk_delete.message
    FROM deletion.registered_name(target) r
  RETURNING id INTO rule_id;
  PERFORM deletion.wire_protection(target);
  PERFORM deletion.wire_partitions(target);
  RETURN rule_id;
END
$$;
COMMENT ON FUNCTION deletion.protect_bulk_delete(regclass, bigint, text) IS 'Adds a bulk_delete protection rule and wires it; returns the rule id.';

-- Adds a pre_delete_check rule: `check_function(key)` returns (safe boolean, reasons text[]); a row it
-- calls unsafe cannot be deleted (nor soft-deleted, by default), and admins must force it.
CREATE OR REPLACE FUNCTION deletion.protect_with_check(target regclass, check_function regprocedure, message text,
                                                       guards_soft_delete boolean DEFAULT true, admin_must_force boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  rule_id bigint;
BEGIN
  INSERT INTO deletion.protection_rules (table_schema, table_name, kind, check_function, guards_soft_delete, admin_must_force, message)
  SELECT r.table_schema, r.table_name, 'pre_delete_check',
         format('%I.%I', n.nspname, p.proname), protect_with_check.guards_soft_delete, protect_with_check.admin_must_force,
         protect_with_check.message
    FROM deletion.registered_name(target) r, pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE p.oid = check_function
  RETURNING id INTO rule_id;
  PERFORM deletion.wire_protection(target);
  PERFORM deletion.wire_partitions(target);
  RETURN rule_id;
END
$$;
COMMENT ON FUNCTION deletion.protect_with_check(regclass, regprocedure, text, boolean, boolean) IS 'Adds a pre_delete_check protection rule and wires it; returns the rule id.';

-- Removes a rule and unwires what it needed.
CREATE OR REPLACE FUNCTION deletion.unprotect(rule_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  target regclass;
BEGIN
  DELETE FROM deletion.protection_rules r WHERE r.id = rule_id
  RETURNING to_regclass(format('%I.%I', r.table_schema, r.table_name)) INTO target;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no protection rule %', rule_id USING ERRCODE = 'P0002';
  END IF;
  IF target IS NOT NULL THEN
    PERFORM deletion.wire_protection(target);
    PERFORM deletion.wire_partitions(target);
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.unprotect(bigint) IS 'Removes a protection rule and its triggers when no other rule needs them.';

-- Admins only: lets the row past the rules that require forcing, for the rest of this transaction,
-- by recording it in deletion.forced_deletes (with who and why). Use it before a soft delete of a
-- protected row; deletion.force_delete does it and deletes.
CREATE OR REPLACE FUNCTION deletion.allow_forced_delete(target regclass, pk text, reason text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  predicate text := deletion.key_predicate(target, pk);
  row_key text;
BEGIN
  IF NOT deletion.is_admin() THEN
    RAISE EXCEPTION 'only deletion_admin members may force the delete of a protected row'
      USING ERRCODE = '42501', HINT = 'ask an admin, or schedule a deletion job';
  END IF;
  EXECUTE format('SELECT deletion.key_text(%L, to_jsonb(t)) FROM %s t WHERE %s', target, target, predicate) INTO row_key;
  IF row_key IS NULL THEN
    RAISE EXCEPTION 'no row % in %', pk, target USING ERRCODE = 'P0002';
  END IF;
  INSERT INTO deletion.forced_deletes (transaction_id, table_schema, table_name, pk, reason)
  SELECT pg_current_xact_id(), n.nspname, c.relname, row_key, allow_forced_delete.reason
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = target;
END
$$;
COMMENT ON FUNCTION deletion.allow_forced_delete(regclass, text, text) IS 'Admins only: lets one row past the protection rules that require forcing, for the rest of the transaction (recorded in deletion.forced_deletes).';

-- The sanctioned way for an admin to delete a protected row: forces it (allow_forced_delete), deletes
-- it (cascades and the other triggers run as usual) and returns the number of rows deleted from
-- `target` (0 when the DELETE became a soft delete).
CREATE OR REPLACE FUNCTION deletion.force_delete(target regclass, pk text, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
  deleted bigint;
BEGIN
  PERFORM deletion.allow_forced_delete(target, pk, reason);
  EXECUTE format('DELETE FROM %s WHERE %s', target, deletion.key_predicate(target, pk));
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN deleted;
END
$$;
COMMENT ON FUNCTION deletion.force_delete(regclass, text, text) IS 'Admins only: forces one row past the protection rules that require forcing and deletes it; returns the rows deleted.';

GRANT EXECUTE ON FUNCTION deletion.is_forced(regclass, text), deletion.role_passes_protection(oid, boolean, regclass, text),
                          deletion.passes_protection(boolean, regclass, text), deletion.key_text(regclass, jsonb),
                          deletion.rule_foreign_key(bigint), deletion.rule_message(text, regclass, text),
                          deletion.row_protection_failures(regclass, jsonb, boolean, boolean),
                          deletion.pending_soft_deletes(regclass)
  TO deletion_app, deletion_admin;
GRANT EXECUTE ON FUNCTION deletion.allow_forced_delete(regclass, text, text), deletion.force_delete(regclass, text, text) TO deletion_admin;

SET LOCAL check_function_bodies = on;
