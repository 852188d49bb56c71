-- Up Migration

-- Right to erasure (docs/erasure.md): which columns hold personal data, which tables name a person
-- (a subject) and what erasing one does to each table that references it, and the log of erasures.
-- The code is sql/31_personal_data.sql (declarations, lint) and sql/60_erasure*.sql (erase, report).
-- Tables are named by schema and name, never by OID, so the registry survives dump and restore.

-- Personal data, per column. category says what kind (docs/erasure.md); 'not_personal' records that
-- a column whose name looks personal (projects.name) was looked at and holds none. replacement is the
-- value a redaction writes (an SQL literal cast to the column's type), NULL for SQL NULL.
CREATE TABLE deletion.personal_columns (
  table_schema name        NOT NULL,
  table_name   name        NOT NULL,
  column_name  name        NOT NULL,
  category     text        NOT NULL,
  replacement  text,
  declared_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT personal_columns_pkey PRIMARY KEY (table_schema, table_name, column_name),
  CONSTRAINT personal_columns_category_check
    CHECK (category IN ('contact', 'identity', 'content', 'location', 'network', 'financial', 'other', 'not_personal')),
  CONSTRAINT personal_columns_table_fkey FOREIGN KEY (table_schema, table_name)
    REFERENCES deletion.table_policies (table_schema, table_name) ON DELETE CASCADE ON UPDATE CASCADE
);
COMMENT ON TABLE deletion.personal_columns IS 'Columns that hold personal data, with their category (deletion.declare_personal_data); erasure redacts them, lint asks for them.';
COMMENT ON COLUMN deletion.personal_columns.category IS 'contact, identity, content, location, network, financial, other; not_personal: looked at, holds none.';
COMMENT ON COLUMN deletion.personal_columns.replacement IS 'What a redaction writes into the column (a literal of its type); NULL writes SQL NULL.';

-- Tables whose rows are people who can ask to be erased, and the row that takes over what they leave
-- behind (comments they wrote, issues they created) when a rule re-points it: the tombstone, either
-- an existing row (tombstone_key) or one the first erasure inserts (tombstone_row).
CREATE TABLE deletion.erasure_subjects (
  table_schema  name        NOT NULL,
  table_name    name        NOT NULL,
  tombstone_key jsonb,
  tombstone_row jsonb,
  declared_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT erasure_subjects_pkey PRIMARY KEY (table_schema, table_name),
  CONSTRAINT erasure_subjects_table_fkey FOREIGN KEY (table_schema, table_name)
    REFERENCES deletion.table_policies (table_schema, table_name) ON DELETE CASCADE ON UPDATE CASCADE
);
COMMENT ON TABLE deletion.erasure_subjects IS 'Tables whose rows are erasable subjects (people), with the key of the tombstone row that re-pointed rows reference.';
COMMENT ON COLUMN deletion.erasure_subjects.tombstone_key IS 'Primary key (JSON object) of the row that stands for "an erased person"; NULL until the first erasure creates it from tombstone_row, or when no rule re-points.';
COMMENT ON COLUMN deletion.erasure_subjects.tombstone_row IS 'Column values (JSON object) of the tombstone row, inserted by the first erasure that needs it (so a product has no such row before).';

-- What erasing a subject does to the rows of a table that reference it through one foreign key
-- (via_columns, the key's referencing columns): delete them, set the key NULL, or re-point it to the
-- tombstone; redact also overwrites the rows' declared personal columns. One rule per foreign key.
CREATE TABLE deletion.erasure_rules (
  subject_schema name        NOT NULL,
  subject_table  name        NOT NULL,
  table_schema   name        NOT NULL,
  table_name     name        NOT NULL,
  via_columns    name[]      NOT NULL,
  action         text        NOT NULL,
  redact         boolean     NOT NULL DEFAULT false,
  note           text        NOT NULL DEFAULT '',
  declared_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT erasure_rules_pkey PRIMARY KEY (table_schema, table_name, via_columns),
  CONSTRAINT erasure_rules_action_check CHECK (action IN ('delete', 'set_null', 'tombstone')),
  CONSTRAINT erasure_rules_redact_check CHECK (NOT (action = 'delete' AND redact)),
  CONSTRAINT erasure_rules_subject_fkey FOREIGN KEY (subject_schema, subject_table)
    REFERENCES deletion.erasure_subjects (table_schema, table_name) ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT erasure_rules_table_fkey FOREIGN KEY (table_schema, table_name)
    REFERENCES deletion.table_policies (table_schema, table_name) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX erasure_rules_subject_idx ON deletion.erasure_rules (subject_schema, subject_table);
COMMENT ON TABLE deletion.erasure_rules IS 'Per foreign key to an erasure subject: what deletion.erase does to the referencing rows (delete, set_null, tombstone; redact their personal columns).';
COMMENT ON COLUMN deletion.erasure_rules.via_columns IS 'The referencing columns of the foreign key, in the key''s order.';
COMMENT ON COLUMN deletion.erasure_rules.redact IS 'Also overwrite the rows'' declared personal columns with their replacement (set_null and tombstone only).';

-- The erasure log. It holds no personal data of the subject: the subject is a keyed hash of its
-- table and key (HMAC with the operator's key), the reason is scrubbed of the subject's values, and
-- the report counts rows. txid names the erasing transaction, so that restores of it are refused.
CREATE TABLE deletion.erasures (
  id            bigint GENERATED BY DEFAULT AS IDENTITY,
  subject_table text        NOT NULL,
  subject_hash  text        NOT NULL,
  key_id        text        NOT NULL,
  txid          bigint      NOT NULL,
  erased_at     timestamptz NOT NULL,
  erased_by     text        NOT NULL,
  reason        text        NOT NULL,
  rules_version text        NOT NULL,
  report        jsonb       NOT NULL,
  signature     text        NOT NULL,
  CONSTRAINT erasures_pkey PRIMARY KEY (id)
);
CREATE INDEX erasures_subject_idx ON deletion.erasures (subject_hash);
CREATE INDEX erasures_txid_idx ON deletion.erasures (txid);
COMMENT ON TABLE deletion.erasures IS 'One row per erasure: its signed report, without personal data of the subject (a keyed hash of its key).';
COMMENT ON COLUMN deletion.erasures.subject_hash IS 'HMAC-SHA256(operator key, table and key of the subject), hex: finds a later request for the same person without storing who.';
COMMENT ON COLUMN deletion.erasures.key_id IS 'First 8 bytes of HMAC(key, ''deletion-kit erasure key id''), hex: which key signed the report.';
COMMENT ON COLUMN deletion.erasures.signature IS 'HMAC-SHA256(operator key, report::text), hex.';

-- Soft-delete operations whose every row an erasure removed: deletion.restore refuses them by name.
CREATE TABLE deletion.erased_operations (
  op         uuid   NOT NULL,
  erasure_id bigint NOT NULL,
  CONSTRAINT erased_operations_pkey PRIMARY KEY (op),
  CONSTRAINT erased_operations_erasure_fkey FOREIGN KEY (erasure_id) REFERENCES deletion.erasures (id) ON DELETE CASCADE
);
CREATE INDEX erased_operations_erasure_idx ON deletion.erased_operations (erasure_id);
COMMENT ON TABLE deletion.erased_operations IS 'Soft-delete operations an erasure emptied; restoring them is refused (PD605).';

GRANT SELECT ON deletion.personal_columns, deletion.erasure_subjects, deletion.erasure_rules TO deletion_app, deletion_admin;
GRANT SELECT ON deletion.erasures, deletion.erased_operations TO deletion_admin;

-- Down Migration

DROP TABLE deletion.erased_operations;
DROP TABLE deletion.erasures;
DROP TABLE deletion.erasure_rules;
DROP TABLE deletion.erasure_subjects;
DROP TABLE deletion.personal_columns;
