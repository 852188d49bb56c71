-- Erasure requests with a grace period (docs/erasure.md, "Requests with a grace period"). A privacy
-- officer records the request at once; it waits until due_at, when the person may still withdraw it
-- (cancel), and deletion.run_due_erasures carries it out with deletion.erase, one request per
-- subtransaction, so that one failure (the person was erased meanwhile, a rule is missing) leaves the
-- others to run. The table is migration 0131; every function returns or refuses when it is absent.
-- Each request is carried out in one transaction; a large subject is erased in chunks by a job instead
-- (deletion.schedule_erasure, sql/62_erasure_jobs.sql), whose own grace period works like this one.

-- Raises 55000 unless migration 0131 is installed.
CREATE OR REPLACE FUNCTION deletion.require_erasure_requests_installed()
RETURNS void
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $$
BEGIN
  IF to_regclass('deletion.erasure_requests') IS NULL OR NOT deletion.erasure_installed() THEN
    RAISE EXCEPTION 'erasure requests are not installed' USING ERRCODE = '55000', HINT = 'run deletion-kit migrate (migration 0131_erasure_requests)';
  END IF;
END
$$;
COMMENT ON FUNCTION deletion.require_erasure_requests_installed() IS 'Raises 55000 when migration 0131 (erasure requests) is not installed.';

-- Records a request to erase a subject once `grace` has passed; returns its id. The row must exist
-- and the table be a declared subject; one pending request per subject. For deletion_admin.
CREATE OR REPLACE FUNCTION deletion.request_erasure(subject_table regclass, key jsonb, reason text, grace interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  reg record;
  pk text;
  found_row boolean;
  waiting bigint;
  new_id bigint;
BEGIN
  PERFORM deletion.require_erasure_requests_installed();
  IF NOT deletion.caller_is_admin() THEN
    RAISE EXCEPTION 'only a deletion_admin may request an erasure' USING ERRCODE = '42501',
      HINT = 'ask a deletion_admin (the privacy officer''s role)';
  END IF;
  IF reason IS NULL OR btrim(reason) = '' THEN
    RAISE EXCEPTION 'an erasure needs a reason' USING ERRCODE = '22023', HINT = 'for example the request''s ticket number; put no personal data in it';
  END IF;
  IF grace IS NULL OR grace < interval '0' THEN
    RAISE EXCEPTION 'the grace period must be zero or more, not %', grace USING ERRCODE = '22023', HINT = 'for example ''30 days''';
  END IF;
  reg := deletion.erasure_registered_name(subject_table);
  IF NOT EXISTS (SELECT FROM deletion.erasure_subjects s WHERE s.table_schema = reg.table_schema AND s.table_name = reg.table_name) THEN
    RAISE EXCEPTION 'table % is not an erasure subject', subject_table USING ERRCODE = 'PD601',
      HINT = format('declare it and its rules first: SELECT deletion.declare_erasure_subject(%L, ...) (docs/erasure.md)', subject_table::text);
  END IF;
  pk := deletion.subject_key_text(subject_table, key);
  EXECUTE format('SELECT true FROM %s WHERE %s', subject_table, deletion.key_predicate(subject_table, pk)) INTO found_row;
  IF found_row IS NULL THEN
    RAISE EXCEPTION 'no row of % has the key %', subject_table, pk USING ERRCODE = 'P0002';
  END IF;
  SELECT r.id INTO waiting FROM deletion.erasure_requests r
   WHERE r.subject_table = format('%I.%I', reg.table_schema, reg.table_name) AND r.status = 'pending'
     AND deletion.subject_key_text(request_erasure.subject_table, r.subject_key) = pk;
  IF FOUND THEN
    RAISE EXCEPTION 'an erasure of % % is already requested (request %)', subject_table, pk, waiting
      USING ERRCODE = '55000', HINT = 'cancel it first (deletion.cancel_erasure_request) to change its reason or grace period';
  END IF;
  INSERT INTO deletion.erasure_requests (subject_table, subject_key, reason, requested_by, due_at)
  VALUES (format('%I.%I', reg.table_schema, reg.table_name), to_jsonb(pk), reason, deletion.calling_role()::text, now() + grace)
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION deletion.request_erasure(regclass, jsonb, text, interval) IS 'Records a request to erase a subject after a grace period (cancellable until then); returns its id (deletion_admin only).';

-- Withdraws a pending request: cancelled, its key cleared. Errors: P0002 no such request, 55000 not
-- pending any more.
CREATE OR REPLACE FUNCTION deletion.cancel_erasure_request(request_id bigint)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
  req record;
BEGIN
  PERFORM deletion.require_erasure_requests_installed();
  IF NOT deletion.caller_is_admin() THEN
    RAISE EXCEPTION 'only a deletion_admin may cancel an erasure request' USING ERRCODE = '42501';
  END IF;
  SELECT r.id, r.status INTO req FROM deletion.erasure_requests r WHERE r.id = request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no erasure request %', request_id USING ERRCODE = 'P0002', HINT = 'deletion.erasure_requests lists them';
  END IF;
  IF req.status <> 'pending' THEN
    RAISE EXCEPTION 'erasure request % is % and can no longer be cancelled', request_id, req.status USING ERRCODE = '55000';
  END IF;
  UPDATE deletion.erasure_requests r SET status = 'cancelled', finished_at = now(), subject_key = NULL WHERE r.id = request_id;
  RETURN 'cancelled';
END
$$;
COMMENT ON FUNCTION deletion.cancel_erasure_request(bigint) IS 'Withdraws a pending erasure request (its key is cleared); deletion_admin only.';

-- Carries out up to max_requests due requests, oldest first, each in a subtransaction: done (with
-- its erasure, key cleared) or failed (with the error; the key stays for a new request). Requests
-- another session is running are skipped. Returns what became of each. For deletion_admin.
CREATE OR REPLACE FUNCTION deletion.run_due_erasures(signing_key text DEFAULT NULL, max_requests integer DEFAULT 10)
RETURNS TABLE (request_id bigint, status text, erasure_id bigint, error text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
#variable_conflict use_column
DECLARE
  req record;
  report jsonb;
BEGIN
  PERFORM deletion.require_erasure_requests_installed();
  IF NOT deletion.caller_is_admin() THEN
    RAISE EXCEPTION 'only a deletion_admin may carry out erasures' USING ERRCODE = '42501';
  END IF;
  PERFORM deletion.erasure_key(signing_key);  -- refuse a missing key before touching any request
  IF max_requests IS NULL OR max_requests < 1 THEN
    RAISE EXCEPTION 'max_requests must be a positive number' USING ERRCODE = '22023';
  END IF;
  FOR req IN
    SELECT r.* FROM deletion.erasure_requests r
     WHERE r.status = 'pending' AND r.due_at <= now()
     ORDER BY r.due_at, r.id
     LIMIT max_requests
       FOR UPDATE SKIP LOCKED
  LOOP
    request_id := req.id;
    BEGIN
      report := deletion.erase(req.subject_table::regclass, req.subject_key, req.reason, signing_key);
      UPDATE deletion.erasure_requests r
         SET status = 'done', finished_at = now(), erasure_id = (report ->> 'erasure')::bigint, subject_key = NULL, error = NULL
       WHERE r.id = req.id;
      status := 'done';
      erasure_id := (report ->> 'erasure')::bigint;
      error := NULL;
    EXCEPTION WHEN OTHERS THEN
      UPDATE deletion.erasure_requests r
         SET status = 'failed', finished_at = now(), error = format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE)
       WHERE r.id = req.id;
      status := 'failed';
      erasure_id := NULL;
      error := format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE);
    END;
    RETURN NEXT;
  END LOOP;
END
$$;
COMMENT ON FUNCTION deletion.run_due_erasures(text, integer) IS 'Carries out due erasure requests (each in a subtransaction; done or failed) and returns what became of each (deletion_admin only).';

REVOKE EXECUTE ON FUNCTION deletion.require_erasure_requests_installed(), deletion.request_erasure(regclass, jsonb, text, interval),
                           deletion.cancel_erasure_request(bigint), deletion.run_due_erasures(text, integer)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deletion.request_erasure(regclass, jsonb, text, interval), deletion.cancel_erasure_request(bigint),
                          deletion.run_due_erasures(text, integer)
  TO deletion_admin;
