-- Partitions and retention of the audit log: monthly partitions ahead of time (moving rows out of
-- the default partition), retention by dropping whole past months, and nothing else ever removes rows.
BEGIN;
SELECT plan(9);

SELECT ok(to_regclass(format('audit.log_%s', to_char(now(), 'YYYY_MM'))) IS NOT NULL, 'this month has a partition');
SELECT ok(to_regclass('audit.log_default') IS NOT NULL, 'a default partition catches months without one');

-- a row for the month after the partitions the migration made lands in the default partition
INSERT INTO audit.log (created_at, txid, statement_seq, table_name, action, record_id)
VALUES (date_trunc('month', now()) + interval '3 months' + interval '1 day', 1, 1, 'public.probe', 'DELETE', '1');
SELECT is((SELECT count(*)::int FROM audit.log_default), 1, 'a row of a month without a partition lands in the default partition');
SELECT is((SELECT count(*)::int FROM audit.ensure_partitions(3)), 3, 'ensure_partitions(3) creates the missing month for the log, the transactions and the seal rows');
SELECT is((SELECT count(*)::int FROM audit.log_default), 0, 'and moves the row out of the default partition');
SELECT is((SELECT tableoid::regclass::text FROM audit.log WHERE table_name = 'public.probe'),
          format('audit.log_%s', to_char(date_trunc('month', now()) + interval '3 months', 'YYYY_MM')), 'into its month''s partition');

-- retention
CREATE TABLE audit.log_2001_01 PARTITION OF audit.log FOR VALUES FROM ('2001-01-01') TO ('2001-02-01');
INSERT INTO audit.log (created_at, txid, statement_seq, table_name, action) VALUES ('2001-01-15', 1, 1, 'public.old', 'DELETE');
SELECT is((SELECT array_agg(d) FROM audit.drop_partitions_before('2001-02-01') d), ARRAY['audit.log_2001_01'],
          'drop_partitions_before drops the months that end by the cutoff');
SELECT is((SELECT count(*)::int FROM audit.log WHERE table_name = 'public.old'), 0, 'with their rows');
SELECT throws_ok($$ SELECT audit.drop_partitions_before(now()) $$, '22023', NULL, 'a cutoff inside the current month is refused');

SELECT * FROM finish();
ROLLBACK;
