-- Tamper evidence for the audit log: seals, a keyed hash chain, verification and redaction.
-- docs/audit.md ("Tamper evidence") says what is chained and what verify proves; the tables are
-- migration 0072_audit_seals.sql.
--
-- A seal covers every audit.log and audit.transactions row of the transactions in [from_txid,
-- to_txid). to_txid is pg_snapshot_xmin of the sealer's snapshot: every transaction below it has
-- committed (its rows are all there) or aborted (none are), and no new transaction can get a txid
-- below it, so the set of rows a seal covers never grows after the seal. Rows of transactions still
-- running (or started later) wait for the next seal. Capture is untouched: nothing is hashed while a
-- row is written, and neither writers nor the sealer wait for each other.
--
-- Digests (scheme 1):
--   entry digest  E(id, field, key, value) = sha256('<id> <field> <length of key>:<key><value>'),
--                 the value as jsonb text; one per column of the log row (key '') and one per
--                 product column inside old_data / changed (key = the product column);
--   column digest the entry digest for a plain column; for old_data / changed holding an object,
--                 sha256(E(id, field, '', '{}') || its entry digests in byte order);
--   row digest    sha256(the 11 column digests in the table's column order);
--   part digest   sha256(the row digests of one seal and month, in (txid, id) order, the
--                 transaction's audit.transactions row first);
--   batch digest  sha256(the seal's own fields || each part's fields and digest, by month);
--   chain digest  HMAC-SHA256(key, previous chain digest || batch digest).
-- Only the chain is keyed (HMAC, once per seal); rows are hashed with plain SHA-256. A redacted
-- column (audit.redact) contributes the entry digest kept in audit.redactions, so redaction changes
-- no row digest. Timestamps are hashed as their epoch (exact numeric), never as text in a time zone.
--
-- Everything that touches the tables is PL/pgSQL (resolved when it runs), so this module loads even
-- when migration 0072 has been reverted.

-- HMAC-SHA256 (RFC 2104) from the built-in sha256(): PostgreSQL has no hmac() without pgcrypto, and
-- the engine does not depend on an extension. Runs once per seal (and once per seal in verify).
CREATE OR REPLACE FUNCTION audit.hmac_sha256(key bytea, message bytea)
RETURNS bytea
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
SET search_path = pg_catalog
AS $$
  WITH k AS (
    SELECT CASE WHEN length(key) > 64 THEN sha256(key) ELSE key END AS k
  ), padded AS (
    SELECT k.k || decode(repeat('00', 64 - length(k.k)), 'hex') AS k FROM k
  )
  SELECT sha256(
           (SELECT decode(string_agg(lpad(to_hex(get_byte(p.k, i) # 92), 2, '0'), '' ORDER BY i), 'hex') FROM generate_series(0, 63) i)
           || sha256((SELECT decode(string_agg(lpad(to_hex(get_byte(p.k, i) # 54), 2, '0'), '' ORDER BY i), 'hex') FROM generate_series(0, 63) i)
                     || message))
    FROM padded p
$$;
COMMENT ON FUNCTION audit.hmac_sha256(bytea, bytea) IS 'HMAC-SHA256 (RFC 2104) built from sha256(); used for the audit seal chain.';

-- The key as bytes, refusing a missing or short one. The key is never stored, logged or echoed.
CREATE OR REPLACE FUNCTION audit.seal_key(key text)
RETURNS bytea
LANGUAGE plpgsql
IMMUTABLE
SET search_path = pg_catalog
AS $$
BEGIN
  IF key IS NULL OR octet_length(key) < 16 THEN
    RAISE EXCEPTION 'the audit seal key must be at least 16 bytes long'
      USING ERRCODE = '22023', HINT = 'set DELETION_KIT_AUDIT_KEY to a long random secret, e.g. the output of: openssl rand -hex 32';
  END IF;
  RETURN convert_to(key, 'UTF8');
END
$$;
COMMENT ON FUNCTION audit.seal_key(text) IS 'The audit seal key as bytes; refuses a key shorter than 16 bytes (22023).';

-- Which key sealed a seal, without revealing it: tells "wrong key" from "edited chain".
CREATE OR REPLACE FUNCTION audit.seal_key_id(key bytea)
RETURNS bytea
LANGUAGE sql
IMMUTABLE
STRICT
SET search_path = pg_catalog
AS $$
  SELECT substr(audit.hmac_sha256(key, convert_to('deletion-kit audit key id', 'UTF8')), 1, 8)
$$;
COMMENT ON FUNCTION audit.seal_key_id(bytea) IS 'First 8 bytes of HMAC(key, ''deletion-kit audit key id''), stored with each seal.';

-- The actor as the digest sees it. Actors were whole numbers before they became text: a whole number
-- in canonical form is still digested as a JSON number, so seals made then verify now, and any other
-- actor as a JSON string. Canonical form only ('42', not '042'), so an edit of the text still shows.
CREATE OR REPLACE FUNCTION audit.actor_digest(actor text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE WHEN actor ~ '^(0|-?[1-9][0-9]{0,18})$' THEN to_jsonb(actor::numeric)
              ELSE to_jsonb(actor) END
$$;

-- The entry digest E(id, field, key, value): SHA-256 of '<id> <field> <length of key>:<key><value>',
-- the value as jsonb text ('' for SQL NULL; a plain column has the key ''). The length prefix keeps
-- key and value apart whatever they hold. row_digests inlines the same expression (a function call
-- per entry would cost more than the hash); audit.redact uses this to keep a column's digest.
CREATE OR REPLACE FUNCTION audit.entry_digest(log_id bigint, field text, column_name text, value jsonb)
RETURNS bytea
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT sha256(convert_to(log_id::text || ' ' || field || ' ' || length(coalesce(column_name, '')) || ':' || coalesce(column_name, '')
                           || coalesce(value::text, ''), 'UTF8'))
$$;
COMMENT ON FUNCTION audit.entry_digest(bigint, text, text, jsonb) IS 'Digest of one column of an audit.log row (or of one product column inside old_data / changed).';

-- The column names behind the 2-byte column fingerprints (audit.seal_rows.columns), in digest order.
CREATE OR REPLACE FUNCTION audit.sealed_columns(is_log boolean)
RETURNS text[]
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
  SELECT CASE WHEN is_log
              THEN ARRAY['id', 'created_at', 'txid', 'statement_seq', 'table_name', 'action', 'record_id', 'primary_key', 'old_data', 'changed', 'via_cascade']
              ELSE ARRAY['txid', 'started_at', 'actor', 'reason', 'application_name', 'session_role', 'acting_role', 'backend_pid', 'client_addr'] END
$$;
COMMENT ON FUNCTION audit.sealed_columns(boolean) IS 'The columns of audit.log (true) or audit.transactions (false) in the order the seal hashes them.';

-- Digests of every audit.log and audit.transactions row of the transactions in [lo, hi), with the
-- month each belongs to (its partition's month; the month of created_at for a row in the default
-- partition). One set-based query (dynamic, so each call is planned for its range).
CREATE OR REPLACE FUNCTION audit.row_digests(lo bigint, hi bigint)
RETURNS TABLE (txid bigint, log_id bigint, created_at timestamptz, month date, digest bytea, columns bytea)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  -- E(id, field, key, value): SHA-256 of '<id> <field> <length of key>:<key><value as jsonb text>'
  -- (audit.entry_digest); a plain column has the key '' and a SQL NULL the value ''.
  entry constant text := 'sha256(convert_to(l.id::text || '' %s '' || %s, ''UTF8''))';
  plain constant text := '''0:'' || coalesce((%s)::text, '''')';
  keyed constant text := 'length(e.key) || '':'' || e.key || e.value::text';
  object_column constant text :=
    'CASE WHEN jsonb_typeof(l.%1$I) = ''object'' THEN'
    ' (SELECT sha256(%2$s || coalesce(string_agg(s.h, ''''::bytea ORDER BY s.h), ''''::bytea))'
    '    FROM (SELECT CASE WHEN x.kept IS NOT NULL AND e.value = ''null''::jsonb AND x.kept ? (%1$L || ''/'' || e.key)'
    '                      THEN decode(x.kept ->> (%1$L || ''/'' || e.key), ''hex'')'
    '                      ELSE %3$s END AS h'
    '            FROM jsonb_each(l.%1$I) e) s)'
    ' ELSE %4$s END';
  tx_entry constant text := 'sha256(convert_to(''transaction '' || t.txid::text || '' %s 0:'' || coalesce((%s)::text, ''''), ''UTF8''))';
  log_columns text;
  tx_columns text;
BEGIN
  log_columns := concat_ws(', ',
    format(entry, 'id', format(plain, 'to_jsonb(l.id)')) || ' AS d1',
    format(entry, 'created_at', format(plain, 'to_jsonb(extract(epoch FROM l.created_at))')) || ' AS d2',
    format(entry, 'txid', format(plain, 'to_jsonb(l.txid)')) || ' AS d3',
    format(entry, 'statement_seq', format(plain, 'to_jsonb(l.statement_seq)')) || ' AS d4',
    format(entry, 'table_name', format(plain, 'to_jsonb(l.table_name)')) || ' AS d5',
    format(entry, 'action', format(plain, 'to_jsonb(l.action)')) || ' AS d6',
    format(entry, 'record_id', format(plain, 'to_jsonb(l.record_id)')) || ' AS d7',
    format(entry, 'primary_key', format(plain, 'l.primary_key')) || ' AS d8',
    format(object_column, 'old_data', format(entry, 'old_data', '''0:{}'''), format(entry, 'old_data', keyed),
           format(entry, 'old_data', format(plain, 'l.old_data'))) || ' AS d9',
    format(object_column, 'changed', format(entry, 'changed', '''0:{}'''), format(entry, 'changed', keyed),
           format(entry, 'changed', format(plain, 'l.changed'))) || ' AS d10',
    format(entry, 'via_cascade', format(plain, 'to_jsonb(l.via_cascade)')) || ' AS d11');
  tx_columns := concat_ws(', ',
    format(tx_entry, 'txid', 'to_jsonb(t.txid)') || ' AS d1',
    format(tx_entry, 'started_at', 'to_jsonb(extract(epoch FROM t.started_at))') || ' AS d2',
    format(tx_entry, 'actor', 'audit.actor_digest(t.actor::text)') || ' AS d3',
    format(tx_entry, 'reason', 'to_jsonb(t.reason)') || ' AS d4',
    format(tx_entry, 'application_name', 'to_jsonb(t.application_name)') || ' AS d5',
    format(tx_entry, 'session_role', 'to_jsonb(t.session_role)') || ' AS d6',
    format(tx_entry, 'acting_role', 'to_jsonb(t.acting_role)') || ' AS d7',
    format(tx_entry, 'backend_pid', 'to_jsonb(t.backend_pid)') || ' AS d8',
    format(tx_entry, 'client_addr', 'to_jsonb(t.client_addr::text)') || ' AS d9');
  RETURN QUERY EXECUTE format($query$
    WITH log_months AS (
      SELECT c.oid, to_date(right(c.relname, 7), 'YYYY_MM') AS month
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'audit.log'::regclass AND c.relname ~ '_\d{4}_\d{2}$'
    ), tx_months AS (
      SELECT c.oid, to_date(right(c.relname, 7), 'YYYY_MM') AS month
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'audit.transactions'::regclass AND c.relname ~ '_\d{4}_\d{2}$'
    ), kept AS (
      SELECT r.log_id, r.created_at, jsonb_object_agg(r.field || '/' || r.column_name, encode(r.original_digest, 'hex')) AS kept
        FROM audit.redactions r
       GROUP BY r.log_id, r.created_at
    )
    SELECT t.txid, NULL::bigint, t.started_at, coalesce(m.month, date_trunc('month', t.started_at)::date),
           sha256(d.d1 || d.d2 || d.d3 || d.d4 || d.d5 || d.d6 || d.d7 || d.d8 || d.d9),
           substr(d.d1, 1, 2) || substr(d.d2, 1, 2) || substr(d.d3, 1, 2) || substr(d.d4, 1, 2) || substr(d.d5, 1, 2)
             || substr(d.d6, 1, 2) || substr(d.d7, 1, 2) || substr(d.d8, 1, 2) || substr(d.d9, 1, 2)
      FROM audit.transactions t
      LEFT JOIN tx_months m ON m.oid = t.tableoid
      CROSS JOIN LATERAL (SELECT %2$s OFFSET 0) d
     WHERE t.txid >= $1 AND t.txid < $2
    UNION ALL
    SELECT l.txid, l.id, l.created_at, coalesce(m.month, date_trunc('month', l.created_at)::date),
           sha256(d.d1 || d.d2 || d.d3 || d.d4 || d.d5 || d.d6 || d.d7 || d.d8 || d.d9 || d.d10 || d.d11),
           substr(d.d1, 1, 2) || substr(d.d2, 1, 2) || substr(d.d3, 1, 2) || substr(d.d4, 1, 2) || substr(d.d5, 1, 2)
             || substr(d.d6, 1, 2) || substr(d.d7, 1, 2) || substr(d.d8, 1, 2) || substr(d.d9, 1, 2) || substr(d.d10, 1, 2)
             || substr(d.d11, 1, 2)
      FROM audit.log l
      LEFT JOIN log_months m ON m.oid = l.tableoid
      LEFT JOIN kept x ON x.log_id = l.id AND x.created_at = l.created_at
      CROSS JOIN LATERAL (SELECT %1$s OFFSET 0) d
     WHERE l.txid >= $1 AND l.txid < $2
  $query$, log_columns, tx_columns) USING lo, hi;
END
$$;
COMMENT ON FUNCTION audit.row_digests(bigint, bigint) IS 'Row digests (scheme 1) of the audit.log and audit.transactions rows of the transactions in [lo, hi).';


-- The batch digest of one seal: its own fields, then each of its parts (audit.seal_parts) by month.
CREATE OR REPLACE FUNCTION audit.seal_batch_digest(seal_no bigint, sealed_at timestamptz, scheme integer, from_txid bigint, to_txid bigint,
                                                   row_count bigint, transaction_count bigint, first_id bigint, last_id bigint, key_id bytea)
RETURNS bytea
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  parts bytea;
BEGIN
  SELECT coalesce(string_agg(convert_to(jsonb_build_array(to_char(p.month, 'YYYY-MM-DD'), p.row_count, p.transaction_count, p.first_id,
                                                          p.last_id, encode(p.digest, 'hex'))::text, 'UTF8'), ''::bytea ORDER BY p.month), ''::bytea)
    INTO parts
    FROM audit.seal_parts p
   WHERE p.seal_no = seal_batch_digest.seal_no;
  RETURN sha256(convert_to(jsonb_build_array('deletion-kit audit seal', seal_batch_digest.scheme, seal_batch_digest.seal_no,
                                             extract(epoch FROM seal_batch_digest.sealed_at), seal_batch_digest.from_txid, seal_batch_digest.to_txid,
                                             seal_batch_digest.row_count, seal_batch_digest.transaction_count, seal_batch_digest.first_id,
                                             seal_batch_digest.last_id, encode(seal_batch_digest.key_id, 'hex'))::text, 'UTF8')
                || parts);
END
$$;
COMMENT ON FUNCTION audit.seal_batch_digest(bigint, timestamptz, integer, bigint, bigint, bigint, bigint, bigint, bigint, bytea) IS 'SHA-256 of a seal''s fields and its parts'' digests (the message its chain digest keys).';

-- Seals every audit row of the transactions that have certainly finished and are not sealed yet:
-- txid from the previous seal's to_txid up to pg_snapshot_xmin of the current snapshot (or fewer
-- transactions, whole ones, so that the seal holds at most max_rows audit.log rows unless a single
-- transaction has more). Appends one row to audit.seals, its parts and its row digests, and returns
-- it; returns nothing when there is nothing to seal. One sealer at a time (a lock on audit.seals that
-- readers and the log's writers never wait for). The key never leaves this call: only its id and
-- the HMAC are stored. For the worker's upkeep (deletion.run_upkeep) and the engine's owner.
CREATE OR REPLACE FUNCTION audit.seal(key text, max_rows bigint DEFAULT 100000)
RETURNS TABLE (seal_no bigint, from_txid bigint, to_txid bigint, row_count bigint, transaction_count bigint, chain_digest text, sealed_at timestamptz)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  k bytea := audit.seal_key(key);
  kid bytea;
  prev record;
  totals record;
  lo bigint;
  hi bigint;
  cutoff bigint;
  new_no bigint;
  n bigint;
  stamp timestamptz := clock_timestamp();
  batch bytea;
  chain bytea;
BEGIN
  IF to_regclass('audit.seals') IS NULL THEN
    RAISE EXCEPTION 'audit.seals does not exist' USING ERRCODE = '55000', HINT = 'run deletion-kit migrate (migration 0072_audit_seals)';
  END IF;
  IF max_rows IS NOT NULL AND max_rows < 1 THEN
    RAISE EXCEPTION 'max_rows must be a positive number of rows, or NULL for no limit' USING ERRCODE = '22023';
  END IF;
  kid := audit.seal_key_id(k);
  LOCK TABLE audit.seals IN SHARE ROW EXCLUSIVE MODE;
  SELECT s.seal_no, s.to_txid, s.key_id, s.chain_digest INTO prev FROM audit.seals s ORDER BY s.seal_no DESC LIMIT 1;
  IF prev.key_id IS NOT NULL AND prev.key_id <> kid THEN
    RAISE EXCEPTION 'this audit seal key is not the key that sealed seal %', prev.seal_no
      USING ERRCODE = 'PD210', HINT = 'DELETION_KIT_AUDIT_KEY must stay the key the chain was started with (docs/audit.md, "Tamper evidence")';
  END IF;
  lo := coalesce(prev.to_txid, 0);
  hi := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
  IF hi <= lo THEN
    RETURN;
  END IF;
  IF max_rows IS NOT NULL THEN
    SELECT min(w.txid) INTO cutoff
      FROM (SELECT g.txid, sum(g.n) OVER (ORDER BY g.txid) AS cum, row_number() OVER (ORDER BY g.txid) AS rn
              FROM (SELECT l.txid, count(*) AS n FROM audit.log l WHERE l.txid >= lo AND l.txid < hi GROUP BY l.txid) g) w
     WHERE w.cum > max_rows AND w.rn > 1;
    hi := least(hi, cutoff);
  END IF;
  new_no := coalesce(prev.seal_no, 0) + 1;

  INSERT INTO audit.seal_rows (seal_no, month, txid, log_id, created_at, digest, columns)
  SELECT new_no, d.month, d.txid, d.log_id, d.created_at, d.digest, d.columns FROM audit.row_digests(lo, hi) d;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n = 0 THEN
    RETURN;  -- nothing new: no seal, and the next one starts where the last one ended
  END IF;
  INSERT INTO audit.seal_parts (seal_no, month, row_count, transaction_count, first_id, last_id, digest)
  SELECT new_no, r.month, count(r.log_id), count(*) - count(r.log_id), min(r.log_id), max(r.log_id),
         sha256(string_agg(r.digest, ''::bytea ORDER BY r.txid, r.log_id NULLS FIRST, r.created_at, r.digest))
    FROM audit.seal_rows r
   WHERE r.seal_no = new_no
   GROUP BY r.month;
  SELECT sum(p.row_count)::bigint AS rows, sum(p.transaction_count)::bigint AS transactions, min(p.first_id) AS first_id, max(p.last_id) AS last_id
    INTO totals
    FROM audit.seal_parts p WHERE p.seal_no = new_no;
  batch := audit.seal_batch_digest(new_no, stamp, 1, lo, hi, totals.rows, totals.transactions, totals.first_id, totals.last_id, kid);
  chain := audit.hmac_sha256(k, coalesce(prev.chain_digest, decode(repeat('00', 32), 'hex')) || batch);
  INSERT INTO audit.seals (seal_no, sealed_at, scheme, from_txid, to_txid, row_count, transaction_count, first_id, last_id, key_id, batch_digest, chain_digest)
  VALUES (new_no, stamp, 1, lo, hi, totals.rows, totals.transactions, totals.first_id, totals.last_id, kid, batch, chain);
  RETURN QUERY SELECT new_no, lo, hi, totals.rows, totals.transactions, encode(chain, 'hex'), stamp;
END
$$;
COMMENT ON FUNCTION audit.seal(text, bigint) IS 'Seals the audit rows of every finished, unsealed transaction (at most max_rows log rows, whole transactions) and appends one link to the HMAC chain; returns the new seal, or nothing.';

-- The newest seal: keep its number and digest outside the database (docs/audit.md); verify's
-- expected_head then proves that no seal up to it was removed or rebuilt.
CREATE OR REPLACE FUNCTION audit.head()
RETURNS TABLE (seal_no bigint, chain_digest text, sealed_at timestamptz, to_txid bigint, row_count bigint)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
BEGIN
  IF to_regclass('audit.seals') IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT s.seal_no, encode(s.chain_digest, 'hex'), s.sealed_at, s.to_txid, s.row_count
                 FROM audit.seals s ORDER BY s.seal_no DESC LIMIT 1;
END
$$;
COMMENT ON FUNCTION audit.head() IS 'The newest seal (number, chain digest as hex): keep it outside the database for audit.verify(expected_head).';

-- Recomputes seals from_seal..to_seal (default: all) and reports the first problem, or ok:
--   1. the chain: each seal's fields and parts hash, with the previous digest, to its HMAC chain
--      digest under `key` (a removed, edited or rebuilt seal; a wrong key);
--   2. the seal's row digests (audit.seal_rows) hash to each part's digest;
--   3. audit.log and audit.transactions against the row digests: a row altered (and which columns),
--      removed (a whole transaction's included), or inserted with a txid a seal covers;
--   4. expected_head ('42:9f86...' or the digest alone), when given, is the digest of a verified seal.
-- Problems are ordered by seal, then in that order. Months dropped by retention (older than the oldest
-- monthly partition of audit.log) are retired: their parts' digests still chain, their rows are not
-- looked for. Returns one row.
CREATE OR REPLACE FUNCTION audit.verify(key text, from_seal bigint DEFAULT NULL, to_seal bigint DEFAULT NULL, expected_head text DEFAULT NULL)
RETURNS TABLE (ok boolean, problem text, seal_no bigint, log_id bigint, txid bigint, created_at timestamptz, detail text,
               seals_checked bigint, rows_checked bigint, transactions_checked bigint, rows_retired bigint, rows_unsealed bigint,
               head_seal bigint, head_digest text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  k bytea := audit.seal_key(key);
  kid bytea;
  first_no bigint := coalesce(from_seal, 1);
  last_no bigint;
  max_no bigint;
  prev_chain bytea;
  expect_no bigint;
  expect_from bigint;
  s record;
  r record;
  moved_txid bigint;
  moved_at timestamptz;
  batch bytea;
  mac_ok boolean;
  lo bigint;
  hi bigint;
  oldest date;
  wanted_no bigint;
  wanted_hex text;
  found_head bigint;
  good_no bigint;
  good_hex text;
  is_log boolean;
  what text;
  differing text;
  n_sealed bigint;
  n_present bigint;
  -- the first problem so far, ordered by (seal, stage)
  p_seal bigint;
  p_stage integer;
  p_problem text;
  p_log bigint;
  p_txid bigint;
  p_at timestamptz;
  p_detail text;
  c_seal bigint;
  c_problem text;
  c_log bigint;
  c_txid bigint;
  c_at timestamptz;
  c_detail text;
  n_seals bigint := 0;
  n_rows bigint := 0;
  n_transactions bigint := 0;
  n_retired bigint := 0;
  n_unsealed bigint := 0;
BEGIN
  IF to_regclass('audit.seals') IS NULL THEN
    RAISE EXCEPTION 'audit.seals does not exist' USING ERRCODE = '55000', HINT = 'run deletion-kit migrate (migration 0072_audit_seals)';
  END IF;
  kid := audit.seal_key_id(k);
  IF expected_head IS NOT NULL THEN
    IF btrim(expected_head) ~ '^\d+:[0-9a-fA-F]{64}$' THEN
      wanted_no := split_part(btrim(expected_head), ':', 1)::bigint;
      wanted_hex := lower(split_part(btrim(expected_head), ':', 2));
    ELSIF btrim(expected_head) ~ '^[0-9a-fA-F]{64}$' THEN
      wanted_hex := lower(btrim(expected_head));
    ELSE
      RAISE EXCEPTION 'expected_head is a chain digest (64 hex digits), optionally after its seal number: 42:9f86d081...'
        USING ERRCODE = '22023', HINT = 'take it from audit.head() or deletion-kit audit head';
    END IF;
  END IF;
  SELECT max(x.seal_no) INTO max_no FROM audit.seals x;
  last_no := coalesce(to_seal, max_no);
  IF first_no < 1 OR last_no < first_no THEN
    RAISE EXCEPTION 'no seals between % and %', first_no, last_no USING ERRCODE = '22023', HINT = 'seals are numbered from 1; see audit.head()';
  END IF;
  IF max_no IS NULL THEN
    SELECT count(*) INTO n_unsealed FROM audit.log;
    RETURN QUERY SELECT false, 'no seals'::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::timestamptz,
                        'audit.seals is empty: nothing is sealed (run audit.seal, or the worker''s upkeep with a key)'::text,
                        0::bigint, 0::bigint, 0::bigint, 0::bigint, n_unsealed, NULL::bigint, NULL::text;
    RETURN;
  END IF;

  -- 1. the chain
  expect_no := first_no;
  IF first_no = 1 THEN
    prev_chain := decode(repeat('00', 32), 'hex');
    expect_from := 0;
  ELSE
    SELECT x.chain_digest, x.to_txid INTO prev_chain, expect_from FROM audit.seals x WHERE x.seal_no = first_no - 1;
  END IF;
  IF prev_chain IS NULL THEN
    p_seal := first_no - 1; p_stage := 1; p_problem := 'seal removed';
    p_detail := format('seal %s, which seal %s continues, is missing from audit.seals', first_no - 1, first_no);
  END IF;
  FOR s IN SELECT x.* FROM audit.seals x WHERE x.seal_no BETWEEN first_no AND last_no ORDER BY x.seal_no LOOP
    EXIT WHEN p_seal IS NOT NULL;
    IF s.seal_no <> expect_no THEN
      p_seal := expect_no; p_stage := 1; p_problem := 'seal removed';
      p_detail := format('seal %s is missing from audit.seals (the next one there is seal %s)', expect_no, s.seal_no);
      EXIT;
    END IF;
    IF s.from_txid IS DISTINCT FROM expect_from THEN
      p_seal := s.seal_no; p_stage := 1; p_problem := 'seal altered';
      p_detail := format('its from_txid %s does not continue the previous seal''s to_txid %s', s.from_txid, expect_from);
      EXIT;
    END IF;
    IF s.key_id IS DISTINCT FROM kid THEN
      p_seal := s.seal_no; p_stage := 1;
      p_problem := CASE WHEN s.seal_no = first_no THEN 'wrong key' ELSE 'seal altered' END;
      p_detail := CASE WHEN s.seal_no = first_no THEN format('seal %s was made with another key (key id %s); check DELETION_KIT_AUDIT_KEY', s.seal_no, encode(s.key_id, 'hex'))
                       ELSE format('its key id %s is not the key id of the seals before it', encode(s.key_id, 'hex')) END;
      EXIT;
    END IF;
    batch := audit.seal_batch_digest(s.seal_no, s.sealed_at, s.scheme, s.from_txid, s.to_txid, s.row_count, s.transaction_count,
                                     s.first_id, s.last_id, s.key_id);
    mac_ok := audit.hmac_sha256(k, prev_chain || batch) = s.chain_digest;
    IF NOT mac_ok OR batch IS DISTINCT FROM s.batch_digest THEN
      p_seal := s.seal_no; p_stage := 1; p_problem := 'seal altered';
      p_detail := CASE
        WHEN NOT mac_ok AND batch IS DISTINCT FROM s.batch_digest
          THEN 'its fields or its parts (audit.seal_parts) were edited: they no longer hash to its chain digest'
        WHEN NOT mac_ok
          THEN 'its chain digest is not HMAC(key, previous digest || batch digest): the chain was edited, or recomputed without the key'
        ELSE 'its batch_digest column was edited' END;
      EXIT;
    END IF;
    n_seals := n_seals + 1;
    IF wanted_hex IS NOT NULL AND encode(s.chain_digest, 'hex') = wanted_hex AND (wanted_no IS NULL OR wanted_no = s.seal_no) THEN
      found_head := s.seal_no;
    END IF;
    good_no := s.seal_no;
    good_hex := encode(s.chain_digest, 'hex');
    prev_chain := s.chain_digest;
    expect_from := s.to_txid;
    expect_no := s.seal_no + 1;
  END LOOP;
  IF p_seal IS NULL AND expect_no <= last_no THEN
    p_seal := expect_no; p_stage := 1; p_problem := 'seal removed';
    p_detail := format('seals %s to %s are missing from audit.seals', expect_no, last_no);
  END IF;

  -- months dropped by retention: older than the oldest monthly partition of audit.log
  SELECT min(to_date(right(c.relname, 7), 'YYYY_MM')) INTO oldest
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'audit.log'::regclass AND c.relname ~ '^log_\d{4}_\d{2}$';
  oldest := coalesce(oldest, '-infinity'::date);
  SELECT coalesce(sum(p.row_count), 0)::bigint INTO n_retired
    FROM audit.seal_parts p WHERE p.seal_no BETWEEN first_no AND last_no AND p.month < oldest;

  -- 2. each part against its seal's row digests
  SELECT coalesce(p.seal_no, q.seal_no) AS seal_no, coalesce(p.month, q.month) AS month,
         p.row_count AS part_rows, p.transaction_count AS part_transactions,
         q.row_count AS found_rows, q.transaction_count AS found_transactions
    INTO r
    FROM (SELECT x.seal_no, x.month, x.row_count, x.transaction_count, x.digest FROM audit.seal_parts x
           WHERE x.seal_no BETWEEN first_no AND last_no AND x.month >= oldest) p
    FULL JOIN
         (SELECT x.seal_no, x.month, count(x.log_id) AS row_count, count(*) - count(x.log_id) AS transaction_count,
                 sha256(string_agg(x.digest, ''::bytea ORDER BY x.txid, x.log_id NULLS FIRST, x.created_at, x.digest)) AS digest
            FROM audit.seal_rows x
           WHERE x.seal_no BETWEEN first_no AND last_no AND x.month >= oldest
           GROUP BY x.seal_no, x.month) q
      ON q.seal_no = p.seal_no AND q.month = p.month
   WHERE p.digest IS DISTINCT FROM q.digest
   ORDER BY 1, 2
   LIMIT 1;
  IF FOUND AND (p_seal IS NULL OR (r.seal_no, 2) < (p_seal, p_stage)) THEN
    p_seal := r.seal_no; p_stage := 2; p_problem := 'seal rows altered'; p_log := NULL; p_txid := NULL; p_at := NULL;
    p_detail := format('the row digests audit.seal_rows keeps for seal %s, month %s (%s rows, %s transactions) do not hash to the seal''s part (%s rows, %s transactions): they were edited',
                       r.seal_no, to_char(r.month, 'YYYY-MM'), coalesce(r.found_rows, 0), coalesce(r.found_transactions, 0),
                       coalesce(r.part_rows, 0), coalesce(r.part_transactions, 0));
  END IF;

  -- 3. the log against the row digests
  SELECT x.from_txid INTO lo FROM audit.seals x WHERE x.seal_no >= first_no ORDER BY x.seal_no LIMIT 1;
  SELECT x.to_txid INTO hi FROM audit.seals x WHERE x.seal_no <= last_no ORDER BY x.seal_no DESC LIMIT 1;
  IF lo IS NOT NULL AND hi IS NOT NULL AND hi > lo THEN
    WITH cur AS (
      SELECT d.* FROM audit.row_digests(lo, hi) d WHERE d.month >= oldest
    ), ref AS (
      SELECT x.* FROM audit.seal_rows x WHERE x.seal_no BETWEEN first_no AND last_no AND x.month >= oldest
    ), j AS (
      SELECT c.txid AS c_txid, c.log_id AS c_log, c.created_at AS c_at, c.digest AS c_digest, c.columns AS c_columns,
             f.seal_no AS f_seal, f.txid AS f_txid, f.log_id AS f_log, f.created_at AS f_at, f.digest AS f_digest, f.columns AS f_columns
        FROM cur c
        FULL JOIN ref f
          ON (c.log_id IS NULL) = (f.log_id IS NULL) AND coalesce(c.log_id, c.txid) = coalesce(f.log_id, f.txid) AND c.created_at = f.created_at
    ), stats AS (
      SELECT count(j.c_log) AS n_rows, count(*) FILTER (WHERE j.c_digest IS NOT NULL AND j.c_log IS NULL) AS n_transactions,
             count(*) FILTER (WHERE j.c_digest IS DISTINCT FROM j.f_digest) AS bad
        FROM j
    )
    SELECT st.n_rows, st.n_transactions, st.bad, b.*
      INTO r
      FROM stats st
      LEFT JOIN LATERAL (
        SELECT j.* FROM j
         WHERE j.c_digest IS DISTINCT FROM j.f_digest
         ORDER BY coalesce(j.f_txid, j.c_txid), coalesce(j.f_log, j.c_log) IS NOT NULL, coalesce(j.f_log, j.c_log), coalesce(j.f_at, j.c_at)
         LIMIT 1) b ON true;
    n_rows := r.n_rows;
    n_transactions := r.n_transactions;
    IF r.bad > 0 THEN
      is_log := CASE WHEN r.f_digest IS NOT NULL THEN r.f_log IS NOT NULL ELSE r.c_log IS NOT NULL END;
      what := CASE WHEN is_log THEN 'row' ELSE 'transaction' END;
      c_log := coalesce(r.f_log, r.c_log);
      IF r.c_digest IS NOT NULL AND r.f_digest IS NOT NULL THEN
        SELECT string_agg(u.name, ', ' ORDER BY u.i) INTO differing
          FROM unnest(audit.sealed_columns(is_log)) WITH ORDINALITY AS u(name, i)
         WHERE substr(r.c_columns, 2 * u.i::integer - 1, 2) IS DISTINCT FROM substr(r.f_columns, 2 * u.i::integer - 1, 2);
        c_seal := r.f_seal; c_problem := what || ' altered'; c_txid := r.f_txid; c_at := r.f_at;
        c_detail := format('%s differ%s from what seal %s holds', coalesce(differing, 'its content'),
                           CASE WHEN differing LIKE '%,%' THEN '' ELSE 's' END, r.f_seal);
      ELSIF r.f_digest IS NOT NULL THEN
        c_seal := r.f_seal; c_txid := r.f_txid; c_at := r.f_at;
        moved_txid := NULL;
        IF is_log THEN
          SELECT l.txid, l.created_at INTO moved_txid, moved_at FROM audit.log l WHERE l.id = r.f_log AND (l.txid, l.created_at) <> (r.f_txid, r.f_at) LIMIT 1;
        END IF;
        IF moved_txid IS NOT NULL THEN
          c_problem := 'row altered';
          c_detail := format('seal %s holds it with txid %s, created_at %s; audit.log now has it with txid %s, created_at %s',
                             r.f_seal, r.f_txid, r.f_at, moved_txid, moved_at);
        ELSIF is_log THEN
          SELECT count(*) INTO n_sealed FROM audit.seal_rows x WHERE x.seal_no = r.f_seal AND x.txid = r.f_txid AND x.log_id IS NOT NULL;
          SELECT count(*) INTO n_present FROM audit.log l WHERE l.txid = r.f_txid;
          c_problem := 'row removed';
          c_detail := format('seal %s holds it; audit.log has %s of the %s rows of transaction %s that the seal holds',
                             r.f_seal, n_present, n_sealed, r.f_txid);
        ELSE
          c_problem := 'transaction removed';
          c_detail := format('seal %s holds the audit.transactions row of transaction %s, which is missing', r.f_seal, r.f_txid);
        END IF;
      ELSE
        c_txid := r.c_txid; c_at := r.c_at;
        SELECT x.seal_no INTO c_seal FROM audit.seals x WHERE r.c_txid >= x.from_txid AND r.c_txid < x.to_txid LIMIT 1;
        moved_txid := NULL;
        IF is_log THEN
          SELECT x.txid, x.created_at INTO moved_txid, moved_at FROM audit.seal_rows x WHERE x.log_id = r.c_log AND x.seal_no BETWEEN first_no AND last_no LIMIT 1;
        END IF;
        IF moved_txid IS NOT NULL THEN
          c_problem := 'row altered';
          c_detail := format('seal %s holds it with txid %s, created_at %s; audit.log now has it with txid %s, created_at %s',
                             c_seal, moved_txid, moved_at, r.c_txid, r.c_at);
        ELSE
          c_problem := what || ' inserted';
          c_detail := format('transaction %s is covered by seal %s, which does not hold this %s', r.c_txid, c_seal,
                             CASE WHEN is_log THEN 'row' ELSE 'audit.transactions row' END);
        END IF;
      END IF;
      IF r.bad > 1 THEN
        c_detail := c_detail || format(' (%s differences in all)', r.bad);
      END IF;
      IF p_seal IS NULL OR (coalesce(c_seal, last_no), 3) < (p_seal, p_stage) THEN
        p_seal := coalesce(c_seal, last_no); p_stage := 3; p_problem := c_problem; p_log := c_log; p_txid := c_txid; p_at := c_at;
        p_detail := c_detail;
      END IF;
    END IF;
  END IF;

  IF last_no >= max_no THEN
    SELECT count(*) INTO n_unsealed FROM audit.log l WHERE l.txid >= (SELECT x.to_txid FROM audit.seals x ORDER BY x.seal_no DESC LIMIT 1);
  END IF;

  -- 4. the head the operator kept
  IF wanted_hex IS NOT NULL AND found_head IS NULL AND p_seal IS NULL THEN
    p_seal := coalesce(wanted_no, last_no); p_stage := 4; p_problem := 'head not found';
    p_detail := format('no verified seal between %s and %s has the chain digest you kept%s: seals were removed, or the chain was rebuilt',
                       first_no, last_no, CASE WHEN wanted_no IS NULL THEN '' ELSE format(' for seal %s', wanted_no) END);
  END IF;

  RETURN QUERY SELECT p_seal IS NULL, p_problem, p_seal, p_log, p_txid, p_at, p_detail,
                      n_seals, n_rows, n_transactions, n_retired, n_unsealed, good_no, good_hex;
END
$$;
COMMENT ON FUNCTION audit.verify(text, bigint, bigint, text) IS 'Recomputes the audit seals and their rows; returns ok, or the first altered, removed or inserted seal or row with what differs (docs/audit.md).';

-- Erasure: replaces the named product columns of one audit.log row's old_data and changed by JSON
-- null, and keeps each value's entry digest in audit.redactions, so the row's digest (and every seal)
-- is the same as before. Key columns cannot be redacted (the log keeps keys in record_id and
-- primary_key; restore needs them). Idempotent. Returns the values it redacted now.
-- It passes the append-only guard (audit.refuse_change) through audit.redaction_allowed: the UPDATE
-- must run as the owner of this function (so: inside it), in the transaction that set the marker
-- `audit.redacting` to '<log id>/<txid>', change nothing but old_data / changed, and only turn to
-- null the values whose digests audit.redactions now holds.
CREATE OR REPLACE FUNCTION audit.redact(log_id bigint, created_at timestamptz, columns text[])
RETURNS TABLE (field text, column_name text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  img record;
  c text;
BEGIN
  IF to_regclass('audit.redactions') IS NULL THEN
    RAISE EXCEPTION 'audit.redactions does not exist' USING ERRCODE = '55000', HINT = 'run deletion-kit migrate (migration 0072_audit_seals)';
  END IF;
  IF redact.columns IS NULL OR cardinality(redact.columns) = 0 THEN
    RAISE EXCEPTION 'name the columns to redact' USING ERRCODE = '22023', HINT = 'audit.redact(<log id>, <created_at>, ARRAY[''email''])';
  END IF;
  SELECT l.id, l.created_at, l.primary_key, l.old_data, l.changed INTO img
    FROM audit.log l WHERE l.id = redact.log_id AND l.created_at = redact.created_at
     FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit.log has no row % created at %', redact.log_id, redact.created_at
      USING ERRCODE = 'P0002', HINT = 'a row is named by audit.log.id and audit.log.created_at';
  END IF;
  FOREACH c IN ARRAY redact.columns LOOP
    IF coalesce(img.primary_key ? c, false) THEN
      RAISE EXCEPTION 'column "%" is part of the row''s key, which the audit log keeps', c
        USING ERRCODE = '22023', HINT = 'redact the other personal columns; keys stay (record_id, primary_key)';
    END IF;
    IF NOT (coalesce(jsonb_typeof(img.old_data) = 'object' AND img.old_data ? c, false)
            OR coalesce(jsonb_typeof(img.changed) = 'object' AND img.changed ? c, false)) THEN
      RAISE EXCEPTION 'audit.log row % has no column "%" in old_data or changed', img.id, c USING ERRCODE = '42703';
    END IF;
  END LOOP;
  RETURN QUERY
  INSERT INTO audit.redactions AS x (log_id, created_at, field, column_name, original_digest, redacted_by, reason)
  SELECT img.id, img.created_at, v.f, u.c, audit.entry_digest(img.id, v.f, u.c, v.image -> u.c), audit.acting_role(), deletion.current_reason()
    FROM (VALUES ('old_data', img.old_data), ('changed', img.changed)) AS v(f, image)
    CROSS JOIN (SELECT DISTINCT w AS c FROM unnest(redact.columns) w) u
   WHERE jsonb_typeof(v.image) = 'object' AND v.image ? u.c
     AND NOT EXISTS (SELECT FROM audit.redactions e
                      WHERE e.log_id = img.id AND e.created_at = img.created_at AND e.field = v.f AND e.column_name = u.c)
  RETURNING x.field, x.column_name;
  PERFORM set_config('audit.redacting', format('%s/%s', img.id, pg_current_xact_id()), true);
  UPDATE audit.log l
     SET old_data = CASE WHEN jsonb_typeof(l.old_data) = 'object'
                         THEN l.old_data || coalesce((SELECT jsonb_object_agg(w, 'null'::jsonb) FROM unnest(redact.columns) w WHERE l.old_data ? w), '{}')
                         ELSE l.old_data END,
         changed = CASE WHEN jsonb_typeof(l.changed) = 'object'
                        THEN l.changed || coalesce((SELECT jsonb_object_agg(w, 'null'::jsonb) FROM unnest(redact.columns) w WHERE l.changed ? w), '{}')
                        ELSE l.changed END
   WHERE l.id = img.id AND l.created_at = img.created_at;
  PERFORM set_config('audit.redacting', '', true);
END
$$;
COMMENT ON FUNCTION audit.redact(bigint, timestamptz, text[]) IS 'Erasure: sets product columns of one audit.log row''s old_data / changed to null, keeping their digests so that seals still verify.';

-- Called by the append-only guard (audit.refuse_change) for an UPDATE of an audit table: true only
-- for audit.redact's own UPDATE (see there). Runs as the role doing the UPDATE: only the tables'
-- owner and superusers can UPDATE the audit tables at all.
CREATE OR REPLACE FUNCTION audit.redaction_allowed(target oid, old_row jsonb, new_row jsonb)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
DECLARE
  f text;
  redactor name;
BEGIN
  IF nullif(current_setting('audit.redacting', true), '') IS DISTINCT FROM format('%s/%s', old_row ->> 'id', pg_current_xact_id()) THEN
    RETURN false;
  END IF;
  IF to_regclass('audit.redactions') IS NULL
     OR NOT EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = target AND i.inhparent = to_regclass('audit.log')) THEN
    RETURN false;
  END IF;
  SELECT pg_get_userbyid(p.proowner) INTO redactor FROM pg_proc p WHERE p.oid = to_regprocedure('audit.redact(bigint,timestamp with time zone,text[])');
  IF redactor IS NULL OR current_user <> redactor THEN
    RETURN false;
  END IF;
  IF (old_row - 'old_data' - 'changed') <> (new_row - 'old_data' - 'changed') THEN
    RETURN false;
  END IF;
  FOREACH f IN ARRAY ARRAY['old_data', 'changed'] LOOP
    CONTINUE WHEN old_row -> f = new_row -> f;
    IF jsonb_typeof(old_row -> f) <> 'object' OR jsonb_typeof(new_row -> f) <> 'object'
       OR ARRAY(SELECT k FROM jsonb_object_keys(old_row -> f) k ORDER BY k) <> ARRAY(SELECT k FROM jsonb_object_keys(new_row -> f) k ORDER BY k)
       OR EXISTS (SELECT FROM jsonb_each(new_row -> f) e
                   WHERE e.value <> old_row -> f -> e.key
                     AND (e.value <> 'null'::jsonb
                          OR NOT EXISTS (SELECT FROM audit.redactions x
                                          WHERE x.log_id = (old_row ->> 'id')::bigint AND x.created_at = (old_row ->> 'created_at')::timestamptz
                                            AND x.field = f AND x.column_name = e.key))) THEN
      RETURN false;
    END IF;
  END LOOP;
  RETURN true;
END
$$;
COMMENT ON FUNCTION audit.redaction_allowed(oid, jsonb, jsonb) IS 'True only for the UPDATE audit.redact makes: lets it past the audit log''s append-only guard.';

-- The seal tables are append-only too (an edit is also caught by verify; the guard catches mistakes).
DO $append_only$
DECLARE
  seal_table text;
BEGIN
  FOREACH seal_table IN ARRAY ARRAY['audit.seals', 'audit.seal_parts', 'audit.seal_rows', 'audit.redactions'] LOOP
    CONTINUE WHEN to_regclass(seal_table) IS NULL;
    EXECUTE format('CREATE OR REPLACE TRIGGER deletion_00_append_only BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()', seal_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER deletion_00_append_only_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()', seal_table);
  END LOOP;
END
$append_only$;

-- Privileges (docs/audit.md, "Tamper evidence"): seal, verify, head and redact for deletion_admin (seal
-- is also what deletion.run_upkeep runs, as the engine's owner, when given the key); the helpers
-- for nobody but the owner.
REVOKE EXECUTE ON FUNCTION
  audit.hmac_sha256(bytea, bytea),
  audit.seal_key(text),
  audit.seal_key_id(bytea),
  audit.actor_digest(text),
  audit.entry_digest(bigint, text, text, jsonb),
  audit.sealed_columns(boolean),
  audit.row_digests(bigint, bigint),
  audit.seal_batch_digest(bigint, timestamptz, integer, bigint, bigint, bigint, bigint, bigint, bigint, bytea),
  audit.seal(text, bigint),
  audit.head(),
  audit.verify(text, bigint, bigint, text),
  audit.redact(bigint, timestamptz, text[]),
  audit.redaction_allowed(oid, jsonb, jsonb)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.seal(text, bigint), audit.head(), audit.verify(text, bigint, bigint, text), audit.redact(bigint, timestamptz, text[]) TO deletion_admin;
