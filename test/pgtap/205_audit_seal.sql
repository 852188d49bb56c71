-- Tamper evidence of the audit log (sql/24_audit_seal.sql): HMAC-SHA256 from sha256(), seals of the
-- finished transactions chained under a key, verify against every edit a superuser can make with
-- the guard triggers disabled (an altered value, a removed row, a removed transaction, a forged row
-- with an old txid, an edited or removed seal, the chain recomputed without the key), redaction that
-- keeps verify passing, retention that does not break it, and who may call what.
--
-- A seal only takes transactions that have finished, so the fixtures are committed first, outside the
-- test transaction (this file has a database of its own), and the test waits until no transaction of
-- the cluster older than them is still open (other test files run beside this one).
SET client_min_messages = warning;
SET test.key = 'test-seal-key-0123456789abcdef';

\i test/fixtures/lab_schema.sql
SELECT deletion.rewire();

-- two old months, one transaction each (forged by hand: what retention will drop)
CREATE TABLE audit.log_2001_01 PARTITION OF audit.log FOR VALUES FROM ('2001-01-01') TO ('2001-02-01');
CREATE TABLE audit.transactions_2001_01 PARTITION OF audit.transactions FOR VALUES FROM ('2001-01-01') TO ('2001-02-01');
CREATE TABLE audit.seal_rows_2001_01 PARTITION OF audit.seal_rows FOR VALUES FROM ('2001-01-01') TO ('2001-02-01');
CREATE TABLE audit.log_2001_02 PARTITION OF audit.log FOR VALUES FROM ('2001-02-01') TO ('2001-03-01');
CREATE TABLE audit.transactions_2001_02 PARTITION OF audit.transactions FOR VALUES FROM ('2001-02-01') TO ('2001-03-01');
CREATE TABLE audit.seal_rows_2001_02 PARTITION OF audit.seal_rows FOR VALUES FROM ('2001-02-01') TO ('2001-03-01');
INSERT INTO audit.transactions (txid, started_at, session_role, acting_role, backend_pid)
VALUES (3, '2001-01-15', 'old', 'old', 1), (4, '2001-02-15', 'old', 'old', 1);
INSERT INTO audit.log (created_at, txid, statement_seq, table_name, action, record_id, primary_key, old_data)
VALUES ('2001-01-15', 3, 1, 'lab.people', 'DELETE', '1', '{"id": 1}', '{"id": 1, "email": "jan@x"}'),
       ('2001-02-15', 4, 1, 'lab.people', 'DELETE', '2', '{"id": 2}', '{"id": 2, "email": "feb@x"}');

-- this month: a cascade, an update, single deletes, a table without a key; each its own transaction
INSERT INTO lab.orgs VALUES ('00000000-0000-0000-0000-0000000000a1', 'acme'), ('00000000-0000-0000-0000-0000000000a2', 'beta');
INSERT INTO lab.people VALUES ('00000000-0000-0000-0000-0000000000b1', 'ann@x'), ('00000000-0000-0000-0000-0000000000b2', 'bob@x');
INSERT INTO lab.folders VALUES ('00000000-0000-0000-0000-0000000000a1', 1, NULL, 'root'), ('00000000-0000-0000-0000-0000000000a1', 2, 1, 'child'),
                               ('00000000-0000-0000-0000-0000000000a1', 3, 2, 'grandchild'), ('00000000-0000-0000-0000-0000000000a2', 1, NULL, 'other');
INSERT INTO lab.documents VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a1', 3,
                                  '00000000-0000-0000-0000-0000000000b1', 'plan');
INSERT INTO lab.approvals VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000b2', '2024-01-01');
INSERT INTO lab.tags (document_id, label) VALUES ('00000000-0000-0000-0000-0000000000d1', 'q3');
INSERT INTO lab.no_key VALUES ('a note');
BEGIN;
SET LOCAL deletion.actor = '7';
SET LOCAL deletion.reason = 'cleanup';
DELETE FROM lab.folders WHERE org_id = '00000000-0000-0000-0000-0000000000a1' AND id = 1;
COMMIT;
UPDATE lab.people SET email = 'robert@x' WHERE email = 'bob@x';
DELETE FROM lab.people WHERE email = 'ann@x';
DELETE FROM lab.folders WHERE org_id = '00000000-0000-0000-0000-0000000000a2';
DELETE FROM lab.no_key;

-- wait (up to a minute) until every transaction older than the fixtures has ended, cluster-wide
DO $$
BEGIN
  FOR i IN 1 .. 600 LOOP
    EXIT WHEN pg_snapshot_xmin(pg_current_snapshot())::text::bigint > (SELECT max(txid) FROM audit.log);
    PERFORM pg_sleep(0.1);
  END LOOP;
END
$$;

SELECT min(txid) AS cascade_txid FROM audit.log WHERE table_name = 'lab.folders' AND via_cascade = false AND txid > 4 \gset
SELECT id AS person_row, created_at AS person_at, txid AS person_txid FROM audit.log WHERE table_name = 'lab.people' AND action = 'DELETE' AND txid > 4 \gset
SELECT id AS update_row, txid AS update_txid FROM audit.log WHERE table_name = 'lab.people' AND action = 'UPDATE' \gset
SELECT min(id) AS cascade_first_row FROM audit.log WHERE txid = :cascade_txid \gset

BEGIN;
SELECT plan(70);

-- HMAC-SHA256 from sha256(): RFC 4231 test cases 1, 2 and 6 (a key longer than the block), and pgcrypto
SELECT is(encode(audit.hmac_sha256(decode(repeat('0b', 20), 'hex'), convert_to('Hi There', 'UTF8')), 'hex'),
          'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7', 'HMAC-SHA256: RFC 4231 test case 1');
SELECT is(encode(audit.hmac_sha256(convert_to('Jefe', 'UTF8'), convert_to('what do ya want for nothing?', 'UTF8')), 'hex'),
          '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843', 'HMAC-SHA256: RFC 4231 test case 2');
SELECT is(encode(audit.hmac_sha256(decode(repeat('aa', 131), 'hex'), convert_to('Test Using Larger Than Block-Size Key - Hash Key First', 'UTF8')), 'hex'),
          '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54', 'HMAC-SHA256: RFC 4231 test case 6 (key longer than a block)');
SAVEPOINT crypto;
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public;
SELECT ok((SELECT bool_and(audit.hmac_sha256(k, m) = public.hmac(m, k, 'sha256'))
             FROM (SELECT public.gen_random_bytes(1 + n % 200) AS k, convert_to(repeat(md5(n::text), n % 7), 'UTF8') AS m
                     FROM generate_series(1, 200) n) x),
          'audit.hmac_sha256 equals pgcrypto''s hmac for 200 random keys (1 to 200 bytes) and messages');
ROLLBACK TO SAVEPOINT crypto;

-- sealing
SELECT throws_ok($$ SELECT * FROM audit.seal('short') $$, '22023', NULL, 'a key shorter than 16 bytes is refused');
SELECT ok((SELECT count(*) FROM audit.seal(current_setting('test.key'), 3)) = 1, 'seal (at most 3 rows) makes one seal');
SELECT is((SELECT (seal_no, from_txid, row_count, transaction_count)::text FROM audit.seals WHERE seal_no = 1), '(1,0,2,2)',
          'the first seal starts at txid 0 and takes whole transactions in txid order: the two 2001 ones');
DO $$ BEGIN
  WHILE EXISTS (SELECT FROM audit.seal(current_setting('test.key'), 3)) LOOP END LOOP;
END $$;
SELECT ok((SELECT count(*) FROM audit.seals) >= 4, 'further calls seal the rest, a few transactions each');
SELECT is((SELECT row_count FROM audit.seals s WHERE :cascade_txid >= s.from_txid AND :cascade_txid < s.to_txid),
          (SELECT count(*) FROM audit.log WHERE txid = :cascade_txid), 'a transaction bigger than max_rows is sealed whole, alone');
SELECT is((SELECT sum(row_count)::int FROM audit.seals), (SELECT count(*)::int FROM audit.log), 'every audit.log row is sealed once');
SELECT is((SELECT sum(transaction_count)::int FROM audit.seals), (SELECT count(*)::int FROM audit.transactions), 'and every audit.transactions row');
SELECT is((SELECT count(*)::int FROM (SELECT log_id, created_at FROM audit.seal_rows WHERE log_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d), 0,
          'no row is in two seals');
SELECT ok((SELECT bool_and(s.from_txid = p.to_txid) FROM audit.seals s JOIN audit.seals p ON p.seal_no = s.seal_no - 1),
          'each seal starts where the previous one ended');
SELECT is((SELECT count(*)::int FROM audit.seal(current_setting('test.key'))), 0, 'with nothing new, seal appends nothing');
SELECT is((SELECT seal_no FROM audit.head()), (SELECT max(seal_no) FROM audit.seals), 'head() is the newest seal');
SELECT is((SELECT chain_digest FROM audit.head()), (SELECT encode(chain_digest, 'hex') FROM audit.seals ORDER BY seal_no DESC LIMIT 1),
          'with its chain digest in hex');
SELECT throws_ok($$ SELECT * FROM audit.seal('another-key-0123456789') $$, 'PD210', NULL, 'a key that is not the chain''s is refused');

-- a transaction of this test (still open) is not sealed
DELETE FROM lab.people WHERE email = 'robert@x';
SELECT is((SELECT count(*)::int FROM audit.seal(current_setting('test.key'))), 0, 'a transaction still running is not sealed');

-- verify
SELECT is((SELECT (ok, problem, seals_checked = (SELECT count(*) FROM audit.seals), rows_checked = (SELECT count(*) FROM audit.log WHERE txid <> pg_current_xact_id()::text::bigint), rows_unsealed)::text
             FROM audit.verify(current_setting('test.key'))), '(t,,t,t,1)', 'verify: ok; every seal and sealed row checked; this transaction''s row is unsealed');
SELECT is((SELECT ok FROM audit.verify(current_setting('test.key'), expected_head => (SELECT chain_digest FROM audit.head()))), true,
          'verify with the head kept outside: ok');
SELECT is((SELECT ok FROM audit.verify(current_setting('test.key'), expected_head => (SELECT seal_no || ':' || chain_digest FROM audit.head()))), true,
          'the head may be given as <seal>:<digest>');
SELECT is((SELECT ok FROM audit.verify(current_setting('test.key'), from_seal => 3)), true, 'verify from a later seal');
SELECT is((SELECT (ok, problem, seal_no)::text FROM audit.verify('wrong-key-0123456789abc')), '(f,"wrong key",1)', 'a wrong key is named as such');
SELECT throws_ok($$ SELECT * FROM audit.verify(current_setting('test.key'), expected_head => 'abc') $$, '22023', NULL, 'a malformed head is refused');

-- tampering, as a superuser with the append-only guard disabled; each undone afterwards
SAVEPOINT tamper;
ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.log SET old_data = jsonb_set(old_data, '{email}', '"mallory@x"') WHERE id = :person_row;
SELECT is((SELECT (ok, problem, log_id, txid, detail)::text FROM audit.verify(current_setting('test.key'))),
          format('(f,"row altered",%s,%s,"old_data differs from what seal %s holds")', :person_row, :person_txid,
                 (SELECT seal_no FROM audit.seal_rows WHERE log_id = :person_row)),
          'an UPDATE of an old_data value: the row, its txid and the column');
ROLLBACK TO SAVEPOINT tamper;

ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.log SET action = 'INSERT' WHERE id = :update_row;
SELECT is((SELECT (problem, log_id, detail LIKE 'action differs%')::text FROM audit.verify(current_setting('test.key'))),
          format('("row altered",%s,t)', :update_row), 'an edited action is reported with the column');
ROLLBACK TO SAVEPOINT tamper;

ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
DELETE FROM audit.log WHERE id = :person_row;
SELECT is((SELECT (ok, problem, log_id, txid)::text FROM audit.verify(current_setting('test.key'))),
          format('(f,"row removed",%s,%s)', :person_row, :person_txid), 'a DELETEd row is reported by its id and txid');
ROLLBACK TO SAVEPOINT tamper;

ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
DELETE FROM audit.log WHERE txid = :cascade_txid;
SELECT is((SELECT (problem, log_id, txid, detail LIKE '%audit.log has 0 of the 6 rows of transaction%')::text FROM audit.verify(current_setting('test.key'))),
          format('("row removed",%s,%s,t)', :cascade_first_row, :cascade_txid), 'a whole transaction''s rows removed: its first row, and how many are gone');
ALTER TABLE audit.transactions DISABLE TRIGGER deletion_00_append_only;
DELETE FROM audit.transactions WHERE txid = :cascade_txid;
SELECT is((SELECT (problem, txid)::text FROM audit.verify(current_setting('test.key'))),
          format('("transaction removed",%s)', :cascade_txid), 'and with its audit.transactions row, the transaction');
ROLLBACK TO SAVEPOINT tamper;

ALTER TABLE audit.transactions DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.transactions SET actor = 8 WHERE txid = :cascade_txid;
SELECT is((SELECT (problem, txid, detail)::text FROM audit.verify(current_setting('test.key'))),
          format('("transaction altered",%s,"actor differs from what seal %s holds")', :cascade_txid,
                 (SELECT seal_no FROM audit.seals s WHERE :cascade_txid >= s.from_txid AND :cascade_txid < s.to_txid)),
          'who did it is sealed too: an edited actor');
ROLLBACK TO SAVEPOINT tamper;

INSERT INTO audit.log (created_at, txid, statement_seq, table_name, action, record_id, primary_key, old_data)
SELECT created_at, txid, 9, 'lab.people', 'DELETE', '99', '{"id": 99}', '{"id": 99}' FROM audit.log WHERE id = :update_row;
SELECT is((SELECT (problem, log_id, txid)::text FROM audit.verify(current_setting('test.key'))),
          format('("row inserted",%s,%s)', currval('audit.log_id_seq'), :update_txid), 'a forged row with a sealed txid (no trigger stops an INSERT)');
ROLLBACK TO SAVEPOINT tamper;

ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.log SET txid = :update_txid WHERE id = :person_row;
SELECT is((SELECT (problem, log_id, detail)::text FROM audit.verify(current_setting('test.key'))),
          format('("row altered",%s,"txid differs from what seal %s holds")', :person_row, (SELECT seal_no FROM audit.seal_rows WHERE log_id = :person_row)),
          'a row moved to another sealed transaction');
ROLLBACK TO SAVEPOINT tamper;

ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.log SET created_at = created_at - interval '1 hour' WHERE id = :person_row;
SELECT is((SELECT (problem, log_id, detail LIKE format('seal %%holds it with txid %s, created_at %%; audit.log now has it%%', :person_txid))::text
             FROM audit.verify(current_setting('test.key'))),
          format('("row altered",%s,t)', :person_row), 'a row whose created_at was changed');
ROLLBACK TO SAVEPOINT tamper;

ALTER TABLE audit.seals DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.seals SET row_count = row_count - 1 WHERE seal_no = 2;
SELECT is((SELECT (problem, seal_no, detail LIKE 'its fields or its parts%')::text FROM audit.verify(current_setting('test.key'))),
          '("seal altered",2,t)', 'an edited seal row');
ROLLBACK TO SAVEPOINT tamper;

ALTER TABLE audit.seals DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.seals SET chain_digest = sha256(chain_digest) WHERE seal_no = 3;
SELECT is((SELECT (problem, seal_no)::text FROM audit.verify(current_setting('test.key'))), '("seal altered",3)', 'an edited chain digest');
ROLLBACK TO SAVEPOINT tamper;

ALTER TABLE audit.seals DISABLE TRIGGER deletion_00_append_only;
ALTER TABLE audit.seal_parts DISABLE TRIGGER deletion_00_append_only;
DELETE FROM audit.seal_parts WHERE seal_no = 2;
DELETE FROM audit.seals WHERE seal_no = 2;
SELECT is((SELECT (problem, seal_no)::text FROM audit.verify(current_setting('test.key'))), '("seal removed",2)', 'a removed seal');
ROLLBACK TO SAVEPOINT tamper;

-- removing the newest seal (and its rows) leaves a shorter chain that verifies; the kept head does not
SELECT chain_digest AS kept_head FROM audit.head() \gset
ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
ALTER TABLE audit.transactions DISABLE TRIGGER deletion_00_append_only;
ALTER TABLE audit.seals DISABLE TRIGGER deletion_00_append_only;
ALTER TABLE audit.seal_parts DISABLE TRIGGER deletion_00_append_only;
ALTER TABLE audit.seal_rows DISABLE TRIGGER deletion_00_append_only;
DELETE FROM audit.log l USING audit.seals s WHERE s.seal_no = (SELECT max(seal_no) FROM audit.seals) AND l.txid >= s.from_txid AND l.txid < s.to_txid;
DELETE FROM audit.transactions t USING audit.seals s WHERE s.seal_no = (SELECT max(seal_no) FROM audit.seals) AND t.txid >= s.from_txid AND t.txid < s.to_txid;
DELETE FROM audit.seal_rows WHERE seal_no = (SELECT max(seal_no) FROM audit.seals);
DELETE FROM audit.seal_parts WHERE seal_no = (SELECT max(seal_no) FROM audit.seals);
DELETE FROM audit.seals WHERE seal_no = (SELECT max(seal_no) FROM audit.seals);
SELECT is((SELECT ok FROM audit.verify(current_setting('test.key'))), true,
          'the newest seal removed with its rows: the shorter chain verifies (this is what the kept head is for)');
SELECT is((SELECT (ok, problem)::text FROM audit.verify(current_setting('test.key'), expected_head => :'kept_head')), '(f,"head not found")',
          'verify with the head kept outside reports it');
ROLLBACK TO SAVEPOINT tamper;

-- the attacker covers an edit by recomputing every digest with the engine's own functions...
ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
ALTER TABLE audit.seals DISABLE TRIGGER deletion_00_append_only;
ALTER TABLE audit.seal_parts DISABLE TRIGGER deletion_00_append_only;
ALTER TABLE audit.seal_rows DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.log SET old_data = jsonb_set(old_data, '{email}', '"mallory@x"') WHERE id = :person_row;
SELECT is((SELECT (problem, log_id)::text FROM audit.verify(current_setting('test.key'))), format('("row altered",%s)', :person_row),
          'the edit, before the cover-up');
UPDATE audit.seal_rows r SET digest = d.digest, columns = d.columns
  FROM audit.row_digests(0, 9223372036854775807) d WHERE d.log_id = r.log_id AND d.created_at = r.created_at;
SELECT is((SELECT (problem, seal_no)::text FROM audit.verify(current_setting('test.key'))),
          format('("seal rows altered",%s)', (SELECT seal_no FROM audit.seal_rows WHERE log_id = :person_row)),
          'the row digest recomputed: the seal''s part no longer matches');
UPDATE audit.seal_parts p SET digest = (SELECT sha256(string_agg(r.digest, ''::bytea ORDER BY r.txid, r.log_id NULLS FIRST, r.created_at, r.digest))
                                          FROM audit.seal_rows r WHERE r.seal_no = p.seal_no AND r.month = p.month);
UPDATE audit.seals s SET batch_digest = audit.seal_batch_digest(s.seal_no, s.sealed_at, s.scheme, s.from_txid, s.to_txid, s.row_count,
                                                                s.transaction_count, s.first_id, s.last_id, s.key_id);
-- ... and the chain without the key (plain SHA-256 in place of the HMAC)
DO $$
DECLARE
  s record;
  prev bytea := decode(repeat('00', 32), 'hex');
BEGIN
  FOR s IN SELECT * FROM audit.seals ORDER BY seal_no LOOP
    prev := sha256(prev || s.batch_digest);
    UPDATE audit.seals SET chain_digest = prev WHERE seal_no = s.seal_no;
  END LOOP;
END
$$;
SELECT is((SELECT (problem, seal_no, detail LIKE '%recomputed without the key')::text FROM audit.verify(current_setting('test.key'))),
          '("seal altered",1,t)', 'the chain recomputed without the key: its first seal fails');
-- ... or under a key of the attacker's own
DO $$
DECLARE
  s record;
  k bytea := convert_to('mallory-key-0123456789', 'UTF8');
  prev bytea := decode(repeat('00', 32), 'hex');
BEGIN
  FOR s IN SELECT * FROM audit.seals ORDER BY seal_no LOOP
    UPDATE audit.seals SET key_id = audit.seal_key_id(k),
           batch_digest = audit.seal_batch_digest(s.seal_no, s.sealed_at, s.scheme, s.from_txid, s.to_txid, s.row_count,
                                                  s.transaction_count, s.first_id, s.last_id, audit.seal_key_id(k))
     WHERE seal_no = s.seal_no;
    prev := audit.hmac_sha256(k, prev || (SELECT batch_digest FROM audit.seals WHERE seal_no = s.seal_no));
    UPDATE audit.seals SET chain_digest = prev WHERE seal_no = s.seal_no;
  END LOOP;
END
$$;
SELECT is((SELECT ok FROM audit.verify('mallory-key-0123456789')), true, 'the rebuilt chain verifies under the attacker''s key');
SELECT is((SELECT (problem, seal_no)::text FROM audit.verify(current_setting('test.key'))), '("wrong key",1)', 'but not under ours');
SELECT is((SELECT (ok, problem)::text FROM audit.verify('mallory-key-0123456789', expected_head => :'kept_head')), '(f,"head not found")',
          'and the head kept outside is not in it');
ROLLBACK TO SAVEPOINT tamper;
SELECT is((SELECT ok FROM audit.verify(current_setting('test.key'))), true, 'after every rollback, verify is ok again');

-- redaction (erasure): values go, digests stay, and verify passes
SELECT throws_ok(format($$ UPDATE audit.log SET old_data = old_data || '{"email": null}' WHERE id = %s $$, :person_row), 'PD201', NULL,
                 'a direct UPDATE of the log is still refused');
SELECT throws_ok(format($$ SELECT set_config('audit.redacting', '%s/' || pg_current_xact_id(), true);
                           UPDATE audit.log SET old_data = old_data || '{"email": null}' WHERE id = %s $$, :person_row, :person_row), 'PD201', NULL,
                 'so is one that fakes the marker, with no digest kept for the value');
SELECT is((SELECT array_agg(field || '.' || column_name) FROM audit.redact(:person_row, :'person_at', ARRAY['email'])), ARRAY['old_data.email'],
          'redact names the values it redacted');
SELECT is((SELECT old_data -> 'email' FROM audit.log WHERE id = :person_row), 'null'::jsonb, 'the value is gone from the log');
SELECT is((SELECT old_data ->> 'id' FROM audit.log WHERE id = :person_row), '00000000-0000-0000-0000-0000000000b1', 'the other columns are kept');
SELECT is((SELECT count(*)::int FROM audit.redactions WHERE log_id = :person_row), 1, 'its digest is kept in audit.redactions');
SELECT is((SELECT ok FROM audit.verify(current_setting('test.key'))), true, 'verify still passes after the redaction');
SELECT is((SELECT count(*)::int FROM audit.redact(:person_row, :'person_at', ARRAY['email'])), 0, 'redacting again redacts nothing');
SELECT is((SELECT array_agg(field || '.' || column_name ORDER BY field) FROM audit.redact(:update_row,
             (SELECT created_at FROM audit.log WHERE id = :update_row), ARRAY['email'])),
          ARRAY['changed.email', 'old_data.email'], 'an UPDATE row loses the column in old_data and changed');
SELECT is((SELECT ok FROM audit.verify(current_setting('test.key'))), true, 'and verify passes');
SELECT throws_ok(format($$ SELECT * FROM audit.redact(%s, %L, ARRAY['id']) $$, :person_row, :'person_at'), '22023', NULL, 'a key column cannot be redacted');
SELECT throws_ok(format($$ SELECT * FROM audit.redact(%s, %L, ARRAY['nope']) $$, :person_row, :'person_at'), '42703', NULL, 'nor a column the row lacks');
SELECT throws_ok($$ SELECT * FROM audit.redact(-1, now(), ARRAY['email']) $$, 'P0002', NULL, 'nor a row that does not exist');
SAVEPOINT tamper;
ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.log SET old_data = old_data || '{"email": "back@x"}' WHERE id = :person_row;
SELECT is((SELECT (problem, log_id)::text FROM audit.verify(current_setting('test.key'))), format('("row altered",%s)', :person_row),
          'a redacted value written back is an edit like any other');
ROLLBACK TO SAVEPOINT tamper;
ALTER TABLE audit.log DISABLE TRIGGER deletion_00_append_only;
UPDATE audit.log SET old_data = old_data || '{"id": null}' WHERE id = :person_row;
SELECT is((SELECT (problem, log_id)::text FROM audit.verify(current_setting('test.key'))), format('("row altered",%s)', :person_row),
          'nulling a value that was not redacted is an edit');
ROLLBACK TO SAVEPOINT tamper;

-- retention: a month that is not the oldest is not retention (its rows are missing); the oldest is
SAVEPOINT retention;
ALTER TABLE audit.log DETACH PARTITION audit.log_2001_02;
DROP TABLE audit.log_2001_02;
SELECT is((SELECT (problem, txid)::text FROM audit.verify(current_setting('test.key'))), '("row removed",4)',
          'a month dropped while an older one is kept is reported');
ROLLBACK TO SAVEPOINT retention;
SELECT is((SELECT array_agg(d ORDER BY d) FROM audit.drop_partitions_before('2001-02-01') d),
          ARRAY['audit.log_2001_01', 'audit.seal_rows_2001_01', 'audit.transactions_2001_01'], 'retention drops a month of the log, its transactions and its seal rows');
SELECT is((SELECT (ok, rows_retired)::text FROM audit.verify(current_setting('test.key'))), '(t,1)', 'verify passes; the dropped month''s sealed row is retired');
SELECT is((SELECT (ok, rows_retired)::text FROM audit.verify(current_setting('test.key'), expected_head => :'kept_head')), '(t,1)',
          'with the kept head too: the chain still links through the dropped month''s part');

-- privileges
ROLLBACK TO SAVEPOINT tamper;
CREATE ROLE seal_test_admin IN ROLE deletion_admin;
CREATE ROLE seal_test_app IN ROLE deletion_app;
SET LOCAL ROLE seal_test_admin;
SELECT is((SELECT ok FROM audit.verify(current_setting('test.key'))), true, 'deletion_admin may verify');
SELECT is((SELECT seal_no FROM audit.head()), (SELECT max(seal_no) FROM audit.seals), 'and read the head');
SELECT lives_ok($$ SELECT * FROM audit.seal(current_setting('test.key')) $$, 'and seal, as the worker''s upkeep and `deletion-kit audit seal` do');
SELECT throws_ok($$ UPDATE audit.log SET changed = NULL $$, '42501', NULL, 'nor UPDATE the log');
RESET ROLE;
SET LOCAL ROLE seal_test_app;
SELECT throws_ok($$ SELECT * FROM audit.verify(current_setting('test.key')) $$, '42501', NULL, 'the application role may not verify');
SELECT throws_ok($$ SELECT audit.hmac_sha256('\x00', '\x00') $$, '42501', NULL, 'nor call the helpers');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
