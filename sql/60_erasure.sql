-- Right to erasure: deletion.erase(subject_table, key, reason) removes a person (a row of a declared
-- erasure subject table) and every copy of their declared personal data the engine keeps, in one
-- transaction, and returns a signed report of what it did (docs/erasure.md).
--
-- It runs in five steps, in this order, all or nothing:
--   1. check: the caller is an admin, the subject table is declared, every foreign key to it has an
--      erasure rule (sql/31_personal_data.sql), the row exists and is not the tombstone, no job is
--      working on it; the subject's values (its declared columns, and those of the rows the rules
--      delete or redact) are collected, to scrub free text later;
--   2. apply the rules, one foreign key at a time: 'delete' deletes every referencing row; 'set_null'
--      clears the key of every one, soft-deleted or not; 'tombstone' re-points the live ones to the
--      tombstone and removes the soft-deleted ones for good (the trash keeps what the person wrote
--      only to bring it back, and nobody kept it as work); 'redact' overwrites the rows' declared
--      personal columns. Then the subject row itself goes, with its CASCADE tree. Deletes run
--      in hard mode as the engine's owner, past soft delete and (forced) protection, as a deletion
--      job's chunks do; their files are queued by the file triggers like any other delete;
--   3. the audit log: every image of the subject's row, of rows the rules delete or redact, and of
--      every row this erasure changed, gets its declared personal columns (and any column whose text
--      holds one of the subject's values) redacted by audit.redact, which keeps keys and the
--      columns' digests, so audit.verify still passes;
--   4. the engine's own tables: soft-delete operations emptied by the erasure are marked purged and
--      recorded as erased (restore refuses them), jobs on the subject are cancelled, and the subject's
--      values are scrubbed ('[erased]') from every text and JSON column of the deletion and
--      deletion_work schemas (job reasons and errors, operation reasons, the file queue's errors);
--   5. the report: rows deleted, updated and inserted per table (the transaction's own statistics,
--      so cascades and triggers count), what each rule did, audit rows redacted, files queued,
--      operations erased, jobs cancelled, the rules' version, the time; signed with HMAC-SHA256 under
--      the operator's key and kept in deletion.erasures with a keyed hash of the subject's key.
-- Restore paths check deletion.erasures and deletion.erased_operations (deletion.refuse_erased_*).
--
-- What is kept on purpose: keys (record_id, primary_key, foreign keys re-pointed or not), the audit
-- transactions' actor and reason (sealed, and written by operators: put no personal data in them),
-- product rows' deletion_reason of rows erasure does not touch, and the values of columns declared
-- not personal.

-- The operator's key: the argument, else the setting deletion.erasure_key. At least 16 bytes.
CREATE OR REPLACE FUNCTION deletion.erasure_key(signing_key text)
RETURNS bytea
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  k text := coalesce(signing_key, nullif(current_setting('deletion.erasure_key', true), ''));
BEGIN
  IF k IS NULL OR octet_length(k) < 16 THEN
    RAISE EXCEPTION 'erasure needs the operator''s signing key, at least 16 bytes long'
      USING ERRCODE = '22023',
            HINT = 'pass it as the fourth argument of deletion.erase, or SET LOCAL deletion.erasure_key; deletion-kit erase reads DELETION_KIT_ERASURE_KEY (openssl rand -hex 32)';
  END IF;
  RETURN convert_to(k, 'UTF8');
END
$$;
COMMENT ON FUNCTION deletion.erasure_key(text) IS 'The erasure signing key as bytes (argument, else deletion.erasure_key); 22023 when missing or shorter than 16 bytes.';

-- The keyed hash that names a subject in the erasure log: HMAC(key, '<table> <key text>'), hex.
CREATE OR REPLACE FUNCTION deletion.erasure_subject_hash(k bytea, subject_table text, pk text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT encode(audit.hmac_sha256(k, convert_to('deletion-kit erasure subject ' || subject_table || ' ' || pk, 'UTF8')), 'hex')
$$;
COMMENT ON FUNCTION deletion.erasure_subject_hash(bytea, text, text) IS 'HMAC-SHA256 of a subject''s table and key under the operator''s key (hex): the erasure log''s only trace of who.';

-- Which key signed: the first 8 bytes of HMAC(key, 'deletion-kit erasure key id'), hex.
CREATE OR REPLACE FUNCTION deletion.erasure_key_id(k bytea)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT encode(substr(audit.hmac_sha256(k, convert_to('deletion-kit erasure key id', 'UTF8')), 1, 8), 'hex')
$$;
COMMENT ON FUNCTION deletion.erasure_key_id(bytea) IS 'Names the key that signed an erasure report without revealing it.';

-- The version of the rules an erasure of this subject table applies: SHA-256 (hex) of the subject's
-- declaration, its rules, and the personal-column declarations of every table they name. Any change
-- of a rule or a declaration changes it; the report carries it.
CREATE OR REPLACE FUNCTION deletion.erasure_rules_version(subject_schema name, subject_table name)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  doc jsonb;
BEGIN
  SELECT jsonb_build_object(
           'subject', (SELECT jsonb_build_object('table', format('%I.%I', s.table_schema, s.table_name), 'tombstone', coalesce(s.tombstone_row, s.tombstone_key))
                         FROM deletion.erasure_subjects s WHERE s.table_schema = subject_schema AND s.table_name = erasure_rules_version.subject_table),
           'rules', coalesce((SELECT jsonb_agg(jsonb_build_array(format('%I.%I', r.table_schema, r.table_name), r.via_columns, r.action, r.redact)
                                              ORDER BY r.table_schema, r.table_name, r.via_columns)
                                FROM deletion.erasure_rules r WHERE r.subject_schema = erasure_rules_version.subject_schema
                                 AND r.subject_table = erasure_rules_version.subject_table), '[]'),
           'personal', coalesce((SELECT jsonb_agg(jsonb_build_array(format('%I.%I', p.table_schema, p.table_name), p.column_name, p.category, p.replacement)
                                                 ORDER BY p.table_schema, p.table_name, p.column_name)
                                   FROM deletion.personal_columns p
                                  WHERE (p.table_schema, p.table_name) = (subject_schema, erasure_rules_version.subject_table)
                                     OR EXISTS (SELECT FROM deletion.erasure_rules r
                                                 WHERE r.subject_schema = erasure_rules_version.subject_schema AND r.subject_table = erasure_rules_version.subject_table
                                                   AND (r.table_schema, r.table_name) = (p.table_schema, p.table_name))), '[]'))
    INTO doc;
  RETURN encode(sha256(convert_to(doc::text, 'UTF8')), 'hex');
END
$$;
COMMENT ON FUNCTION deletion.erasure_rules_version(name, name) IS 'SHA-256 (hex) of a subject table''s erasure declaration, rules and personal columns: the rules'' version in a report.';

-- Replaces every occurrence of each secret (longest first) by '[erased]'.
CREATE OR REPLACE FUNCTION deletion.scrub_text(value text, secrets text[])
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog
AS $$
DECLARE
  s text;
BEGIN
  IF value IS NULL OR secrets IS NULL THEN
    RETURN value;
  END IF;
  FOREACH s IN ARRAY secrets LOOP
    value := replace(value, s, '[erased]');
  END LOOP;
  RETURN value;
END
$$;
COMMENT ON FUNCTION deletion.scrub_text(text, text[]) IS 'The text with every occurrence of the given values replaced by [erased].';

-- True when the text holds any of the secrets.
CREATE OR REPLACE FUNCTION deletion.contains_any(value text, secrets text[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT value IS NOT NULL AND EXISTS (SELECT FROM unnest(secrets) s WHERE strpos(value, s) > 0)
$$;
COMMENT ON FUNCTION deletion.contains_any(text, text[]) IS 'True when the text contains one of the given values.';

-- The signature of a report: HMAC-SHA256(key, report as jsonb text), hex. jsonb's text form is
-- canonical (keys sorted, no duplicates), so the same report always gives the same bytes.
CREATE OR REPLACE FUNCTION deletion.erasure_signature(k bytea, report jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT encode(audit.hmac_sha256(k, convert_to((report - 'signature')::text, 'UTF8')), 'hex')
$$;
COMMENT ON FUNCTION deletion.erasure_signature(bytea, jsonb) IS 'HMAC-SHA256 of an erasure report (without its signature field) under the operator''s key, hex.';

-- Checks a report someone kept (the JSON deletion.erase returned, signature included) against the
-- operator's key: true when it is exactly what that key signed.
CREATE OR REPLACE FUNCTION deletion.verify_erasure_report(report jsonb, signing_key text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  k bytea := deletion.erasure_key(signing_key);
BEGIN
  RETURN report ? 'signature' AND report ->> 'signature' = deletion.erasure_signature(k, report);
END
$$;
COMMENT ON FUNCTION deletion.verify_erasure_report(jsonb, text) IS 'True when an erasure report (with its signature) is exactly what the operator''s key signed.';

-- A predicate over alias t: the referencing columns of a foreign key equal the referenced columns
-- of a row image (values as literals cast to the columns' types).
CREATE OR REPLACE FUNCTION deletion.erasure_fk_predicate(constraint_oid oid, alias text, image jsonb)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT string_agg(format('%I.%I = %L::%s', alias, ca.attname, image ->> pa.attname, format_type(ca.atttypid, ca.atttypmod)), ' AND ' ORDER BY k.n)
    FROM pg_constraint con
    CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child_att, parent_att, n)
    JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.child_att
    JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.parent_att
   WHERE con.oid = constraint_oid
$$;
COMMENT ON FUNCTION deletion.erasure_fk_predicate(oid, text, jsonb) IS 'SQL predicate: a foreign key''s referencing columns (of alias) equal the referenced values of a row image.';

-- The same over an audit image (alias.old_data / changed as JSON): the referencing columns' values
-- as text equal the subject's.
CREATE OR REPLACE FUNCTION deletion.erasure_fk_image_predicate(constraint_oid oid, image_expr text, image jsonb)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT string_agg(format('(%s ->> %L) = %L', image_expr, ca.attname, image ->> pa.attname), ' AND ' ORDER BY k.n)
    FROM pg_constraint con
    CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child_att, parent_att, n)
    JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.child_att
    JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.parent_att
   WHERE con.oid = constraint_oid
$$;
COMMENT ON FUNCTION deletion.erasure_fk_image_predicate(oid, text, jsonb) IS 'SQL predicate over an audit image: a foreign key''s referencing values equal the subject''s.';

-- The declared personal columns of a table (not those declared not_personal), with the SQL a
-- redaction assigns to each.
CREATE OR REPLACE FUNCTION deletion.personal_columns_of(target regclass)
RETURNS TABLE (column_name name, assignment text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  IF NOT deletion.erasure_installed() THEN
    RETURN;
  END IF;
  RETURN QUERY
  SELECT p.column_name,
         format('%I = %s', p.column_name, CASE WHEN p.replacement IS NULL THEN 'NULL'
                                               ELSE format('%L::%s', p.replacement, format_type(a.atttypid, a.atttypmod)) END)
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN deletion.personal_columns p ON p.table_schema = n.nspname AND p.table_name = c.relname
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = p.column_name AND NOT a.attisdropped
   WHERE c.oid = target AND p.category <> 'not_personal'
   ORDER BY p.column_name;
END
$$;
COMMENT ON FUNCTION deletion.personal_columns_of(regclass) IS 'A table''s declared personal columns and the assignment a redaction makes to each.';

-- Rows deleted, updated and inserted per product table by the current transaction so far (its own
-- statistics: cascades and triggers included).
CREATE OR REPLACE FUNCTION deletion.transaction_row_counts()
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT coalesce(jsonb_object_agg(format('%I.%I', s.schemaname, s.relname), jsonb_build_array(s.n_tup_del, s.n_tup_upd, s.n_tup_ins)), '{}')
    FROM pg_stat_xact_user_tables s
   WHERE s.n_tup_del + s.n_tup_upd + s.n_tup_ins > 0
$$;
COMMENT ON FUNCTION deletion.transaction_row_counts() IS 'The current transaction''s rows deleted, updated and inserted per table ([del, upd, ins]).';

-- A subject's key as the text the engine's APIs take, from the JSON erase is given: an object of the
-- key columns ('{"id": 42}'), or the key text as JSON ('42', '"<uuid>"', '[7, "eu"]').
CREATE OR REPLACE FUNCTION deletion.subject_key_text(target regclass, key jsonb)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  pk text;
BEGIN
  IF key IS NULL OR key = 'null'::jsonb THEN
    RAISE EXCEPTION 'name the subject by its key' USING ERRCODE = '22004', HINT = 'for example ''{"id": 42}''';
  END IF;
  pk := CASE jsonb_typeof(key) WHEN 'object' THEN deletion.key_text(target, key)
                               WHEN 'array' THEN key::text ELSE key #>> '{}' END;
  IF pk IS NULL THEN
    RAISE EXCEPTION 'the key % does not name every primary-key column of %', key, target USING ERRCODE = '22023';
  END IF;
  RETURN pk;
END
$$;
COMMENT ON FUNCTION deletion.subject_key_text(regclass, jsonb) IS 'The key text of a subject row from a JSON key object or the key text as JSON.';

-- Erases one subject (see the top of this file). key: the row's key as a JSON object ('{"id": 42}'),
-- or its key text as JSON ('42', '"uuid"', '[7, "eu"]'). reason: why (stored scrubbed of the
-- subject's values). signing_key: the operator's key (else the setting deletion.erasure_key).
-- Returns the signed report. For deletion_admin.
CREATE OR REPLACE FUNCTION deletion.erase(subject_table regclass, key jsonb, reason text, signing_key text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  k bytea;
  reg record;
  subject record;
  qualified text;
  pk text;
  subject_image jsonb;
  hashed_subject text;
  earlier record;
  missing text[];
  secrets text[];
  json_secrets text[];
  erasure_id bigint;
  my_txid bigint := pg_current_xact_id()::text::bigint;
  caller_mode text := current_setting('deletion.mode', true);
  caller_reason text := current_setting('deletion.reason', true);
  counts_before jsonb;
  counts_after jsonb;
  first_log_id bigint := 0;
  files_before bigint := 0;
  files_after bigint := 0;
  queue_before bigint := 0;
  rule record;
  pred text;
  assignments text;
  tomb_assign text;
  n bigint;
  purged bigint;
  rule_reports jsonb := '[]';
  ops uuid[] := '{}';
  erased_ops uuid[] := '{}';
  soft boolean;
  vals text[];
  t record;
  r record;
  audit_rows bigint := 0;
  audit_values bigint := 0;
  jobs_cancelled bigint := 0;
  scrubbed jsonb := '{}';
  tables_report jsonb := '{}';
  report jsonb;
  signature text;
  stamp timestamptz := now();
  kept_reason text;
  tomb_found boolean;
  tomb_image jsonb;
BEGIN
  -- 1. check
  PERFORM deletion.require_erasure_installed();
  IF NOT deletion.caller_is_admin() THEN
    RAISE EXCEPTION 'only a deletion_admin may erase a subject' USING ERRCODE = '42501',
      HINT = 'ask a deletion_admin (the privacy officer''s role) to run deletion.erase';
  END IF;
  k := deletion.erasure_key(signing_key);
  IF reason IS NULL OR btrim(reason) = '' THEN
    RAISE EXCEPTION 'an erasure needs a reason' USING ERRCODE = '22023', HINT = 'for example the request''s ticket number; put no personal data in it';
  END IF;
  reg := deletion.erasure_registered_name(subject_table);
  qualified := format('%I.%I', reg.table_schema, reg.table_name);
  SELECT * INTO subject FROM deletion.erasure_subjects s WHERE s.table_schema = reg.table_schema AND s.table_name = reg.table_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % is not an erasure subject', subject_table USING ERRCODE = 'PD601',
      HINT = format('declare it and its rules first: SELECT deletion.declare_erasure_subject(%L, ...) (docs/erasure.md)', subject_table::text);
  END IF;
  pk := deletion.subject_key_text(subject_table, key);
  hashed_subject := deletion.erasure_subject_hash(k, qualified, pk);
  missing := ARRAY(
    SELECT format('%s (%s)', con.conrelid::regclass, array_to_string(fk.cols, ', '))
      FROM pg_constraint con
      CROSS JOIN LATERAL (SELECT ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY u(attnum, i)
                                         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = u.attnum ORDER BY u.i) AS cols) fk
      JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
     WHERE con.contype = 'f' AND con.confrelid = subject_table AND con.conparentid = 0
       AND NOT EXISTS (SELECT FROM deletion.erasure_rules er
                        WHERE er.table_schema = ns.nspname AND er.table_name = c.relname AND er.via_columns = fk.cols)
     ORDER BY 1);
  IF cardinality(missing) > 0 THEN
    RAISE EXCEPTION 'erasure of % refused: no erasure rule for the foreign keys of %', subject_table, array_to_string(missing, '; ')
      USING ERRCODE = 'PD603', HINT = 'declare one for each (deletion.declare_erasure_rule); deletion-kit lint lists them as erasure_rule_missing';
  END IF;
  EXECUTE format('SELECT to_jsonb(t) FROM %s t WHERE %s FOR UPDATE', subject_table, deletion.key_predicate(subject_table, pk, 't'))
    INTO subject_image;
  IF subject_image IS NULL THEN
    SELECT e.id, e.erased_at INTO earlier FROM deletion.erasures e WHERE e.subject_hash = hashed_subject ORDER BY e.id DESC LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'the subject % % was already erased (erasure %, %)', subject_table, pk, earlier.id, earlier.erased_at
        USING ERRCODE = 'PD604', HINT = 'nothing to do; its report is in deletion.erasures';
    END IF;
    RAISE EXCEPTION 'no row of % has the key %', subject_table, pk USING ERRCODE = 'P0002';
  END IF;
  IF subject.tombstone_key IS NOT NULL AND deletion.key_text(subject_table, subject.tombstone_key) = pk THEN
    RAISE EXCEPTION 'row % of % is the tombstone that erased subjects'' rows point to; it cannot be erased', pk, subject_table
      USING ERRCODE = 'PD602', HINT = 'erase a person, not the tombstone';
  END IF;
  IF to_regclass('deletion.deletion_jobs') IS NOT NULL THEN
    EXECUTE 'SELECT count(*) FROM deletion.deletion_jobs j WHERE j.entity_table IN ($1, $2) AND j.entity_pk = $3 AND j.status = ''running'''
       INTO n USING qualified, subject_table::text, pk;
    IF n > 0 THEN
      RAISE EXCEPTION 'a deletion job is working on % % right now', subject_table, pk
        USING ERRCODE = 'PD606', HINT = 'cancel it (deletion.cancel) and erase when it has stopped';
    END IF;
  END IF;

  -- the subject's values: its declared columns, and those of the rows the rules delete or redact
  vals := ARRAY(SELECT subject_image ->> p.column_name FROM deletion.personal_columns_of(subject_table) p
                 WHERE subject_image ->> p.column_name IS NOT NULL);
  -- a soft-deleted subject's unique values that stepped aside: the originals the engine keeps for
  -- restore are the subject's values too (sql/12_soft_delete.sql), and go with the erasure
  IF to_regclass('deletion.soft_delete_kept_values') IS NOT NULL THEN
    vals := vals || ARRAY(SELECT k.value FROM deletion.soft_delete_kept_values kv, jsonb_each_text(kv.kept) k
                           WHERE kv.table_name = subject_table::text AND subject_image @> kv.row_key AND k.value IS NOT NULL);
    DELETE FROM deletion.soft_delete_kept_values kv WHERE kv.table_name = subject_table::text AND subject_image @> kv.row_key;
  END IF;
  FOR rule IN
    SELECT er.*, c.oid::regclass AS rel, fk.constraint_oid
      FROM deletion.erasure_rules er
      JOIN pg_namespace ns ON ns.nspname = er.table_schema
      JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = er.table_name
      CROSS JOIN LATERAL deletion.foreign_key_by_columns(c.oid::regclass, er.via_columns) fk
     WHERE er.subject_schema = reg.table_schema AND er.subject_table = reg.table_name AND fk.referenced = erase.subject_table
       AND (er.action = 'delete' OR er.redact)
  LOOP
    SELECT string_agg(format('t.%I::text', p.column_name), ', ') INTO assignments FROM deletion.personal_columns_of(rule.rel) p;
    CONTINUE WHEN assignments IS NULL;
    EXECUTE format('SELECT array_agg(v) FROM %s t CROSS JOIN LATERAL unnest(ARRAY[%s]) v WHERE %s AND v IS NOT NULL',
                   rule.rel, assignments, deletion.erasure_fk_predicate(rule.constraint_oid, 't', subject_image))
       INTO secrets;
    vals := vals || coalesce(secrets, '{}');
  END LOOP;
  -- values shorter than 4 characters would match by chance everywhere; longest first
  secrets := ARRAY(SELECT DISTINCT ON (length(v), v) v FROM unnest(vals) v WHERE length(v) >= 4 ORDER BY length(v) DESC, v);
  json_secrets := ARRAY(SELECT substr(to_jsonb(v)::text, 2, length(to_jsonb(v)::text) - 2) FROM unnest(secrets) v);

  erasure_id := nextval(pg_get_serial_sequence('deletion.erasures', 'id'));
  kept_reason := deletion.scrub_text(reason, secrets);
  -- the audit log's transaction row (sealed, never redacted) gets a reason without personal data
  PERFORM set_config('deletion.reason', format('erasure %s', erasure_id), true);
  PERFORM set_config('deletion.mode', 'hard', true);
  counts_before := deletion.transaction_row_counts();
  IF to_regclass('deletion.pending_file_deletions') IS NOT NULL THEN
    SELECT coalesce(sum(s.n_tup_ins), 0) INTO files_before FROM pg_stat_xact_user_tables s WHERE s.relid = 'deletion.pending_file_deletions'::regclass;
  END IF;
  IF to_regclass('deletion.erasure_files') IS NOT NULL THEN
    queue_before := deletion.file_queue_high_water();
  END IF;
  IF to_regclass('audit.log') IS NOT NULL THEN
    SELECT coalesce(max(l.id), 0) INTO first_log_id FROM audit.log l WHERE l.txid = my_txid;
  END IF;

  -- the tombstone, inserted from its declared values by the first erasure that re-points to it
  IF EXISTS (SELECT FROM deletion.erasure_rules er
              WHERE er.subject_schema = reg.table_schema AND er.subject_table = reg.table_name AND er.action = 'tombstone') THEN
    tomb_found := NULL;
    IF subject.tombstone_key IS NOT NULL THEN
      EXECUTE format('SELECT true FROM %s WHERE %s', subject_table, deletion.key_predicate(subject_table, deletion.key_text(subject_table, subject.tombstone_key)))
         INTO tomb_found;
    END IF;
    IF tomb_found IS NULL THEN
      IF subject.tombstone_row IS NULL THEN
        RAISE EXCEPTION 'the tombstone row % of % is gone', subject.tombstone_key, subject_table
          USING ERRCODE = 'PD607', HINT = 'declare it again (deletion.declare_erasure_subject), with an existing key or the values of a row to insert';
      END IF;
      EXECUTE format('INSERT INTO %1$s AS t (%2$s) SELECT %2$s FROM jsonb_populate_record(NULL::%1$s, $1) RETURNING to_jsonb(t)',
                     subject_table, (SELECT string_agg(format('%I', c), ', ') FROM jsonb_object_keys(subject.tombstone_row) c))
         INTO tomb_image USING subject.tombstone_row;
      subject.tombstone_key := (SELECT jsonb_object_agg(kc.column_name, tomb_image -> kc.column_name) FROM deletion.primary_key_columns(subject_table) kc);
      UPDATE deletion.erasure_subjects s SET tombstone_key = subject.tombstone_key
       WHERE s.table_schema = reg.table_schema AND s.table_name = reg.table_name;
    END IF;
  END IF;

  -- 2. the rules: re-points and SET NULLs first (so that RESTRICT keys let the subject go), deletes next
  FOR rule IN
    SELECT er.*, c.oid::regclass AS rel, fk.constraint_oid
      FROM deletion.erasure_rules er
      JOIN pg_namespace ns ON ns.nspname = er.table_schema
      JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = er.table_name
      CROSS JOIN LATERAL deletion.foreign_key_by_columns(c.oid::regclass, er.via_columns) fk
     WHERE er.subject_schema = reg.table_schema AND er.subject_table = reg.table_name AND fk.referenced = erase.subject_table
     ORDER BY er.action = 'delete', er.table_schema, er.table_name, er.via_columns
  LOOP
    pred := deletion.erasure_fk_predicate(rule.constraint_oid, 't', subject_image);
    soft := deletion.is_soft_delete_table(rule.rel) AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = rule.rel AND a.attname = 'deletion_op' AND NOT a.attisdropped);
    purged := 0;
    IF soft THEN
      EXECUTE format('SELECT coalesce(array_agg(DISTINCT t.deletion_op), ''{}'') FROM %s t WHERE %s AND t.deletion_op IS NOT NULL', rule.rel, pred)
         INTO vals;
      ops := ops || vals::uuid[];
      IF rule.action = 'tombstone' THEN
        EXECUTE format('DELETE FROM %s t WHERE %s AND t.deleted_at IS NOT NULL', rule.rel, pred);
        GET DIAGNOSTICS purged = ROW_COUNT;
      END IF;
    END IF;
    IF rule.action = 'delete' THEN
      EXECUTE format('DELETE FROM %s t WHERE %s', rule.rel, pred);
    ELSE
      SELECT string_agg(p.assignment, ', ') INTO assignments
        FROM deletion.personal_columns_of(rule.rel) p WHERE rule.redact AND NOT p.column_name = ANY (rule.via_columns);
      IF rule.action = 'set_null' THEN
        SELECT string_agg(format('%I = NULL', v), ', ') INTO tomb_assign FROM unnest(rule.via_columns) v;
      ELSE
        SELECT string_agg(format('%I = %L::%s', ca.attname, subject.tombstone_key ->> pa.attname, format_type(ca.atttypid, ca.atttypmod)), ', ')
          INTO tomb_assign
          FROM pg_constraint con
          CROSS JOIN LATERAL unnest(con.conkey, con.confkey) AS u(child_att, parent_att)
          JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = u.child_att
          JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = u.parent_att
         WHERE con.oid = rule.constraint_oid;
      END IF;
      EXECUTE format('UPDATE %s t SET %s WHERE %s', rule.rel, concat_ws(', ', tomb_assign, assignments), pred);
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    rule_reports := rule_reports || jsonb_build_object(
      'table', rule.rel::text, 'via', to_jsonb(rule.via_columns), 'action', rule.action, 'redact', rule.redact,
      'rows', n, 'soft_deleted_rows_removed', purged);
  END LOOP;

  -- the subject itself, with its CASCADE tree; past protection as an admin who forced it
  IF deletion.is_soft_delete_table(subject_table) THEN
    EXECUTE format('SELECT coalesce(array_agg(t.deletion_op), ''{}'') FROM %s t WHERE %s AND t.deletion_op IS NOT NULL',
                   subject_table, deletion.key_predicate(subject_table, pk, 't'))
       INTO vals;
    ops := ops || vals::uuid[];
  END IF;
  IF to_regclass('deletion.forced_deletes') IS NOT NULL THEN
    INSERT INTO deletion.forced_deletes (table_schema, table_name, pk, reason)
    VALUES (reg.table_schema, reg.table_name, pk, format('erasure %s', erasure_id));
  END IF;
  EXECUTE format('DELETE FROM %s t WHERE %s', subject_table, deletion.key_predicate(subject_table, pk, 't'));

  -- 3. the audit log
  IF to_regclass('audit.log') IS NOT NULL AND to_regclass('audit.redactions') IS NOT NULL THEN
    FOR t IN
      -- every table with declared personal columns; for each, which of its images belong to the subject
      SELECT c.oid::regclass AS rel, format('%I.%I', n2.nspname, c.relname) AS log_name,
             ARRAY(SELECT p.column_name::text FROM deletion.personal_columns_of(c.oid::regclass) p) AS cols,
             (c.oid = subject_table) AS is_subject,
             ARRAY(SELECT fk.constraint_oid
                     FROM deletion.erasure_rules er
                     CROSS JOIN LATERAL deletion.foreign_key_by_columns(c.oid::regclass, er.via_columns) fk
                    WHERE er.table_schema = n2.nspname AND er.table_name = c.relname
                      AND er.subject_schema = reg.table_schema AND er.subject_table = reg.table_name
                      AND (er.action = 'delete' OR er.redact) AND fk.referenced = erase.subject_table) AS owning_keys
        FROM pg_class c JOIN pg_namespace n2 ON n2.oid = c.relnamespace
       WHERE EXISTS (SELECT FROM deletion.personal_columns p WHERE p.table_schema = n2.nspname AND p.table_name = c.relname)
          OR EXISTS (SELECT FROM deletion.table_policies tp WHERE tp.table_schema = n2.nspname AND tp.table_name = c.relname)
    LOOP
      pred := concat_ws(' OR ',
        format('(l.txid = %s AND l.id > %s)', my_txid, first_log_id),
        CASE WHEN t.is_subject THEN format('l.record_id = %L', audit.record_id_of(subject_table, pk)) END,
        (SELECT string_agg(format('(%s)', deletion.erasure_fk_image_predicate(o, 'coalesce(l.old_data, l.changed)', subject_image)), ' OR ')
           FROM unnest(t.owning_keys) o));
      FOR r IN EXECUTE format($q$
        SELECT l.id, l.created_at,
               ARRAY(SELECT DISTINCT e.key
                       FROM (SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(l.old_data) = 'object' THEN l.old_data ELSE '{}' END)
                             UNION ALL
                             SELECT * FROM jsonb_each(CASE WHEN jsonb_typeof(l.changed) = 'object' THEN l.changed ELSE '{}' END)) e
                      WHERE e.value <> 'null'::jsonb
                        AND NOT coalesce(l.primary_key ? e.key, false)
                        AND (e.key = ANY ($1) OR deletion.contains_any(e.value #>> '{}', $2))) AS cols
          FROM audit.log l
         WHERE l.table_name = $3 AND (%s)$q$, pred)
        USING t.cols, secrets, t.log_name
      LOOP
        CONTINUE WHEN cardinality(r.cols) = 0;
        SELECT count(*) INTO n FROM audit.redact(r.id, r.created_at, r.cols);
        IF n > 0 THEN
          audit_rows := audit_rows + 1;
          audit_values := audit_values + n;
        END IF;
      END LOOP;
    END LOOP;
  END IF;

  -- 4. the engine's own tables
  -- soft-delete operations the erasure emptied: purged, and recorded so that restore refuses them
  SELECT coalesce(array_agg(DISTINCT o), '{}') INTO ops FROM unnest(ops) o;
  IF cardinality(ops) > 0 THEN
    erased_ops := ARRAY(
      SELECT o FROM unnest(ops) o
       WHERE NOT EXISTS (SELECT FROM deletion.soft_delete_operation_tables(o) st(tbl)
                          WHERE deletion.table_has_operation_rows(st.tbl, o)));
    UPDATE deletion.soft_delete_operations so SET purged_at = stamp WHERE so.op = ANY (erased_ops) AND so.purged_at IS NULL;
  END IF;
  -- jobs on the subject: cancelled (their row is gone)
  IF to_regclass('deletion.deletion_jobs') IS NOT NULL THEN
    EXECUTE format('UPDATE deletion.deletion_jobs j SET status = ''cancelled'', finished_at = now(), error = $4%s '
                   'WHERE j.entity_table IN ($1, $2) AND j.entity_pk = $3 AND j.status IN (''pending'', ''failed'')',
                   CASE WHEN EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = 'deletion.deletion_jobs'::regclass AND a.attname = 'pending_op' AND NOT a.attisdropped)
                        THEN ', pending_op = NULL' ELSE '' END)
      USING qualified, subject_table::text, pk, format('cancelled by erasure %s: its row was erased', erasure_id);
    GET DIAGNOSTICS jobs_cancelled = ROW_COUNT;
  END IF;
  -- the subject's values in every text and JSON column of the engine's own tables
  IF cardinality(secrets) > 0 THEN
    FOR t IN
      SELECT c.oid::regclass AS rel, a.attname, a.atttypid, format_type(a.atttypid, a.atttypmod) AS type_name
        FROM pg_class c
        JOIN pg_namespace n2 ON n2.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
       WHERE n2.nspname IN ('deletion', 'deletion_work') AND c.relkind IN ('r', 'p') AND NOT c.relispartition
         AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'jsonb'::regtype, 'json'::regtype)
         AND c.oid NOT IN ('deletion.erasures'::regclass, 'deletion.personal_columns'::regclass)
       ORDER BY 1, 2
    LOOP
      IF t.atttypid IN ('jsonb'::regtype, 'json'::regtype) THEN
        EXECUTE format('UPDATE %1$s SET %2$I = deletion.scrub_text(%2$I::text, $1)::%3$s WHERE deletion.contains_any(%2$I::text, $1)',
                       t.rel, t.attname, t.type_name) USING json_secrets;
      ELSE
        EXECUTE format('UPDATE %1$s SET %2$I = deletion.scrub_text(%2$I::text, $1)::%3$s WHERE deletion.contains_any(%2$I::text, $1)',
                       t.rel, t.attname, t.type_name) USING secrets;
      END IF;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n > 0 THEN
        scrubbed := scrubbed || jsonb_build_object(format('%s.%I', t.rel, t.attname), n);
      END IF;
    END LOOP;
  END IF;

  -- 5. the report
  IF to_regclass('deletion.pending_file_deletions') IS NOT NULL THEN
    SELECT coalesce(sum(s.n_tup_ins), 0) INTO files_after FROM pg_stat_xact_user_tables s WHERE s.relid = 'deletion.pending_file_deletions'::regclass;
  END IF;
  counts_after := deletion.transaction_row_counts();
  SELECT coalesce(jsonb_object_agg(a.key, jsonb_build_object(
           'deleted', (a.value ->> 0)::bigint - coalesce((b.value ->> 0)::bigint, 0),
           'updated', (a.value ->> 1)::bigint - coalesce((b.value ->> 1)::bigint, 0),
           'inserted', (a.value ->> 2)::bigint - coalesce((b.value ->> 2)::bigint, 0))), '{}')
    INTO tables_report
    FROM jsonb_each(counts_after) a
    LEFT JOIN jsonb_each(counts_before) b ON b.key = a.key
   WHERE split_part(a.key, '.', 1) NOT IN ('deletion', 'audit', 'deletion_work', 'deletion_kit', 'pg_temp')
     AND a.value IS DISTINCT FROM b.value;
  report := jsonb_build_object(
    'erasure', erasure_id,
    'subject_table', qualified,
    'subject', hashed_subject,
    'key_id', deletion.erasure_key_id(k),
    'reason', kept_reason,
    'rules_version', deletion.erasure_rules_version(reg.table_schema, reg.table_name),
    'erased_at', stamp,
    'erased_by', deletion.calling_role()::text,
    'txid', my_txid,
    'rules', rule_reports,
    'tables', tables_report,
    'audit_rows_redacted', audit_rows,
    'audit_values_redacted', audit_values,
    'files_queued', files_after - files_before,
    'soft_delete_operations_erased', cardinality(erased_ops),
    'jobs_cancelled', jobs_cancelled,
    'engine_values_scrubbed', scrubbed);
  signature := deletion.erasure_signature(k, report);
  INSERT INTO deletion.erasures (id, subject_table, subject_hash, key_id, txid, erased_at, erased_by, reason, rules_version, report, signature)
  VALUES (erasure_id, qualified, hashed_subject, report ->> 'key_id', my_txid, stamp, report ->> 'erased_by', kept_reason,
          report ->> 'rules_version', report, signature);
  INSERT INTO deletion.erased_operations (op, erasure_id) SELECT o, erasure_id FROM unnest(erased_ops) o ON CONFLICT DO NOTHING;
  -- the files queued, kept with the erasure until the cleaner confirms them (sql/62_erasure_jobs.sql)
  IF to_regclass('deletion.erasure_files') IS NOT NULL AND files_after > files_before THEN
    PERFORM deletion.record_erasure_files(erasure_id, queue_before);
  END IF;

  PERFORM set_config('deletion.mode', coalesce(caller_mode, ''), true);
  PERFORM set_config('deletion.reason', coalesce(caller_reason, ''), true);
  RETURN report || jsonb_build_object('signature', signature);
END
$$;
COMMENT ON FUNCTION deletion.erase(regclass, jsonb, text, text) IS 'Erases a person: applies the erasure rules, removes the subject row and its tree, redacts the audit log, scrubs the engine''s tables, and returns a signed report (deletion_admin only; docs/erasure.md).';

-- Whether any row of a soft-delete table still carries the operation id.
CREATE OR REPLACE FUNCTION deletion.table_has_operation_rows(target regclass, op uuid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  found_row boolean;
BEGIN
  EXECUTE format('SELECT true FROM %s WHERE deletion_op = $1 LIMIT 1', target) INTO found_row USING op;
  RETURN coalesce(found_row, false);
END
$$;
COMMENT ON FUNCTION deletion.table_has_operation_rows(regclass, uuid) IS 'True when a row of the table still carries the soft-delete operation id.';

-- Restore guards, called by deletion.restore (sql/13) and audit.restore_statements (sql/21).

-- PD605 when an erasure emptied the soft-delete operation.
CREATE OR REPLACE FUNCTION deletion.refuse_erased_operation(op uuid)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  by_erasure bigint;
BEGIN
  IF NOT deletion.erasure_installed() THEN
    RETURN;
  END IF;
  SELECT e.erasure_id INTO by_erasure FROM deletion.erased_operations e WHERE e.op = refuse_erased_operation.op;
  IF FOUND THEN
    RAISE EXCEPTION 'soft-delete operation % was erased (erasure %): its rows are gone for good and cannot be restored', op, by_erasure
      USING ERRCODE = 'PD605', HINT = 'an erased person is not brought back; deletion.erasures holds the erasure''s report';
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.refuse_erased_operation(uuid) IS 'Raises PD605 when an erasure emptied the soft-delete operation (restore refuses it).';

-- PD605 when a row is gone because an erasure deleted it (the audit log shows its DELETE in an
-- erasure's transaction); silent otherwise.
CREATE OR REPLACE FUNCTION deletion.refuse_erased_row(target regclass, pk text)
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  by_erasure bigint;
BEGIN
  IF NOT deletion.erasure_installed() OR to_regclass('audit.log') IS NULL THEN
    RETURN;
  END IF;
  SELECT e.id INTO by_erasure
    FROM audit.log l JOIN deletion.erasures e ON e.txid = l.txid
   WHERE l.table_name = (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target)
     AND l.record_id = audit.record_id_of(target, pk) AND l.action = 'DELETE'
   LIMIT 1;
  -- or by a chunk of an erasure job (sql/62_erasure_jobs.sql), finished or not
  IF by_erasure IS NULL AND to_regclass('deletion.erasure_jobs') IS NOT NULL THEN
    EXECUTE 'SELECT ej.erasure_id FROM audit.log l JOIN deletion.deletion_job_transactions jt ON jt.txid = l.txid
               JOIN deletion.erasure_jobs ej ON ej.job_id = jt.job_id
              WHERE l.table_name = $1 AND l.record_id = $2 AND l.action = ''DELETE'' LIMIT 1'
       INTO by_erasure
      USING (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target),
            audit.record_id_of(target, pk);
  END IF;
  IF by_erasure IS NOT NULL THEN
    RAISE EXCEPTION 'row % of % was erased (erasure %) and cannot be restored', pk, target, by_erasure
      USING ERRCODE = 'PD605', HINT = 'an erased person is not brought back; deletion.erasures holds the erasure''s report';
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.refuse_erased_row(regclass, text) IS 'Raises PD605 when the row was deleted by an erasure.';

-- PD605 when an audit restore would undo an erasure or bring back rows whose images an erasure
-- redacted.
CREATE OR REPLACE FUNCTION deletion.refuse_erased_restore(scope_txid bigint, scope_statements integer[])
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  by_erasure bigint;
  redacted record;
BEGIN
  IF NOT deletion.erasure_installed() THEN
    RETURN;
  END IF;
  SELECT e.id INTO by_erasure FROM deletion.erasures e WHERE e.txid = scope_txid LIMIT 1;
  IF by_erasure IS NULL AND to_regclass('deletion.erasure_jobs') IS NOT NULL THEN
    EXECUTE 'SELECT ej.erasure_id FROM deletion.deletion_job_transactions jt JOIN deletion.erasure_jobs ej ON ej.job_id = jt.job_id WHERE jt.txid = $1 LIMIT 1'
       INTO by_erasure USING scope_txid;
  END IF;
  IF by_erasure IS NOT NULL THEN
    RAISE EXCEPTION 'transaction % is erasure %: an erasure cannot be undone', scope_txid, by_erasure
      USING ERRCODE = 'PD605', HINT = 'an erased person is not brought back; deletion.erasures holds the erasure''s report';
  END IF;
  IF to_regclass('audit.redactions') IS NOT NULL THEN
    SELECT l.table_name, l.record_id INTO redacted
      FROM audit.log l
     WHERE l.txid = scope_txid AND l.statement_seq = ANY (scope_statements) AND l.action IN ('DELETE', 'UPDATE')
       AND EXISTS (SELECT FROM audit.redactions x WHERE x.log_id = l.id AND x.created_at = l.created_at)
     LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'restore of transaction % refused: it would bring back % % whose personal data an erasure removed', scope_txid,
                      redacted.table_name, redacted.record_id
        USING ERRCODE = 'PD605', HINT = 'erased personal data is not brought back; restore the other rows by hand if they are needed';
    END IF;
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.refuse_erased_restore(bigint, integer[]) IS 'Raises PD605 when an audit restore would undo an erasure or restore images an erasure redacted.';

REVOKE EXECUTE ON FUNCTION
  deletion.erasure_key(text),
  deletion.erasure_subject_hash(bytea, text, text),
  deletion.erasure_key_id(bytea),
  deletion.erasure_rules_version(name, name),
  deletion.scrub_text(text, text[]),
  deletion.contains_any(text, text[]),
  deletion.erasure_signature(bytea, jsonb),
  deletion.verify_erasure_report(jsonb, text),
  deletion.erasure_fk_predicate(oid, text, jsonb),
  deletion.erasure_fk_image_predicate(oid, text, jsonb),
  deletion.personal_columns_of(regclass),
  deletion.transaction_row_counts(),
  deletion.subject_key_text(regclass, jsonb),
  deletion.erase(regclass, jsonb, text, text),
  deletion.table_has_operation_rows(regclass, uuid),
  deletion.refuse_erased_operation(uuid),
  deletion.refuse_erased_row(regclass, text),
  deletion.refuse_erased_restore(bigint, integer[])
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.erase(regclass, jsonb, text, text), deletion.verify_erasure_report(jsonb, text) TO deletion_admin;
