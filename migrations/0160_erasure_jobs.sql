-- Up Migration

-- Erasure as a scheduled deletion job (docs/erasure.md, "Erasing a large subject as a job"): the
-- worker erases a subject in chunks, each its own transaction, and the job's state between chunks
-- is kept here: which step it is at, what each rule did so far, the subject's values to scrub later.
-- The subject's key, image and values are kept only while the job runs: the job's last chunk (or a
-- cancel) clears them, so that nothing links the erasure log's keyed hash back to the person. The
-- code is sql/62_erasure_jobs.sql; the deletion_jobs row names the erasure ('erasure <id>'), never
-- the subject's key.
CREATE TABLE deletion.erasure_jobs (
  job_id        bigint      NOT NULL,
  erasure_id    bigint      NOT NULL,
  subject_table text        NOT NULL,
  subject_key   jsonb,
  subject_hash  text        NOT NULL,
  key_id        text        NOT NULL,
  reason        text        NOT NULL,
  requested_by  text        NOT NULL,
  step          text        NOT NULL DEFAULT 'prepare',
  step_index    integer     NOT NULL DEFAULT 0,
  step_cursor   bigint      NOT NULL DEFAULT 0,
  subject_image jsonb,
  secrets       text[],
  ops           uuid[]      NOT NULL DEFAULT '{}',
  progress      jsonb       NOT NULL DEFAULT '{}',
  finished_at   timestamptz,
  CONSTRAINT erasure_jobs_pkey PRIMARY KEY (job_id),
  CONSTRAINT erasure_jobs_erasure_key UNIQUE (erasure_id),
  CONSTRAINT erasure_jobs_job_fkey FOREIGN KEY (job_id) REFERENCES deletion.deletion_jobs (id) ON DELETE CASCADE,
  CONSTRAINT erasure_jobs_step_check CHECK (step IN ('prepare', 'rules', 'subject', 'audit', 'engine', 'report', 'done', 'cancelled'))
);
CREATE INDEX erasure_jobs_subject_idx ON deletion.erasure_jobs (subject_hash);
COMMENT ON TABLE deletion.erasure_jobs IS 'Erasures worked as deletion jobs, chunk by chunk: the step reached, the counts so far, and (only while the job runs) the subject''s key and values.';
COMMENT ON COLUMN deletion.erasure_jobs.erasure_id IS 'The id the erasure log entry gets when the job ends (reserved when it is scheduled).';
COMMENT ON COLUMN deletion.erasure_jobs.subject_key IS 'The subject''s key text as JSON while the job waits or runs; cleared when it ends.';
COMMENT ON COLUMN deletion.erasure_jobs.step IS 'prepare, rules, subject, audit, engine, report: where the job is; done or cancelled when it ended.';
COMMENT ON COLUMN deletion.erasure_jobs.step_index IS 'Within a step: the rule, audited table or engine column being worked.';
COMMENT ON COLUMN deletion.erasure_jobs.step_cursor IS 'Within the audit step: the last audit.log id worked for the current table.';
COMMENT ON COLUMN deletion.erasure_jobs.subject_image IS 'The subject row as JSON, taken by the first chunk (the rules'' foreign keys point at it); cleared when the job ends.';
COMMENT ON COLUMN deletion.erasure_jobs.secrets IS 'The subject''s values collected so far (its declared columns, and those of the rows the rules delete or redact), to scrub free text; cleared when the job ends.';
COMMENT ON COLUMN deletion.erasure_jobs.ops IS 'Soft-delete operations whose rows the job removed.';
COMMENT ON COLUMN deletion.erasure_jobs.progress IS 'The report so far: rules (rows per rule), tables ([deleted, updated, inserted] per table), audit and file counts.';
GRANT SELECT (job_id, erasure_id, subject_table, step, step_index, progress, finished_at) ON deletion.erasure_jobs TO deletion_admin;

-- The files an erasure queued for cleanup, and whether storage confirmed them gone: the file queue
-- forgets a file once the cleaner removed it, so the erasure keeps its own record. Written by the
-- erasure (deletion.erase, or each chunk of an erasure job: the erasure log entry is written only at
-- the end, so erasure_id has no foreign key), confirmed by deletion.complete_file_deletions. No
-- storage key here: a key may hold a file name, which may be personal.
CREATE TABLE deletion.erasure_files (
  erasure_id    bigint      NOT NULL,
  queue_id      bigint      NOT NULL,
  source_table  text        NOT NULL,
  queued_at     timestamptz NOT NULL,
  outcome       text        NOT NULL DEFAULT 'pending',
  confirmed_at  timestamptz,
  CONSTRAINT erasure_files_pkey PRIMARY KEY (erasure_id, queue_id),
  CONSTRAINT erasure_files_outcome_check CHECK (outcome IN ('pending', 'removed', 'still_referenced')),
  CONSTRAINT erasure_files_confirmed_check CHECK ((outcome = 'pending') = (confirmed_at IS NULL))
);
CREATE INDEX erasure_files_queue_idx ON deletion.erasure_files (queue_id) WHERE outcome = 'pending';
COMMENT ON TABLE deletion.erasure_files IS 'Files an erasure queued for cleanup and their confirmation: removed from storage by the cleaner, or kept because a live row still names them.';
COMMENT ON COLUMN deletion.erasure_files.queue_id IS 'The file''s row in deletion.pending_file_deletions (gone from there once confirmed).';
COMMENT ON COLUMN deletion.erasure_files.outcome IS 'pending (in the queue), removed (storage confirmed it gone), still_referenced (a live row names it: the file stays).';
GRANT SELECT ON deletion.erasure_files TO deletion_admin;

-- Down Migration

DROP TABLE deletion.erasure_files;
DROP TABLE deletion.erasure_jobs;
