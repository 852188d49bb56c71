-- deletion.lint on partitioned tables: a foreign key declared on a partition itself is linted like
-- any other (left at NO ACTION, unindexed), and a key on the partitioned parent counts as indexed
-- when every partition has the index, even if the parent has none of its own.
BEGIN;
SELECT plan(6);

CREATE SCHEMA lintp;
CREATE TABLE lintp.owners (id int PRIMARY KEY);
CREATE TABLE lintp.events (id int, at date NOT NULL, owner_id int REFERENCES lintp.owners ON DELETE CASCADE,
                           PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE lintp.events_2022 PARTITION OF lintp.events FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
CREATE TABLE lintp.events_2023 PARTITION OF lintp.events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
-- Each partition has the owner index; the parent has none of its own.
CREATE INDEX events_2022_owner_idx ON lintp.events_2022 (owner_id);
CREATE INDEX events_2023_owner_idx ON lintp.events_2023 (owner_id);
-- A key declared on one partition only, left at NO ACTION and unindexed.
CREATE TABLE lintp.reviewers (id int PRIMARY KEY);
ALTER TABLE lintp.events ADD COLUMN reviewer_id int;
ALTER TABLE lintp.events_2022 ADD CONSTRAINT events_2022_reviewer_fkey FOREIGN KEY (reviewer_id) REFERENCES lintp.reviewers;
SELECT deletion.register_table(t) FROM unnest(ARRAY['lintp.owners', 'lintp.events', 'lintp.reviewers']::regclass[]) t;

CREATE TEMP TABLE findings AS SELECT * FROM deletion.lint() WHERE object LIKE 'lintp.%';
SELECT results_eq($$ SELECT rule, object FROM findings ORDER BY rule, object $$,
  $$ VALUES ('default_on_delete', 'lintp.events_2022.events_2022_reviewer_fkey'),
            ('unindexed_foreign_key', 'lintp.events_2022.events_2022_reviewer_fkey') $$,
  'a key declared on a partition is linted; the parent''s key, indexed on every partition, is not reported');
SELECT is_empty($$ SELECT * FROM findings WHERE rule = 'no_deletion_policy' $$, 'partitions need no registry row of their own');
SELECT ok(deletion.has_leading_index('lintp.events', ARRAY['owner_id']::name[]), 'every partition has the index: the parent counts as indexed');
SELECT ok(NOT deletion.has_own_leading_index('lintp.events', ARRAY['owner_id']::name[]), 'though it has none of its own');

DROP INDEX lintp.events_2023_owner_idx;
SELECT results_eq($$ SELECT rule, object FROM deletion.lint() WHERE object LIKE 'lintp.events.%' $$,
  $$ VALUES ('unindexed_foreign_key', 'lintp.events.events_owner_id_fkey') $$,
  'one partition without the index: the parent''s key is reported');
CREATE INDEX ON lintp.events_2022 (reviewer_id);
SELECT is_empty($$ SELECT * FROM deletion.lint() WHERE object = 'lintp.events_2022.events_2022_reviewer_fkey' AND rule = 'unindexed_foreign_key' $$,
                'an index on the partition clears its own key''s finding');

SELECT * FROM finish();
ROLLBACK;
