-- Up Migration

-- The action log of the HTTP API and the console: one row for every request that changes something
-- (soft delete, restore, schedule, cancel, undo, audit restore, purge, file cleanup and retry), with
-- who (the token's name), under which role, what, when, and what came of it. A successful change
-- writes its row in the change's own transaction, so there is never a change without its row; a
-- refused or failed one writes it afterwards. Rows are written only by deletion.record_action
-- (sql/70_http_actions.sql); the roles may read them.
CREATE TABLE deletion.http_actions (
  id           bigint      GENERATED ALWAYS AS IDENTITY,
  at           timestamptz NOT NULL DEFAULT now(),
  actor        text        NOT NULL,
  role         text        NOT NULL,
  db_role      name        NOT NULL,
  method       text        NOT NULL,
  path         text        NOT NULL,
  action       text        NOT NULL,
  target_table text,
  target_key   text,
  request      jsonb       NOT NULL DEFAULT '{}',
  status       integer     NOT NULL,
  sqlstate     text,
  result       jsonb,
  CONSTRAINT http_actions_pkey PRIMARY KEY (id),
  CONSTRAINT http_actions_role_check CHECK (role IN ('viewer', 'operator', 'admin'))
);
CREATE INDEX http_actions_at ON deletion.http_actions (at);
COMMENT ON TABLE deletion.http_actions IS 'Every change made through the HTTP API or the console: who (token name), role, what, when, and the result; written by deletion.record_action.';
COMMENT ON COLUMN deletion.http_actions.actor IS 'The name of the token the request carried (also the deletion.actor of the change).';
COMMENT ON COLUMN deletion.http_actions.role IS 'The token''s role: viewer, operator or admin.';
COMMENT ON COLUMN deletion.http_actions.db_role IS 'The database role the request ran as (SET LOCAL ROLE).';
COMMENT ON COLUMN deletion.http_actions.method IS 'The HTTP method.';
COMMENT ON COLUMN deletion.http_actions.path IS 'The request path, without its query string.';
COMMENT ON COLUMN deletion.http_actions.action IS 'What was asked: soft_delete, restore, schedule, cancel, undo, audit_restore, purge, cleanup_run, files_retry.';
COMMENT ON COLUMN deletion.http_actions.target_table IS 'The table acted on, when there is one.';
COMMENT ON COLUMN deletion.http_actions.target_key IS 'The key, operation, job or transaction acted on, when there is one.';
COMMENT ON COLUMN deletion.http_actions.request IS 'The request''s parameters (query and body).';
COMMENT ON COLUMN deletion.http_actions.status IS 'The HTTP status of the answer.';
COMMENT ON COLUMN deletion.http_actions.sqlstate IS 'The SQLSTATE of the error, when it failed.';
COMMENT ON COLUMN deletion.http_actions.result IS 'The answer''s body (or the error).';

-- Down Migration

DROP TABLE deletion.http_actions;
