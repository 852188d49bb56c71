-- Up Migration

-- A workspace's wiki, kept in archive storage: a deleted page leaves its table in the deleting
-- transaction, so every client's DELETE reports the pages it deleted (DELETE 1) and RETURNING
-- returns them; the foreign keys act as declared (a page's revisions go with it, CASCADE; its
-- sub-pages are promoted to top level, SET NULL); and the audit log keeps every removed row and every
-- cleared link, which deletion.restore(op) puts back exactly. Nothing references a page with RESTRICT,
-- which is what lets its rows leave (users, for example, must stay in place: issues reference them
-- with RESTRICT). docs/soft_delete.md, "Archive storage".

CREATE TABLE public.wiki_pages (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id   bigint      NOT NULL CONSTRAINT fk_wiki_pages_workspace_id REFERENCES public.workspaces (id) ON DELETE CASCADE,
  parent_page_id bigint      CONSTRAINT fk_wiki_pages_parent_page_id REFERENCES public.wiki_pages (id) ON DELETE SET NULL,
  slug           text        NOT NULL,
  title          text        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT wiki_pages_workspace_slug_key UNIQUE (workspace_id, slug)
);
CREATE INDEX wiki_pages_parent_idx ON public.wiki_pages (parent_page_id);
COMMENT ON TABLE public.wiki_pages IS 'A workspace''s wiki pages, in archive storage: a DELETE removes a page (and reports it), its revisions go with it, its sub-pages become top-level; deletion.restore of the operation brings all of it back from the audit log.';
COMMENT ON COLUMN public.wiki_pages.id IS 'Surrogate key.';
COMMENT ON COLUMN public.wiki_pages.workspace_id IS 'The workspace the page belongs to (CASCADE: removed with a hard-deleted workspace).';
COMMENT ON COLUMN public.wiki_pages.parent_page_id IS 'The page this one is filed under, NULL at top level. SET NULL: deleting a page promotes its sub-pages; restore files them under it again.';
COMMENT ON COLUMN public.wiki_pages.slug IS 'URL name, unique in the workspace (a plain UNIQUE: deleted pages are not in the table, so upserts need no predicate).';
COMMENT ON COLUMN public.wiki_pages.title IS 'Display title.';
COMMENT ON COLUMN public.wiki_pages.created_at IS 'When the page was created.';

CREATE TABLE public.wiki_page_revisions (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  page_id    bigint      NOT NULL CONSTRAINT fk_wiki_page_revisions_page_id REFERENCES public.wiki_pages (id) ON DELETE CASCADE,
  body       text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wiki_page_revisions_page_idx ON public.wiki_page_revisions (page_id);
COMMENT ON TABLE public.wiki_page_revisions IS 'The text of a wiki page, one row per edit. Removed with its page (CASCADE) and restored with it.';
COMMENT ON COLUMN public.wiki_page_revisions.id IS 'Surrogate key.';
COMMENT ON COLUMN public.wiki_page_revisions.page_id IS 'The page (CASCADE).';
COMMENT ON COLUMN public.wiki_page_revisions.body IS 'The page''s text at this revision.';
COMMENT ON COLUMN public.wiki_page_revisions.created_at IS 'When the revision was saved.';

SELECT deletion.register_table('public.wiki_pages', 'Wiki pages, in archive storage (deleted pages leave the table; the audit log keeps them for restore).');
SELECT deletion.register_table('public.wiki_page_revisions', 'Revisions of a wiki page; audited, removed and restored with their page.');
SELECT deletion.enable_archive('public.wiki_pages');

GRANT SELECT, INSERT, UPDATE, DELETE ON public.wiki_pages, public.wiki_page_revisions TO deletion_app;

-- Down Migration

DELETE FROM deletion.table_policies WHERE table_schema = 'public' AND table_name IN ('wiki_pages', 'wiki_page_revisions');
DROP TABLE public.wiki_page_revisions;
DROP TABLE public.wiki_pages;
