-- Personal data as registry data (docs/erasure.md): which columns hold it and of what kind, which
-- tables are erasable subjects (people), and what erasing one does to each table that references it.
-- Product migrations declare them with the functions below, as they register tables; erasure
-- (sql/60_erasure.sql) reads nothing else, and lint (deletion.personal_data_lint, part of
-- deletion.lint) asks for what is missing: a personal-looking column nobody declared, a foreign key
-- to a subject with no rule.
--
-- The tables come with migration 0130; everything that reads them is PL/pgSQL and returns early
-- when they are absent, so this module loads on an engine migrated below 0130.

-- Whether migration 0130 is installed.
CREATE OR REPLACE FUNCTION deletion.erasure_installed()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT to_regclass('deletion.erasure_rules') IS NOT NULL AND to_regclass('deletion.erasures') IS NOT NULL
$$;
COMMENT ON FUNCTION deletion.erasure_installed() IS 'True when the erasure registry (migration 0130) exists.';

-- Raises 55000 unless migration 0130 is installed.
CREATE OR REPLACE FUNCTION deletion.require_erasure_installed()
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  IF NOT deletion.erasure_installed() THEN
    RAISE EXCEPTION 'the erasure registry is not installed' USING ERRCODE = '55000', HINT = 'run deletion-kit migrate (migration 0130_erasure)';
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.require_erasure_installed() IS 'Raises 55000 when migration 0130 (erasure registry) is not installed.';

-- The schema and name of a registered table, or PD601 when it is not registered.
CREATE OR REPLACE FUNCTION deletion.erasure_registered_name(target regclass, OUT table_schema name, OUT table_name name)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  SELECT n.nspname, c.relname INTO table_schema, table_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
  IF deletion.policy_of(target) IS NULL THEN
    RAISE EXCEPTION 'table % is not registered in the deletion policy registry', target
      USING ERRCODE = 'PD601', HINT = format('register it first: SELECT deletion.register_table(%L)', target::text);
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.erasure_registered_name(regclass) IS 'Schema and name of a registered table; PD601 when it is not registered.';

-- Declares that a column holds personal data of the given category (or, with 'not_personal', that
-- it was looked at and holds none). replacement is what a redaction writes: a literal of the column's
-- type (a rule that redacts a NOT NULL column needs one). Key columns cannot be personal data (erasure keeps keys).
-- Idempotent (a second call updates the declaration). Run by the migrating role, like register_table.
CREATE OR REPLACE FUNCTION deletion.declare_personal_data(target regclass, column_name name, category text, replacement text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
#variable_conflict use_column
DECLARE
  reg record := deletion.erasure_registered_name(target);
  col record;
BEGIN
  PERFORM deletion.require_erasure_installed();
  SELECT a.attname, a.attnotnull, format_type(a.atttypid, a.atttypmod) AS type_name INTO col
    FROM pg_attribute a WHERE a.attrelid = target AND a.attname = declare_personal_data.column_name AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no column %', target, quote_ident(column_name) USING ERRCODE = '42703';
  END IF;
  IF category IS NULL OR category NOT IN ('contact', 'identity', 'content', 'location', 'network', 'financial', 'other', 'not_personal') THEN
    RAISE EXCEPTION 'unknown personal-data category %', coalesce(quote_literal(category), 'NULL')
      USING ERRCODE = '22023', HINT = 'one of contact, identity, content, location, network, financial, other, or not_personal';
  END IF;
  IF category <> 'not_personal' THEN
    IF column_name IN (SELECT k.column_name FROM deletion.primary_key_columns(target) k) THEN
      RAISE EXCEPTION 'column % of % is part of its primary key, which erasure keeps', quote_ident(column_name), target
        USING ERRCODE = '22023', HINT = 'give the table a surrogate key; personal data must be a column erasure can overwrite';
    END IF;
    IF replacement IS NOT NULL THEN
      BEGIN
        EXECUTE format('SELECT %L::%s', replacement, col.type_name);
      EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'replacement % is not a value of type % (column % of %): %', quote_literal(replacement), col.type_name,
                        quote_ident(column_name), target, SQLERRM
          USING ERRCODE = '22P02';
      END;
    END IF;
  END IF;
  INSERT INTO deletion.personal_columns AS p (table_schema, table_name, column_name, category, replacement)
  VALUES (reg.table_schema, reg.table_name, declare_personal_data.column_name, declare_personal_data.category,
          CASE WHEN declare_personal_data.category = 'not_personal' THEN NULL ELSE declare_personal_data.replacement END)
  ON CONFLICT (table_schema, table_name, column_name) DO UPDATE
     SET category = excluded.category, replacement = excluded.replacement, declared_at = now();
END
$$;
COMMENT ON FUNCTION deletion.declare_personal_data(regclass, name, text, text) IS 'Declares a column as personal data of a category (or not_personal), with the value a redaction writes.';

-- Declares a table whose rows are people who may ask to be erased, and its tombstone, the row that
-- rules with action 'tombstone' re-point to: an existing row's key (tombstone_key), or the column
-- values of a row the first erasure that needs one inserts (tombstone_row), so that the product has
-- no such row until then. Idempotent.
CREATE OR REPLACE FUNCTION deletion.declare_erasure_subject(target regclass, tombstone_key jsonb DEFAULT NULL, tombstone_row jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
#variable_conflict use_column
DECLARE
  reg record := deletion.erasure_registered_name(target);
  found_row boolean;
  bad text[];
BEGIN
  PERFORM deletion.require_erasure_installed();
  IF tombstone_key IS NOT NULL THEN
    IF jsonb_typeof(tombstone_key) <> 'object' THEN
      RAISE EXCEPTION 'the tombstone key is a JSON object of the key columns, not %', tombstone_key
        USING ERRCODE = '22023', HINT = 'for example ''{"id": 1}''';
    END IF;
    EXECUTE format('SELECT true FROM %s WHERE %s', target, deletion.key_predicate(target, deletion.key_text(target, tombstone_key)))
      INTO found_row;
    IF found_row IS NULL THEN
      RAISE EXCEPTION 'table % has no tombstone row %', target, tombstone_key
        USING ERRCODE = 'P0002', HINT = 'insert the row that stands for an erased person first, or pass its values as tombstone_row';
    END IF;
  END IF;
  IF tombstone_row IS NOT NULL THEN
    IF jsonb_typeof(tombstone_row) <> 'object' THEN
      RAISE EXCEPTION 'the tombstone row is a JSON object of column values, not %', tombstone_row
        USING ERRCODE = '22023', HINT = 'for example ''{"name": "Deleted user", "email": "deleted-user@invalid"}''';
    END IF;
    bad := ARRAY(SELECT k FROM jsonb_object_keys(tombstone_row) k
                  WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = target AND a.attname = k AND a.attnum > 0 AND NOT a.attisdropped));
    IF cardinality(bad) > 0 THEN
      RAISE EXCEPTION 'table % has no column %', target, array_to_string(bad, ', ') USING ERRCODE = '42703';
    END IF;
  END IF;
  INSERT INTO deletion.erasure_subjects AS s (table_schema, table_name, tombstone_key, tombstone_row)
  VALUES (reg.table_schema, reg.table_name, declare_erasure_subject.tombstone_key, declare_erasure_subject.tombstone_row)
  ON CONFLICT (table_schema, table_name) DO UPDATE
     SET tombstone_key = excluded.tombstone_key, tombstone_row = excluded.tombstone_row, declared_at = now();
END
$$;
COMMENT ON FUNCTION deletion.declare_erasure_subject(regclass, jsonb, jsonb) IS 'Declares a table of erasable subjects (people), with its tombstone row: an existing key, or the values of a row the first erasure inserts.';

-- The foreign key of `target` whose referencing columns are exactly via_columns (in order), and the
-- table it references.
CREATE OR REPLACE FUNCTION deletion.foreign_key_by_columns(target regclass, via_columns name[],
                                                           OUT constraint_oid oid, OUT referenced regclass, OUT delete_action "char")
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  SELECT con.oid, con.confrelid::regclass, con.confdeltype
    FROM pg_constraint con
   WHERE con.contype = 'f' AND con.conrelid = target AND con.conparentid = 0
     AND ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.n) = via_columns
   LIMIT 1
$$;
COMMENT ON FUNCTION deletion.foreign_key_by_columns(regclass, name[]) IS 'The foreign key of a table with exactly these referencing columns, and the table it references.';

-- Declares what erasing a subject does to the rows of `target` that reference it through the foreign
-- key on via_columns: 'delete' them, 'set_null' the key, or re-point it to the subject's 'tombstone';
-- redact also overwrites their declared personal columns. Idempotent.
CREATE OR REPLACE FUNCTION deletion.declare_erasure_rule(target regclass, via_columns name[], action text, redact boolean DEFAULT false,
                                                         note text DEFAULT '')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
#variable_conflict use_column
DECLARE
  reg record := deletion.erasure_registered_name(target);
  fk record;
  subject record;
BEGIN
  PERFORM deletion.require_erasure_installed();
  SELECT * INTO fk FROM deletion.foreign_key_by_columns(target, via_columns);
  IF fk.constraint_oid IS NULL THEN
    RAISE EXCEPTION 'table % has no foreign key on (%)', target, array_to_string(via_columns, ', ')
      USING ERRCODE = '42704', HINT = 'name the referencing columns of one foreign key, in its order';
  END IF;
  SELECT s.*, n.nspname, c.relname INTO subject
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN deletion.erasure_subjects s ON s.table_schema = n.nspname AND s.table_name = c.relname
   WHERE c.oid = fk.referenced;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the foreign key on % (%) references %, which is not an erasure subject', target, array_to_string(via_columns, ', '), fk.referenced
      USING ERRCODE = 'PD601', HINT = format('declare it first: SELECT deletion.declare_erasure_subject(%L)', fk.referenced::text);
  END IF;
  IF action IS NULL OR action NOT IN ('delete', 'set_null', 'tombstone') THEN
    RAISE EXCEPTION 'unknown erasure action %', coalesce(quote_literal(action), 'NULL')
      USING ERRCODE = '22023', HINT = 'delete, set_null or tombstone';
  END IF;
  IF action = 'delete' AND redact THEN
    RAISE EXCEPTION 'deleted rows need no redaction' USING ERRCODE = '22023', HINT = 'redact goes with set_null or tombstone';
  END IF;
  IF action = 'set_null' AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = target AND a.attname = ANY (via_columns) AND a.attnotnull) THEN
    RAISE EXCEPTION 'set_null needs nullable columns, and (%) of % is NOT NULL', array_to_string(via_columns, ', '), target
      USING ERRCODE = '22023', HINT = 'use tombstone (re-point to the subject''s tombstone row) or delete';
  END IF;
  IF action = 'tombstone' AND subject.tombstone_key IS NULL AND subject.tombstone_row IS NULL THEN
    RAISE EXCEPTION '% has no tombstone row to re-point to', fk.referenced
      USING ERRCODE = '22023', HINT = format('declare one: SELECT deletion.declare_erasure_subject(%L, tombstone_row => ''{"name": "Deleted user"}'')', fk.referenced::text);
  END IF;
  IF redact AND EXISTS (SELECT FROM deletion.personal_columns p
                          JOIN pg_attribute a ON a.attrelid = target AND a.attname = p.column_name AND a.attnotnull
                         WHERE p.table_schema = reg.table_schema AND p.table_name = reg.table_name
                           AND p.category <> 'not_personal' AND p.replacement IS NULL) THEN
    RAISE EXCEPTION 'a redaction of % would write NULL into a NOT NULL personal column', target
      USING ERRCODE = '22023', HINT = 'declare a replacement for it: deletion.declare_personal_data(table, column, category, ''[erased]'')';
  END IF;
  INSERT INTO deletion.erasure_rules AS r (subject_schema, subject_table, table_schema, table_name, via_columns, action, redact, note)
  VALUES (subject.nspname, subject.relname, reg.table_schema, reg.table_name, declare_erasure_rule.via_columns,
          declare_erasure_rule.action, coalesce(declare_erasure_rule.redact, false), coalesce(declare_erasure_rule.note, ''))
  ON CONFLICT (table_schema, table_name, via_columns) DO UPDATE
     SET action = excluded.action, redact = excluded.redact, note = excluded.note, declared_at = now();
END
$$;
COMMENT ON FUNCTION deletion.declare_erasure_rule(regclass, name[], text, boolean, text) IS 'Declares what erasure does to the rows referencing a subject through one foreign key: delete, set_null or tombstone, optionally redacting their personal columns.';

-- Column names that usually hold personal data (a heuristic for lint; declaring decides).
CREATE OR REPLACE FUNCTION deletion.looks_personal(column_name name, type_oid oid)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT lower(column_name) ~ '(^|_)(e_?mail|phone|mobile|fax|name|firstname|lastname|surname|address|street|city|postcode|postal|zip|ip|ssn|dob|birth|birthday|birthdate|passport|iban|avatar)(_|$)'
      OR type_oid IN ('inet'::regtype, 'cidr'::regtype, 'macaddr'::regtype)
$$;
COMMENT ON FUNCTION deletion.looks_personal(name, oid) IS 'True for column names (email, phone, name, address, ip, ...) and types (inet) that usually hold personal data.';

-- Lint rules of erasure, once a database declares an erasure subject (before that it has not adopted
-- erasure, and nothing is asked):
--   personal_data_undeclared  a column of a subject table, or of a table referencing one, whose name
--                             looks personal and has no declaration (key columns excepted);
--   erasure_rule_missing      a foreign key to a subject table with no erasure rule (deletion.erase
--                             refuses to run until every one has a rule).
CREATE OR REPLACE FUNCTION deletion.personal_data_lint()
RETURNS TABLE (severity text, rule text, object text, problem text, fix text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  IF NOT deletion.erasure_installed() THEN
    RETURN;
  END IF;
  RETURN QUERY
  WITH subjects AS (
    SELECT c.oid::regclass AS rel
      FROM deletion.erasure_subjects s
      JOIN pg_namespace n ON n.nspname = s.table_schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.table_name
  ), referencing AS (
    SELECT con.oid AS constraint_oid, con.conname, con.conrelid::regclass AS child, con.confrelid::regclass AS subject,
           ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.n) AS via_columns,
           con.conkey
      FROM pg_constraint con
     WHERE con.contype = 'f' AND con.conparentid = 0 AND con.confrelid IN (SELECT rel FROM subjects)
  ), scope AS (
    SELECT rel FROM subjects UNION SELECT child FROM referencing
  )
  SELECT 'warning'::text, 'personal_data_undeclared'::text, format('%s.%I', s.rel, a.attname),
         format('column %I of %s looks like personal data (its name or type) and is not declared: erasure would leave it as it is', a.attname, s.rel),
         format('SELECT deletion.declare_personal_data(%L, %L, ''contact'' /* or identity, content, ..., not_personal */%s);',
                s.rel::text, a.attname, CASE WHEN a.attnotnull THEN ', ''[erased]''' ELSE '' END)
    FROM scope s
    JOIN pg_class c ON c.oid = s.rel
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = s.rel AND a.attnum > 0 AND NOT a.attisdropped
   WHERE deletion.looks_personal(a.attname, a.atttypid)
     AND n.nspname NOT IN (SELECT deletion.engine_schemas())
     AND NOT EXISTS (SELECT FROM deletion.primary_key_columns(s.rel) k WHERE k.column_name = a.attname)
     AND NOT EXISTS (SELECT FROM referencing r WHERE r.child = s.rel AND a.attnum = ANY (r.conkey))
     AND NOT EXISTS (SELECT FROM deletion.personal_columns p
                      WHERE p.table_schema = n.nspname AND p.table_name = c.relname AND p.column_name = a.attname)
  UNION ALL
  SELECT 'warning', 'erasure_rule_missing', format('%s.%I', r.child, r.conname),
         format('foreign key %I of %s references erasure subject %s and has no erasure rule: deletion.erase refuses to run until it has one',
                r.conname, r.child, r.subject),
         format('SELECT deletion.declare_erasure_rule(%L, %L, ''delete'' /* or set_null, tombstone */);', r.child::text, r.via_columns::text)
    FROM referencing r
    JOIN pg_class c ON c.oid = r.child
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE NOT EXISTS (SELECT FROM deletion.erasure_rules e
                      WHERE e.table_schema = n.nspname AND e.table_name = c.relname AND e.via_columns = r.via_columns);
END
$$;
COMMENT ON FUNCTION deletion.personal_data_lint() IS 'Lint rules of erasure (part of deletion.lint): personal-looking columns not declared, foreign keys to a subject without an erasure rule.';

GRANT EXECUTE ON FUNCTION deletion.erasure_installed(), deletion.looks_personal(name, oid), deletion.personal_data_lint()
  TO deletion_app, deletion_admin;

-- The erasure part of a table's generated page (deletion-kit docs, sql/33_docs.sql): its personal
-- columns, whether it is an erasure subject, and the rules for its foreign keys to one. Empty when
-- nothing is declared (or migration 0130 is absent).
CREATE OR REPLACE FUNCTION deletion.erasure_markdown(target regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  reg record;
  personal text := '';
  subject text := '';
  rules text := '';
BEGIN
  IF NOT deletion.erasure_installed() THEN
    RETURN '';
  END IF;
  SELECT n.nspname AS table_schema, c.relname AS table_name INTO reg
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
  SELECT coalesce(E'\nPersonal data (erased by deletion.erase):\n'
                  || deletion.md_table(ARRAY['Column', 'Category', 'Redacted to'],
                                       array_agg(ARRAY[p.column_name::text, p.category,
                                                       CASE WHEN p.category = 'not_personal' THEN '' ELSE coalesce(p.replacement, 'NULL') END]
                                                 ORDER BY p.column_name)), '')
    INTO personal
    FROM deletion.personal_columns p WHERE p.table_schema = reg.table_schema AND p.table_name = reg.table_name
  HAVING count(*) > 0;
  SELECT format(E'\nErasure subject: deletion.erase removes a row and every copy of its declared personal data; rows re-pointed by a rule reference the tombstone %s.\n',
                coalesce(s.tombstone_key::text, CASE WHEN s.tombstone_row IS NULL THEN '(none)' ELSE 'created from ' || s.tombstone_row::text END))
    INTO subject
    FROM deletion.erasure_subjects s WHERE s.table_schema = reg.table_schema AND s.table_name = reg.table_name;
  SELECT coalesce(E'\nErasure rules:\n'
                  || deletion.md_table(ARRAY['Columns', 'Subject', 'Action', 'Redact', 'Why'],
                                       array_agg(ARRAY[array_to_string(r.via_columns, ', '), format('%I.%I', r.subject_schema, r.subject_table),
                                                       r.action, r.redact::text, r.note]
                                                 ORDER BY r.via_columns)), '')
    INTO rules
    FROM deletion.erasure_rules r WHERE r.table_schema = reg.table_schema AND r.table_name = reg.table_name
  HAVING count(*) > 0;
  RETURN coalesce(personal, '') || coalesce(subject, '') || coalesce(rules, '');
END
$$;
COMMENT ON FUNCTION deletion.erasure_markdown(regclass) IS 'The erasure section of a table''s generated docs page: personal columns, subject, rules.';

GRANT EXECUTE ON FUNCTION deletion.erasure_markdown(regclass) TO deletion_app, deletion_admin;
