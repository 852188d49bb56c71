-- The docs renderer: table pages in seed 001's format and the Mermaid cascade graph, from the catalog.
BEGIN;
SELECT plan(10);

\i test/fixtures/lab_schema.sql
COMMENT ON TABLE lab.documents IS 'Documents in folders.';
COMMENT ON COLUMN lab.documents.slug IS 'URL name | unique per org';
CREATE VIEW lab.document_slugs WITH (security_barrier) AS SELECT id, slug FROM lab.documents;

SELECT is(deletion.md_cell(E'two\n  lines | and a pipe'), 'two lines \| and a pipe', 'a cell keeps to one line and escapes pipes');
SELECT ok((SELECT bool_or(file_name = 'lab.documents.md') AND NOT bool_or(file_name LIKE 'tap.%') FROM deletion.documented_tables()),
          'every table has a page named schema.table.md; pgTAP''s schema has none');
SELECT matches(deletion.table_markdown('lab.documents'), E'^# lab.documents\n\nDocuments in folders.\n\n## Columns\n',
               'a page starts with the table and its comment');
SELECT matches(deletion.table_markdown('lab.documents'), E'\\| slug \\| text \\| NO \\|  \\| URL name \\\\\\| unique per org \\|',
               'columns show type, null, default and the escaped comment');
SELECT matches(deletion.table_markdown('lab.documents'), E'\\| documents_folder_fkey \\| org_id, folder_id \\| lab.folders\\(org_id, id\\) \\| ON DELETE CASCADE \\|',
               'foreign keys show their columns, the referenced table and the action');
SELECT matches(deletion.table_markdown('lab.documents'), E'\\| tags \\| ?|\\| lab.tags \\| tags_document_id_fkey \\| document_id \\| sets the columns to NULL \\|',
               'the tables referencing it say what deleting a row here does to them');
SELECT matches(deletion.table_markdown('lab.documents'), E'\\| lab.document_slugs \\| postgres \\| security_barrier=true \\|',
               'views that use the table are listed with their flags');
SELECT matches(deletion.table_markdown('lab.documents'), E'\\| description \\| lab fixture \\|',
               'the deletion policy from the registry is shown');
SELECT matches(deletion.cascade_markdown(), E'lab__people -\\.->\\|"RESTRICT approvals_approver_id_fkey"\\| lab__approvals',
               'the cascade graph draws a RESTRICT as a dotted edge');
SELECT matches(deletion.cascade_markdown(), E'lab__folders ==>\\|"CASCADE folders_parent_fkey"\\| lab__folders',
               'and the self-reference as a loop');

SELECT * FROM finish();
ROLLBACK;
