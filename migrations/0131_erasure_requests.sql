-- Up Migration

-- Erasure requests with a grace period (docs/erasure.md, "Requests with a grace period"): a request
-- waits until due_at, can be cancelled until then, and is carried out by deletion.run_due_erasures
-- (deletion-kit erase --run-due). The subject's key is kept only while the request waits: once
-- carried out or cancelled it is cleared, so the request does not link the erasure log's keyed hash
-- back to the person. Code: sql/61_erasure_requests.sql.
CREATE TABLE deletion.erasure_requests (
  id            bigint GENERATED ALWAYS AS IDENTITY,
  subject_table text        NOT NULL,
  subject_key   jsonb,
  reason        text        NOT NULL,
  requested_at  timestamptz NOT NULL DEFAULT now(),
  requested_by  text        NOT NULL,
  due_at        timestamptz NOT NULL,
  status        text        NOT NULL DEFAULT 'pending',
  finished_at   timestamptz,
  erasure_id    bigint,
  error         text,
  CONSTRAINT erasure_requests_pkey PRIMARY KEY (id),
  CONSTRAINT erasure_requests_status_check CHECK (status IN ('pending', 'cancelled', 'done', 'failed')),
  CONSTRAINT erasure_requests_key_check CHECK ((status = 'pending') = (subject_key IS NOT NULL) OR status = 'failed'),
  CONSTRAINT erasure_requests_erasure_fkey FOREIGN KEY (erasure_id) REFERENCES deletion.erasures (id) ON DELETE SET NULL
);
CREATE INDEX erasure_requests_due_idx ON deletion.erasure_requests (due_at) WHERE status = 'pending';
CREATE INDEX erasure_requests_erasure_idx ON deletion.erasure_requests (erasure_id);
COMMENT ON TABLE deletion.erasure_requests IS 'Erasures waiting for their grace period to end (cancellable until then), and what became of them.';
COMMENT ON COLUMN deletion.erasure_requests.subject_key IS 'The subject''s key while the request waits (or failed); cleared when it is carried out or cancelled.';
COMMENT ON COLUMN deletion.erasure_requests.due_at IS 'When the grace period ends and deletion.run_due_erasures carries the request out.';
COMMENT ON COLUMN deletion.erasure_requests.erasure_id IS 'The erasure that carried it out (deletion.erasures).';

GRANT SELECT ON deletion.erasure_requests TO deletion_admin;

-- Down Migration

DROP TABLE deletion.erasure_requests;
