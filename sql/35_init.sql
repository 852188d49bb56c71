-- deletion-kit init: what adopting an existing database would take, decided here, in SQL, from the
-- catalog and the registry. `deletion-kit init` only calls these functions and writes what they return
-- as one reviewable node-pg-migrate migration (and, beside it, a file of CREATE INDEX CONCURRENTLY
-- statements); docs/adopting.md ("Starting from deletion-kit init") describes the files.
--
--   deletion.adoption_schemas(schemas)  the schemas init reads: the ones asked for, or every schema but
--                                       PostgreSQL's, the engine's (deletion, audit, deletion_work,
--                                       deletion_kit) and pgTAP's (tap)
--   deletion.adoption_indexes(schemas)  one index per foreign key without one (lint's
--                                       unindexed_foreign_key), with a valid name of at most 63 bytes
--   deletion.adoption_plan(schemas)     for every table of those schemas without a registry row: its
--                                       policy (soft delete or hard delete), audit exclusions,
--                                       protection rules, file tracking; each call with its reason and
--                                       the call that undoes it
--
-- Nothing here changes the database: the functions read the catalog and the registry, with the
-- caller's rights (granted to deletion_admin only: they show every table's columns and foreign keys).
--
-- The heuristics, each stated in the reason it gives:
--   soft delete   a table that RESTRICT or NO ACTION foreign keys reference (rows must not disappear
--                 under their children), or with columns that look like personal data (email, phone,
--                 fax, address, ip, person names, birth dates), or whose ON DELETE CASCADE reaches a
--                 soft-delete table (a hard delete there would be refused, PD103); proposed commented
--                 out when enable_soft_delete would refuse the table (no primary key; a unique key that
--                 a foreign key references, is deferrable or already partial, PD102; a soft-delete
--                 column of another type)
--   audit         on by default with registration; columns that look like secrets (password, token,
--                 secret, hash, salt, api key) are excluded, except primary-key columns
--   hard delete   every other table: registered only
--   bulk_delete   soft-delete tables and tables that three or more foreign keys reference: at most 100
--                 rows a statement
--   child_count   a CASCADE or SET NULL foreign key whose child holds, by the statistics, 100 or more
--                 rows per parent row (and 10,000 in all): more than 1,000 go through a deletion job;
--                 commented out otherwise (unsure)
--   track_files   a text or uuid column that looks like a storage key (storage_key, file_path, ...):
--                 always commented out

-- The schemas init reads. NULL: every schema but PostgreSQL's own (pg_*, information_schema), the
-- engine's and pgTAP's. Errors: a schema that does not exist (3F000), one of those (22023).
CREATE OR REPLACE FUNCTION deletion.adoption_schemas(schemas name[] DEFAULT NULL)
RETURNS SETOF regnamespace
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  excluded CONSTANT name[] := ARRAY['information_schema', 'deletion', 'audit', 'deletion_work', 'deletion_kit', 'tap'];
  wanted name;
BEGIN
  IF schemas IS NULL THEN
    RETURN QUERY
      SELECT n.oid::regnamespace FROM pg_namespace n
       WHERE n.nspname <> ALL (excluded) AND n.nspname NOT LIKE 'pg\_%'
       ORDER BY n.nspname;
    RETURN;
  END IF;
  FOREACH wanted IN ARRAY schemas LOOP
    IF wanted = ANY (excluded) OR wanted LIKE 'pg\_%' THEN
      RAISE EXCEPTION 'schema "%" is PostgreSQL''s or the deletion engine''s own: init adopts the tables of your schemas', wanted
        USING ERRCODE = '22023', HINT = 'name the schemas of your product, or leave --schema out to read all of them';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_namespace n WHERE n.nspname = wanted) THEN
      RAISE EXCEPTION 'schema "%" does not exist', wanted
        USING ERRCODE = '3F000', HINT = 'schema names are matched exactly (case included)';
    END IF;
  END LOOP;
  RETURN QUERY
    SELECT n.oid::regnamespace FROM pg_namespace n WHERE n.nspname = ANY (schemas) ORDER BY n.nspname;
END
$$;
COMMENT ON FUNCTION deletion.adoption_schemas(name[]) IS 'The schemas deletion-kit init reads: the ones given, or every schema but PostgreSQL''s, the engine''s and tap (3F000 unknown, 22023 excluded).';

-- One index per foreign key of those schemas that has none (lint's test, deletion.has_leading_index:
-- no valid, non-partial index leads with its referencing columns), once per
-- table and column list. The name is <table>_<columns>_idx cut to 63 bytes (whole characters), or, when
-- that name is taken in the schema or by another proposed index, a shorter one with 8 hex digits of a
-- digest of the table and columns. concurrent is false for partitioned tables, which CREATE INDEX
-- CONCURRENTLY cannot index: that statement belongs in the migration (adoption_plan), the others in
-- the file run outside a transaction.
CREATE OR REPLACE FUNCTION deletion.adoption_indexes(schemas name[] DEFAULT NULL)
RETURNS TABLE (table_name regclass, constraint_name name, index_name name, concurrent boolean, statement text, reason text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  WITH unindexed AS (
    SELECT DISTINCT ON (con.conrelid, con.conkey)
           con.conrelid, con.conname, con.confrelid, con.conkey, c.relname, c.relnamespace, c.relkind
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
     WHERE con.contype = 'f' AND con.conparentid = 0
       AND c.relnamespace IN (SELECT deletion.adoption_schemas(schemas))
       AND NOT deletion.has_leading_index(con.conrelid, ARRAY(SELECT a.attname FROM unnest(con.conkey) u(attnum)
                                                                JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = u.attnum))
     ORDER BY con.conrelid, con.conkey, con.conname
  ), named AS (
    SELECT u.*, cols.list, cols.plain,
           long_name.fit || '_idx' AS first_choice,
           short_name.fit || '_' || left(md5(u.conrelid::text || ':' || u.conkey::text), 8) || '_idx' AS second_choice
      FROM unindexed u
      CROSS JOIN LATERAL (
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) AS list,
               string_agg(a.attname, '_' ORDER BY k.n) AS plain
          FROM unnest(u.conkey) WITH ORDINALITY k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = u.conrelid AND a.attnum = k.attnum
      ) cols
      CROSS JOIN LATERAL (SELECT u.relname || '_' || cols.plain AS base) b
      -- The longest prefix of whole characters that fits the bytes left for the suffix.
      CROSS JOIN LATERAL (SELECT left(b.base, max(n)) AS fit FROM generate_series(0, length(b.base)) n
                           WHERE octet_length(left(b.base, n)) <= 63 - length('_idx')) long_name
      CROSS JOIN LATERAL (SELECT left(b.base, max(n)) AS fit FROM generate_series(0, length(b.base)) n
                           WHERE octet_length(left(b.base, n)) <= 63 - length('_12345678_idx')) short_name
  ), chosen AS (
    SELECT n.*,
           CASE WHEN EXISTS (SELECT 1 FROM pg_class r WHERE r.relnamespace = n.relnamespace AND r.relname = n.first_choice)
                  OR row_number() OVER (PARTITION BY n.relnamespace, n.first_choice ORDER BY n.relname, n.conname) > 1
                THEN n.second_choice ELSE n.first_choice END::name AS index_name
      FROM named n
  )
  SELECT c.conrelid::regclass, c.conname, c.index_name, c.relkind <> 'p',
         format('CREATE INDEX%s IF NOT EXISTS %I ON %s (%s);',
                CASE WHEN c.relkind <> 'p' THEN ' CONCURRENTLY' ELSE '' END, c.index_name, c.conrelid::regclass, c.list),
         format('index (lint: unindexed_foreign_key): foreign key %I on %s (%s) has no index on its referencing columns, so every delete from %s scans %s',
                c.conname, c.conrelid::regclass, c.list, c.confrelid::regclass, c.conrelid::regclass)
         || CASE WHEN c.relkind = 'p'
                 THEN format('. %s is partitioned, and CREATE INDEX CONCURRENTLY cannot index a partitioned table: this one is built in the migration, which blocks writes to the table while it builds', c.conrelid::regclass)
                 ELSE '' END
    FROM chosen c
   ORDER BY c.conrelid::regclass::text, c.index_name
$$;
COMMENT ON FUNCTION deletion.adoption_indexes(name[]) IS 'deletion-kit init: one CREATE INDEX (CONCURRENTLY unless partitioned) per foreign key without an index, with a valid name of at most 63 bytes and the reason.';

-- The adoption plan: one row per proposed call, in the order the migration runs them (ordinal), for
-- every table of the schemas that has no row in deletion.table_policies (tables already registered
-- are left as they are), plus the in-migration indexes of partitioned tables. Columns:
--   table_name  the table
--   ordinal     1, 2, ...: the Up section runs the statements in this order, the Down section the undo
--               calls in the reverse order
--   step        index | register | soft_delete | audit | bulk_delete | child_count | track_files
--   proposed    false: a proposal init is unsure of, or that the engine would refuse; the migration
--               has it commented out, with the reason
--   statement   the SQL call
--   reason      why, in a sentence or two (the migration's comment above the call)
--   undo        the SQL that undoes it (the Down section), NULL when undoing the registration suffices
CREATE OR REPLACE FUNCTION deletion.adoption_plan(schemas name[] DEFAULT NULL)
RETURNS TABLE (table_name regclass, ordinal integer, step text, proposed boolean, statement text, reason text, undo text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog
AS $$
  WITH RECURSIVE scope AS (
    SELECT deletion.adoption_schemas(schemas) AS nsp
  ), tabs AS (
    -- The tables to adopt: ordinary and partitioned tables (not partitions, not temporary) with no
    -- registry row. est_rows: the planner's estimate (NULL: never analyzed).
    SELECT c.oid, n.nspname, c.relname, c.relkind,
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_pk
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence <> 't'
       AND c.relnamespace IN (SELECT nsp FROM scope)
       AND NOT EXISTS (SELECT 1 FROM deletion.table_policies tp WHERE tp.table_schema = n.nspname AND tp.table_name = c.relname)
  ), estimates AS (
    -- Row estimates of every table (a partitioned table's is the sum of its leaf partitions'); NULL
    -- when the statistics have never been gathered (reltuples -1).
    SELECT c.oid,
           CASE WHEN c.relkind = 'p'
                THEN (SELECT sum(pc.reltuples) FROM pg_partition_tree(c.oid) pt JOIN pg_class pc ON pc.oid = pt.relid
                       WHERE pt.isleaf HAVING bool_and(pc.reltuples >= 0))
                WHEN c.reltuples >= 0 THEN c.reltuples END AS est_rows
      FROM pg_class c WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  ), fks AS (
    SELECT con.oid, con.conname, con.conrelid, con.confrelid, con.confdeltype
      FROM pg_constraint con
     WHERE con.contype = 'f' AND con.conparentid = 0
  ), cols AS (
    -- Every column of those tables, with its name split into lower-case words (snake_case and
    -- camelCase alike: "billingAddress", "billing_address" -> {billing, address}).
    SELECT t.oid, a.attnum, a.attname, ty.typcategory, a.atttypid,
           a.attnum = ANY (coalesce(string_to_array(pk.indkey::text, ' ')::int2[], '{}')) AS in_pk,
           w.words, w.words[cardinality(w.words)] AS last_word
      FROM tabs t
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_type ty ON ty.oid = a.atttypid
      LEFT JOIN pg_index pk ON pk.indrelid = t.oid AND pk.indisprimary
      CROSS JOIN LATERAL (
        SELECT array_remove(regexp_split_to_array(lower(regexp_replace(regexp_replace(a.attname,
                 '([[:lower:][:digit:]])([[:upper:]])', '\1_\2', 'g'), '([[:upper:]])([[:upper:]][[:lower:]])', '\1_\2', 'g')),
                 '[^[:alnum:]]+'), '') AS words
      ) w
  ), looks AS (
    SELECT c.*, s.secret,
           -- Personal data: contact details, network addresses, person names, birth dates. Not flags,
           -- counts, ids, timestamps (email_verified_at, address_id, phone_count are not the data).
           NOT s.secret AND c.typcategory <> 'B'
           AND c.last_word <> ALL (ARRAY['id', 'ids', 'uuid', 'count', 'at', 'on', 'type', 'kind', 'status', 'verified', 'confirmed'])
           AND ((c.typcategory <> 'D'
                 AND (c.words && ARRAY['email', 'emails', 'emailaddress', 'phone', 'phones', 'phonenumber', 'telephone', 'mobile',
                                       'cellphone', 'fax', 'address', 'addresses', 'ip', 'ipaddress', 'ipv4', 'ipv6', 'ssn',
                                       'firstname', 'lastname', 'fullname', 'surname', 'forename', 'username', 'givenname',
                                       'familyname', 'middlename', 'maidenname', 'displayname', 'nickname']
                      OR (c.words && ARRAY['name', 'names']
                          AND c.words && ARRAY['first', 'last', 'full', 'given', 'family', 'middle', 'maiden', 'user', 'display',
                                               'legal', 'nick', 'real', 'contact', 'person', 'customer', 'employee', 'sur', 'fore'])
                      OR c.typcategory = 'I'))
                OR c.words && ARRAY['birth', 'birthdate', 'birthday', 'dob']) AS personal,
           -- A key of a file in storage: text, varchar or uuid named like storage_key, file_path, s3_key.
           NOT s.secret AND c.atttypid IN ('text'::regtype, 'character varying'::regtype, 'uuid'::regtype)
           AND (c.words && ARRAY['storagekey', 'filekey', 'filepath', 's3key', 'objectkey', 'blobkey']
                OR (c.words && ARRAY['storage', 'file', 's3', 'blob', 'object', 'upload', 'attachment', 'bucket']
                    AND c.last_word IN ('key', 'path'))) AS storage_key
      FROM cols c
      CROSS JOIN LATERAL (
        -- Secrets: never into the audit log. Not flags, timestamps, counts (password_changed_at).
        SELECT c.typcategory NOT IN ('B', 'D')
               AND c.last_word <> ALL (ARRAY['id', 'ids', 'count', 'at', 'on', 'type', 'kind', 'status'])
               AND (c.words && ARRAY['password', 'passwords', 'passwd', 'passphrase', 'pwd', 'token', 'tokens', 'secret', 'secrets',
                                     'hash', 'hashed', 'salt', 'apikey', 'otp']
                    OR (c.words && ARRAY['api', 'private', 'secret', 'access', 'signing', 'encryption'] AND 'key' = ANY (c.words))) AS secret
      ) s
  ), restricting AS (
    -- Children that hold on to their parent: RESTRICT and NO ACTION foreign keys into the table.
    SELECT f.confrelid AS oid,
           string_agg(format('%s (%I, ON DELETE %s)', f.conrelid::regclass, f.conname,
                             CASE f.confdeltype WHEN 'r' THEN 'RESTRICT' ELSE 'NO ACTION' END),
                      ', ' ORDER BY f.conrelid::regclass::text, f.conname) AS children
      FROM fks f
     WHERE f.confdeltype IN ('r', 'a') AND f.confrelid IN (SELECT oid FROM tabs)
     GROUP BY f.confrelid
  ), personal AS (
    SELECT l.oid, string_agg(quote_ident(l.attname), ', ' ORDER BY l.attnum) AS columns
      FROM looks l WHERE l.personal GROUP BY l.oid
  ), secrets AS (
    SELECT l.oid,
           array_agg(l.attname::text ORDER BY l.attnum) FILTER (WHERE NOT l.in_pk) AS excluded,
           string_agg(quote_ident(l.attname), ', ' ORDER BY l.attnum) FILTER (WHERE l.in_pk) AS kept
      FROM looks l WHERE l.secret GROUP BY l.oid
  ), blockers AS (
    -- What enable_soft_delete would refuse (sql/11_soft_delete_wiring.sql), in its own terms.
    SELECT t.oid, string_agg(b.why, '; ' ORDER BY b.ord, b.why) AS why
      FROM tabs t
      CROSS JOIN LATERAL (
        SELECT 1 AS ord, 'it has no primary key, so its soft-deleted rows could not be named or restored (42P10): add one, then uncomment' AS why
         WHERE NOT t.has_pk
        UNION ALL
        SELECT 2,
               CASE WHEN r.refs IS NOT NULL
                    THEN format('unique key %I is referenced by foreign key %s, and a foreign key needs a unique key over all rows while soft delete makes unique keys hold among active rows only (PD102)',
                                ic.relname, r.refs)
                    WHEN con.condeferrable THEN format('unique key %I is deferrable, which a partial unique index cannot be (PD102)', ic.relname)
                    ELSE format('unique index %I is already partial (WHERE %s): add "deleted_at IS NULL" to its predicate yourself (PD102)',
                                ic.relname, pg_get_expr(i.indpred, i.indrelid)) END
          FROM pg_index i
          JOIN pg_class ic ON ic.oid = i.indexrelid
          LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'u' AND con.conrelid = i.indrelid
          CROSS JOIN LATERAL (
            SELECT string_agg(format('%s.%I', f.conrelid::regclass, f.conname), ', ' ORDER BY f.conrelid::regclass::text, f.conname) AS refs
              FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid AND f.conparentid = 0
          ) r
         WHERE i.indrelid = t.oid AND i.indisunique AND NOT i.indisprimary
           AND NOT (i.indpred IS NOT NULL AND pg_get_expr(i.indpred, i.indrelid) ~ '\mdeleted_at IS NULL\M')
           AND (r.refs IS NOT NULL OR coalesce(con.condeferrable, false) OR i.indpred IS NOT NULL)
        UNION ALL
        SELECT 3, format('its column %I is %s, not %s as soft delete needs (42804)', a.attname, format_type(a.atttypid, a.atttypmod), want.type_name)
          FROM (VALUES ('deleted_at', 'timestamp with time zone'),
                       ('deletion_reason', 'text'), ('deletion_op', 'uuid')) AS want(column_name, type_name)
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = want.column_name AND a.attnum > 0 AND NOT a.attisdropped
         WHERE format_type(a.atttypid, a.atttypmod) <> want.type_name
      ) b
     GROUP BY t.oid
  ), seeds AS (
    -- Soft delete for the reasons of its own (RESTRICT / NO ACTION children, personal data), when
    -- the engine would take it, and the tables already registered with soft delete.
    SELECT t.oid FROM tabs t
     WHERE (t.oid IN (SELECT oid FROM restricting) OR t.oid IN (SELECT oid FROM personal))
       AND t.oid NOT IN (SELECT oid FROM blockers)
    UNION
    SELECT c.oid FROM deletion.table_policies tp
      JOIN pg_namespace n ON n.nspname = tp.table_schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = tp.table_name
     WHERE coalesce((to_jsonb(tp) ->> 'soft_delete')::boolean, false)
  ), soft_tables (oid) AS (
    -- And every table whose ON DELETE CASCADE reaches one of them: a hard delete cascading into a
    -- soft-delete table is refused (PD103), so its parents soft-delete too.
    SELECT oid FROM seeds
    UNION
    SELECT f.confrelid
      FROM soft_tables s JOIN fks f ON f.conrelid = s.oid AND f.confdeltype = 'c' AND f.confrelid <> f.conrelid
     WHERE f.confrelid IN (SELECT oid FROM tabs) AND f.confrelid NOT IN (SELECT oid FROM blockers)
  ), cascading AS (
    SELECT f.confrelid AS oid,
           string_agg(format('%s (%I)', f.conrelid::regclass, f.conname), ', ' ORDER BY f.conrelid::regclass::text, f.conname) AS children
      FROM fks f
     WHERE f.confdeltype = 'c' AND f.confrelid <> f.conrelid AND f.confrelid IN (SELECT oid FROM tabs)
       AND f.conrelid IN (SELECT oid FROM soft_tables)
     GROUP BY f.confrelid
  ), decided AS (
    SELECT t.*, t.oid::regclass AS rel, r.children AS restrict_children, p.columns AS personal_columns,
           k.children AS cascade_children, b.why AS blocked, s.excluded AS secret_columns, s.kept AS secret_key_columns,
           (r.oid IS NOT NULL OR p.oid IS NOT NULL OR k.oid IS NOT NULL) AS soft_wanted,
           (r.oid IS NOT NULL OR p.oid IS NOT NULL OR k.oid IS NOT NULL) AND b.oid IS NULL AS soft,
           (SELECT count(*) FROM fks f WHERE f.confrelid = t.oid AND f.conrelid <> t.oid) AS child_keys
      FROM tabs t
      LEFT JOIN restricting r ON r.oid = t.oid
      LEFT JOIN personal p ON p.oid = t.oid
      LEFT JOIN cascading k ON k.oid = t.oid
      LEFT JOIN blockers b ON b.oid = t.oid
      LEFT JOIN secrets s ON s.oid = t.oid
  ), soft_why AS (
    SELECT d.oid,
           concat_ws('; ',
             CASE WHEN d.restrict_children IS NOT NULL
                  THEN format('rows of %s reference it, and must not lose their parent: a DELETE marks the row deleted instead of removing it',
                              d.restrict_children) END,
             CASE WHEN d.personal_columns IS NOT NULL
                  THEN format('%s %s like personal data: a deleted row disappears for every client at once and stays restorable until deletion-kit trash purge erases it for good',
                              d.personal_columns, CASE WHEN d.personal_columns LIKE '%,%' THEN 'look' ELSE 'looks' END) END,
             CASE WHEN d.cascade_children IS NOT NULL
                  THEN format('its ON DELETE CASCADE reaches soft-delete %s: soft-deleting a row here soft-deletes theirs with it, while a hard delete would be refused (PD103)',
                              d.cascade_children) END) AS why,
           concat_ws(', ',
             CASE WHEN d.restrict_children IS NOT NULL THEN 'rows of other tables must keep their parent' END,
             CASE WHEN d.personal_columns IS NOT NULL THEN 'personal data (' || d.personal_columns || ')' END,
             CASE WHEN d.cascade_children IS NOT NULL THEN 'cascades into soft-delete tables' END) AS summary
      FROM decided d
  ), counted AS (
    -- child_count candidates: one per (table, child), through CASCADE or SET NULL keys (a delete
    -- that removes or updates every child row in one statement).
    SELECT DISTINCT ON (f.confrelid, f.conrelid)
           f.confrelid AS oid, f.conrelid AS child, f.conname, f.confdeltype,
           pe.est_rows AS parent_rows, ce.est_rows AS child_rows,
           round(ce.est_rows / greatest(pe.est_rows, 1)) AS per_parent
      FROM fks f
      JOIN decided d ON d.oid = f.confrelid AND d.has_pk
      LEFT JOIN estimates pe ON pe.oid = f.confrelid
      LEFT JOIN estimates ce ON ce.oid = f.conrelid
     WHERE f.confdeltype IN ('c', 'n')
     ORDER BY f.confrelid, f.conrelid, f.conname
  ), storage AS (
    SELECT DISTINCT ON (l.oid) l.oid, l.attname FROM looks l WHERE l.storage_key ORDER BY l.oid, l.attnum
  ), steps AS (
    -- Indexes of partitioned tables, which cannot be built concurrently: in the migration, first.
    SELECT n.nspname, c.relname, ix.table_name AS rel, 0 AS step_order, ix.index_name::text AS sub,
           'index' AS step, true AS proposed, ix.statement, ix.reason,
           format('DROP INDEX IF EXISTS %I.%I;', n.nspname, ix.index_name) AS undo
      FROM deletion.adoption_indexes(schemas) ix
      JOIN pg_class c ON c.oid = ix.table_name
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT ix.concurrent
    UNION ALL
    SELECT d.nspname, d.relname, d.rel, 1, '', 'register', true,
           format('SELECT deletion.register_table(%L, %L);', d.rel::text,
                  CASE WHEN d.soft THEN 'soft delete (deletion-kit init): ' || w.summary
                       WHEN d.soft_wanted THEN 'hard delete until soft delete can be enabled (deletion-kit init): ' || w.summary
                       ELSE 'hard delete (deletion-kit init): no RESTRICT or NO ACTION child, no personal data' END),
           CASE WHEN d.soft
                THEN 'register: every table needs a deletion policy (lint: no_deletion_policy); registering wires the engine''s access and turns the audit log on (deletion-kit audit restore brings a hard-deleted row back)'
                WHEN d.soft_wanted
                THEN 'register, hard delete for now (soft delete is proposed below, commented out): registered so lint knows it was decided, and audited (on by default), so deletion-kit audit restore can bring a deleted row back'
                ELSE 'hard delete: no RESTRICT or NO ACTION foreign key references it and no column looks like personal data, so a DELETE removes the row and its ON DELETE actions run; registered so lint knows it was decided, and audited (on by default), so deletion-kit audit restore can bring a deleted row back'
           END
           || CASE WHEN d.secret_columns IS NULL AND d.secret_key_columns IS NOT NULL
                   THEN format('. %s %s but %s to the primary key, which the audit log must keep', d.secret_key_columns,
                               CASE WHEN d.secret_key_columns LIKE '%,%' THEN 'look like secrets' ELSE 'looks like a secret' END,
                               CASE WHEN d.secret_key_columns LIKE '%,%' THEN 'belong' ELSE 'belongs' END)
                   ELSE '' END,
           concat_ws(E'\n',
             format('DELETE FROM deletion.table_policies WHERE table_schema = %L AND table_name = %L;', d.nspname, d.relname),
             format('SELECT deletion.wire(%L);  -- the table has no registry row now: this removes the engine''s triggers from it', d.rel::text),
             format('DROP POLICY IF EXISTS deletion_00_engine ON %s;', d.rel),
             format('REVOKE SELECT, INSERT, UPDATE, DELETE ON %s FROM deletion_owner;', d.rel))
      FROM decided d JOIN soft_why w ON w.oid = d.oid
    UNION ALL
    SELECT d.nspname, d.relname, d.rel, 2, '', 'soft_delete', d.soft,
           format('SELECT deletion.enable_soft_delete(%L);', d.rel::text),
           'soft delete: ' || w.why
           || CASE WHEN d.soft THEN '' ELSE '. Commented out: enable_soft_delete would refuse the table: ' || d.blocked END,
           format('SELECT deletion.disable_soft_delete(%L);  -- its columns deleted_at, deleted_by, deletion_reason, deletion_op and partial unique indexes stay', d.rel::text)
      FROM decided d JOIN soft_why w ON w.oid = d.oid
     WHERE d.soft_wanted
    UNION ALL
    SELECT d.nspname, d.relname, d.rel, 3, '', 'audit', true,
           format('SELECT audit.enable(%L, ARRAY[%s]);', d.rel::text,
                  (SELECT string_agg(quote_literal(x), ', ' ORDER BY o) FROM unnest(d.secret_columns) WITH ORDINALITY u(x, o))),
           format('audit: on by default with registration; %s %s, so %s never written to the audit log (an audit restore cannot bring %s back)',
                  (SELECT string_agg(quote_ident(x), ', ' ORDER BY o) FROM unnest(d.secret_columns) WITH ORDINALITY u(x, o)),
                  CASE WHEN cardinality(d.secret_columns) > 1 THEN 'look like secrets' ELSE 'looks like a secret' END,
                  CASE WHEN cardinality(d.secret_columns) > 1 THEN 'they are' ELSE 'it is' END,
                  CASE WHEN cardinality(d.secret_columns) > 1 THEN 'their values' ELSE 'its value' END)
           || CASE WHEN d.secret_key_columns IS NOT NULL
                   THEN format('; %s %s too but %s to the primary key, which the log must keep', d.secret_key_columns,
                               CASE WHEN d.secret_key_columns LIKE '%,%' THEN 'look like secrets' ELSE 'looks like a secret' END,
                               CASE WHEN d.secret_key_columns LIKE '%,%' THEN 'belong' ELSE 'belongs' END)
                   ELSE '' END,
           NULL
      FROM decided d
     WHERE d.secret_columns IS NOT NULL
    UNION ALL
    SELECT d.nspname, d.relname, d.rel, 4, '', 'bulk_delete', true,
           format('SELECT deletion.protect_bulk_delete(%L, 100, %L);', d.rel::text,
                  format('delete rows of %s a few at a time, or schedule deletion jobs', d.rel)),
           'protection: ' || CASE WHEN d.soft
                                  THEN 'a soft-delete table: one statement may delete (or soft-delete) at most 100 of its rows, against the DELETE that forgot its WHERE'
                                  ELSE format('%s foreign keys reference it: one statement may delete at most 100 of its rows, against the DELETE that forgot its WHERE', d.child_keys) END
           || '; deletion_admin and deletion jobs pass',
           format('SELECT deletion.unprotect(r.id) FROM deletion.protection_rules r WHERE r.table_schema = %L AND r.table_name = %L AND r.kind = ''bulk_delete'';',
                  d.nspname, d.relname)
      FROM decided d
     WHERE d.soft OR d.child_keys >= 3
    UNION ALL
    SELECT d.nspname, d.relname, d.rel, 5, k.child::regclass::text, 'child_count', m.many,
           format('SELECT deletion.protect_child_count(%L, %L, 1000, %L, via_constraint => %L);', d.rel::text, k.child::regclass::text,
                  format('a row of %s with more than 1000 rows in %s is deleted by a deletion job, in small chunks: SELECT deletion.schedule(''{table}'', ''{pk}'')',
                         d.rel, k.child::regclass),
                  k.conname),
           CASE WHEN m.many
                THEN format('protection: about %s rows of %s reference each row (foreign key %I, ON DELETE %s; from the statistics), so deleting one %s them all in one statement: a row with more than 1000 goes through a deletion job',
                            k.per_parent, k.child::regclass, k.conname, m.action, m.verb)
                ELSE format('protection, unsure: %s; uncomment if a row here can hold many rows of %s (foreign key %I, ON DELETE %s: deleting the row %s them all in one statement)',
                            CASE WHEN k.child_rows IS NULL OR k.parent_rows IS NULL
                                 THEN 'no statistics yet (after ANALYZE, init estimates the rows per parent)'
                                 ELSE format('the statistics say about %s rows of %s per row', k.per_parent, k.child::regclass) END,
                            k.child::regclass, k.conname, m.action, m.verb) END,
           format('SELECT deletion.unprotect(r.id) FROM deletion.protection_rules r WHERE r.table_schema = %L AND r.table_name = %L AND r.kind = ''child_count'' AND r.child_schema = %L AND r.child_table = %L;',
                  d.nspname, d.relname, (SELECT cn.nspname FROM pg_class cc JOIN pg_namespace cn ON cn.oid = cc.relnamespace WHERE cc.oid = k.child),
                  (SELECT cc.relname FROM pg_class cc WHERE cc.oid = k.child))
      FROM decided d
      JOIN counted k ON k.oid = d.oid
      CROSS JOIN LATERAL (
        SELECT coalesce(k.child_rows >= 10000 AND k.per_parent >= 100, false) AS many,
               CASE k.confdeltype WHEN 'c' THEN 'CASCADE' ELSE 'SET NULL' END AS action,
               CASE k.confdeltype WHEN 'c' THEN 'deletes' ELSE 'updates' END AS verb
      ) m
    UNION ALL
    SELECT d.nspname, d.relname, d.rel, 6, '', 'track_files', false,
           format('SELECT deletion.track_files(%L, %L);', d.rel::text, s.attname),
           format('files, unsure: column %I looks like the key of a file in storage: if deleting a row must delete its file too, uncomment (the file cleaner, deletion-kit files cleanup, then deletes it after the row is gone; docs/files.md)',
                  s.attname),
           format('SELECT deletion.track_files(%L, NULL);', d.rel::text)
      FROM decided d JOIN storage s ON s.oid = d.oid
  )
  SELECT s.rel, (row_number() OVER (ORDER BY s.nspname, s.relname, s.step_order, s.sub))::integer,
         s.step, s.proposed, s.statement, s.reason, s.undo
    FROM steps s
   ORDER BY 2
$$;
COMMENT ON FUNCTION deletion.adoption_plan(name[]) IS 'deletion-kit init: for every unregistered table of the schemas, the proposed calls (register, soft delete, audit exclusions, protection, file tracking), each with its reason, whether it is proposed or left commented out, and its undo.';

GRANT EXECUTE ON FUNCTION deletion.adoption_schemas(name[]), deletion.adoption_indexes(name[]), deletion.adoption_plan(name[])
  TO deletion_admin;
