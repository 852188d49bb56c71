-- Up Migration

-- The product database (seed 004): an issue tracker of workspaces, teams, users, projects,
-- milestones, issues, comments and labels. What a delete does to it is decided here, by the
-- ON DELETE action of every foreign key, so it holds for every client:
--   CASCADE   the child belongs to the parent and means nothing without it (memberships, comments,
--             reactions, everything under a workspace);
--   SET NULL  the child is work worth keeping and only loses an association (a team, project,
--             milestone or assignee goes away; the issue stays);
--   RESTRICT  the delete must be refused (a user who wrote issues or comments: their content and
--             its authorship stay; delete or soft-delete the content first).
-- No foreign key is left at the default NO ACTION: every action is a decision, written down.
-- Every foreign-key column has an index whose leading column is that column, so a cascade or
-- SET NULL finds its children by index instead of scanning the child table once per parent row.
-- Constraints are named fk_<table>_<column>; indexes idx_<table>_<column>. The foreign keys to
-- workspaces are added after all tables, issues first, so a workspace delete deletes its issues
-- before the teams and projects they would otherwise be SET NULL from (see that section).

-- ---------------------------------------------------------------------------------------------
-- People and places
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.users (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email      text        NOT NULL,
  name       text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_key UNIQUE (email)
);
COMMENT ON TABLE public.users IS 'People who sign in. Global (not owned by a workspace); deleting one is refused while they created issues or wrote comments (RESTRICT), otherwise their memberships, reactions, subscriptions and favorites go with them and their assignments and project leads are cleared.';
COMMENT ON COLUMN public.users.id IS 'Surrogate key.';
COMMENT ON COLUMN public.users.email IS 'Sign-in address, unique across the product.';
COMMENT ON COLUMN public.users.name IS 'Display name.';
COMMENT ON COLUMN public.users.created_at IS 'When the account was created.';

CREATE TABLE public.workspaces (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text        NOT NULL,
  slug       text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT workspaces_slug_key UNIQUE (slug)
);
COMMENT ON TABLE public.workspaces IS 'The tenant: the root of everything except users. Deleting a workspace removes every row under it (teams, projects, milestones, issues, comments, labels, memberships, ...) by cascade.';
COMMENT ON COLUMN public.workspaces.id IS 'Surrogate key.';
COMMENT ON COLUMN public.workspaces.name IS 'Display name.';
COMMENT ON COLUMN public.workspaces.slug IS 'URL name, unique across the product.';
COMMENT ON COLUMN public.workspaces.created_at IS 'When the workspace was created.';

CREATE TABLE public.workspace_memberships (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id bigint      NOT NULL,
  user_id      bigint      NOT NULL,
  role         text        NOT NULL DEFAULT 'member',
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT workspace_memberships_workspace_id_user_id_key UNIQUE (workspace_id, user_id),
  CONSTRAINT workspace_memberships_role_check CHECK (role IN ('owner', 'admin', 'member', 'guest')),
  CONSTRAINT fk_workspace_memberships_user_id FOREIGN KEY (user_id)
    REFERENCES public.users (id) ON DELETE CASCADE
);
-- workspace_id is covered by the leading column of the unique constraint's index.
CREATE INDEX idx_workspace_memberships_user_id ON public.workspace_memberships (user_id);
COMMENT ON TABLE public.workspace_memberships IS 'Which users belong to which workspace, and in what role. Removed with either side (CASCADE).';
COMMENT ON COLUMN public.workspace_memberships.id IS 'Surrogate key.';
COMMENT ON COLUMN public.workspace_memberships.workspace_id IS 'The workspace (CASCADE: the membership goes with it).';
COMMENT ON COLUMN public.workspace_memberships.user_id IS 'The member (CASCADE: the membership goes with the user).';
COMMENT ON COLUMN public.workspace_memberships.role IS 'owner, admin, member or guest.';
COMMENT ON COLUMN public.workspace_memberships.created_at IS 'When the user joined the workspace.';

CREATE TABLE public.teams (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id bigint      NOT NULL,
  name         text        NOT NULL,
  key          text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT teams_workspace_id_key_key UNIQUE (workspace_id, key)
);
-- workspace_id is covered by the leading column of the unique constraint's index.
COMMENT ON TABLE public.teams IS 'Groups of people inside a workspace. Deleting a team keeps its work: issues, comments and projects stay with team_id NULL, its labels become workspace labels, only its memberships are removed.';
COMMENT ON COLUMN public.teams.id IS 'Surrogate key.';
COMMENT ON COLUMN public.teams.workspace_id IS 'The workspace the team belongs to (CASCADE).';
COMMENT ON COLUMN public.teams.name IS 'Display name.';
COMMENT ON COLUMN public.teams.key IS 'Short code used in issue identifiers (e.g. ENG), unique within the workspace.';
COMMENT ON COLUMN public.teams.created_at IS 'When the team was created.';

CREATE TABLE public.team_memberships (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  team_id    bigint      NOT NULL,
  user_id    bigint      NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT team_memberships_team_id_user_id_key UNIQUE (team_id, user_id),
  CONSTRAINT fk_team_memberships_team_id FOREIGN KEY (team_id)
    REFERENCES public.teams (id) ON DELETE CASCADE,
  CONSTRAINT fk_team_memberships_user_id FOREIGN KEY (user_id)
    REFERENCES public.users (id) ON DELETE CASCADE
);
-- team_id is covered by the leading column of the unique constraint's index.
CREATE INDEX idx_team_memberships_user_id ON public.team_memberships (user_id);
COMMENT ON TABLE public.team_memberships IS 'Which users belong to which team. Removed with either side (CASCADE).';
COMMENT ON COLUMN public.team_memberships.id IS 'Surrogate key.';
COMMENT ON COLUMN public.team_memberships.team_id IS 'The team (CASCADE: the membership goes with it).';
COMMENT ON COLUMN public.team_memberships.user_id IS 'The member (CASCADE: the membership goes with the user).';
COMMENT ON COLUMN public.team_memberships.created_at IS 'When the user joined the team.';

-- ---------------------------------------------------------------------------------------------
-- Planning: projects and milestones
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.projects (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id bigint      NOT NULL,
  team_id      bigint,
  lead_id      bigint,
  name         text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT fk_projects_team_id FOREIGN KEY (team_id)
    REFERENCES public.teams (id) ON DELETE SET NULL,
  CONSTRAINT fk_projects_lead_id FOREIGN KEY (lead_id)
    REFERENCES public.users (id) ON DELETE SET NULL
);
CREATE INDEX idx_projects_workspace_id ON public.projects (workspace_id);
CREATE INDEX idx_projects_team_id ON public.projects (team_id);
CREATE INDEX idx_projects_lead_id ON public.projects (lead_id);
COMMENT ON TABLE public.projects IS 'A body of work with milestones. Deleting a project removes its milestones (CASCADE) and keeps its issues with project_id and milestone_id NULL.';
COMMENT ON COLUMN public.projects.id IS 'Surrogate key.';
COMMENT ON COLUMN public.projects.workspace_id IS 'The workspace the project belongs to (CASCADE).';
COMMENT ON COLUMN public.projects.team_id IS 'The owning team, NULL for a workspace-level project (SET NULL: a deleted team''s projects become workspace projects).';
COMMENT ON COLUMN public.projects.lead_id IS 'The user leading the project, NULL when none (SET NULL: cleared when the user is deleted).';
COMMENT ON COLUMN public.projects.name IS 'Display name.';
COMMENT ON COLUMN public.projects.created_at IS 'When the project was created.';

CREATE TABLE public.milestones (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id        bigint      NOT NULL,
  name              text        NOT NULL,
  target_date       date,
  open_issue_count  integer     NOT NULL DEFAULT 0,
  total_issue_count integer     NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT milestones_issue_counts_check CHECK (0 <= open_issue_count AND open_issue_count <= total_issue_count),
  CONSTRAINT fk_milestones_project_id FOREIGN KEY (project_id)
    REFERENCES public.projects (id) ON DELETE CASCADE
);
CREATE INDEX idx_milestones_project_id ON public.milestones (project_id);
COMMENT ON TABLE public.milestones IS 'A checkpoint inside a project, with issue statistics kept by statement triggers on issues. Removed with its project (CASCADE); deleting one keeps its issues with milestone_id NULL.';
COMMENT ON COLUMN public.milestones.id IS 'Surrogate key.';
COMMENT ON COLUMN public.milestones.project_id IS 'The project the milestone belongs to (CASCADE).';
COMMENT ON COLUMN public.milestones.name IS 'Display name.';
COMMENT ON COLUMN public.milestones.target_date IS 'When the milestone is due, NULL when undated.';
COMMENT ON COLUMN public.milestones.open_issue_count IS 'Issues in the milestone whose status is not done or canceled; maintained by product_refresh_milestone_statistics(), never written by hand.';
COMMENT ON COLUMN public.milestones.total_issue_count IS 'All issues in the milestone; maintained by product_refresh_milestone_statistics(), never written by hand.';
COMMENT ON COLUMN public.milestones.created_at IS 'When the milestone was created.';

-- ---------------------------------------------------------------------------------------------
-- Issues and their discussion
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.issues (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id      bigint      NOT NULL,
  team_id           bigint,
  project_id        bigint,
  milestone_id      bigint,
  assignee_id       bigint,
  creator_id        bigint      NOT NULL,
  parent_issue_id   bigint,
  parent_comment_id bigint,     -- its foreign key is added below, after comments exists
  title             text        NOT NULL,
  description       text,
  status            text        NOT NULL DEFAULT 'backlog',
  created_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT issues_status_check CHECK (status IN ('backlog', 'todo', 'in_progress', 'done', 'canceled')),
  CONSTRAINT issues_parent_issue_id_check CHECK (parent_issue_id <> id),
  CONSTRAINT fk_issues_team_id FOREIGN KEY (team_id)
    REFERENCES public.teams (id) ON DELETE SET NULL,
  CONSTRAINT fk_issues_project_id FOREIGN KEY (project_id)
    REFERENCES public.projects (id) ON DELETE SET NULL,
  CONSTRAINT fk_issues_milestone_id FOREIGN KEY (milestone_id)
    REFERENCES public.milestones (id) ON DELETE SET NULL,
  CONSTRAINT fk_issues_assignee_id FOREIGN KEY (assignee_id)
    REFERENCES public.users (id) ON DELETE SET NULL,
  CONSTRAINT fk_issues_creator_id FOREIGN KEY (creator_id)
    REFERENCES public.users (id) ON DELETE RESTRICT,
  CONSTRAINT fk_issues_parent_issue_id FOREIGN KEY (parent_issue_id)
    REFERENCES public.issues (id) ON DELETE SET NULL
);
CREATE INDEX idx_issues_workspace_id ON public.issues (workspace_id);
CREATE INDEX idx_issues_team_id ON public.issues (team_id);
CREATE INDEX idx_issues_project_id ON public.issues (project_id);
CREATE INDEX idx_issues_milestone_id ON public.issues (milestone_id);
CREATE INDEX idx_issues_assignee_id ON public.issues (assignee_id);
CREATE INDEX idx_issues_creator_id ON public.issues (creator_id);
CREATE INDEX idx_issues_parent_issue_id ON public.issues (parent_issue_id);
CREATE INDEX idx_issues_parent_comment_id ON public.issues (parent_comment_id);
COMMENT ON TABLE public.issues IS 'The unit of work. Deleting an issue removes its comments, reactions, subscriptions, favorites, links, label relations, attachments and relations in both directions (CASCADE); its sub-issues stay as top-level issues (SET NULL).';
COMMENT ON COLUMN public.issues.id IS 'Surrogate key.';
COMMENT ON COLUMN public.issues.workspace_id IS 'The workspace the issue belongs to (CASCADE).';
COMMENT ON COLUMN public.issues.team_id IS 'The owning team, NULL for a workspace-level issue (SET NULL: a deleted team''s issues stay in the workspace).';
COMMENT ON COLUMN public.issues.project_id IS 'The project, NULL when none (SET NULL: the issue outlives its project).';
COMMENT ON COLUMN public.issues.milestone_id IS 'The milestone, NULL when none (SET NULL: the issue outlives its milestone); feeds milestones.*_issue_count.';
COMMENT ON COLUMN public.issues.assignee_id IS 'The user working on it, NULL when unassigned (SET NULL: unassigned when the user is deleted).';
COMMENT ON COLUMN public.issues.creator_id IS 'The user who created it (RESTRICT: a user who created issues cannot be deleted; the authorship is part of the record).';
COMMENT ON COLUMN public.issues.parent_issue_id IS 'The parent when this is a sub-issue, NULL for a top-level issue. SET NULL, not CASCADE: a sub-issue is work in its own right (own assignee, status, comments, often another team''s), and seed 004 treats every reorganisation (team, project, milestone) by keeping the work; deleting a parent therefore promotes its sub-issues to top-level issues instead of silently destroying a tree of unbounded depth. Delete a subtree explicitly (a recursive query or a scheduled deletion job) when that is what is meant.';
COMMENT ON COLUMN public.issues.parent_comment_id IS 'The comment this issue was created from, NULL when none (SET NULL: the issue outlives the comment).';
COMMENT ON COLUMN public.issues.title IS 'One-line summary.';
COMMENT ON COLUMN public.issues.description IS 'Body text (Markdown), NULL when empty.';
COMMENT ON COLUMN public.issues.status IS 'Workflow state: backlog, todo, in_progress, done or canceled; an issue is open unless done or canceled.';
COMMENT ON COLUMN public.issues.created_at IS 'When the issue was created.';

CREATE TABLE public.comments (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  issue_id          bigint      NOT NULL,
  team_id           bigint,
  author_id         bigint      NOT NULL,
  parent_comment_id bigint,
  body              text        NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT comments_parent_comment_id_check CHECK (parent_comment_id <> id),
  CONSTRAINT fk_comments_issue_id FOREIGN KEY (issue_id)
    REFERENCES public.issues (id) ON DELETE CASCADE,
  CONSTRAINT fk_comments_team_id FOREIGN KEY (team_id)
    REFERENCES public.teams (id) ON DELETE SET NULL,
  CONSTRAINT fk_comments_author_id FOREIGN KEY (author_id)
    REFERENCES public.users (id) ON DELETE RESTRICT,
  CONSTRAINT fk_comments_parent_comment_id FOREIGN KEY (parent_comment_id)
    REFERENCES public.comments (id) ON DELETE CASCADE
);
CREATE INDEX idx_comments_issue_id ON public.comments (issue_id);
CREATE INDEX idx_comments_team_id ON public.comments (team_id);
CREATE INDEX idx_comments_author_id ON public.comments (author_id);
CREATE INDEX idx_comments_parent_comment_id ON public.comments (parent_comment_id);
COMMENT ON TABLE public.comments IS 'Discussion on an issue, threaded by parent_comment_id. Removed with its issue (CASCADE); deleting a comment removes its replies and reactions and clears parent_comment_id of issues created from it.';
COMMENT ON COLUMN public.comments.id IS 'Surrogate key.';
COMMENT ON COLUMN public.comments.issue_id IS 'The issue discussed (CASCADE: comments go with the issue).';
COMMENT ON COLUMN public.comments.team_id IS 'The team the comment was made in, NULL when none (SET NULL: kept when the team is deleted).';
COMMENT ON COLUMN public.comments.author_id IS 'The user who wrote it (RESTRICT: a user who wrote comments cannot be deleted).';
COMMENT ON COLUMN public.comments.parent_comment_id IS 'The comment this one replies to, NULL for a top-level comment. CASCADE, not SET NULL: a reply answers its parent and is part of one thread; kept alone it would answer a question nobody can read, and promoting it to top level would rewrite the conversation. Replies are always on the same issue, so the cascade never leaves it. Use soft delete to keep a thread with a "[deleted]" placeholder.';
COMMENT ON COLUMN public.comments.body IS 'Comment text (Markdown).';
COMMENT ON COLUMN public.comments.created_at IS 'When the comment was posted.';

-- The cycle issues.parent_comment_id -> comments -> issues: added once both tables exist.
ALTER TABLE public.issues
  ADD CONSTRAINT fk_issues_parent_comment_id FOREIGN KEY (parent_comment_id)
    REFERENCES public.comments (id) ON DELETE SET NULL;

CREATE TABLE public.comment_reactions (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  comment_id bigint      NOT NULL,
  user_id    bigint      NOT NULL,
  emoji      text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT comment_reactions_comment_id_user_id_emoji_key UNIQUE (comment_id, user_id, emoji),
  CONSTRAINT fk_comment_reactions_comment_id FOREIGN KEY (comment_id)
    REFERENCES public.comments (id) ON DELETE CASCADE,
  CONSTRAINT fk_comment_reactions_user_id FOREIGN KEY (user_id)
    REFERENCES public.users (id) ON DELETE CASCADE
);
-- comment_id is covered by the leading column of the unique constraint's index.
CREATE INDEX idx_comment_reactions_user_id ON public.comment_reactions (user_id);
COMMENT ON TABLE public.comment_reactions IS 'Emoji reactions to comments. Removed with the comment or the user (CASCADE).';
COMMENT ON COLUMN public.comment_reactions.id IS 'Surrogate key.';
COMMENT ON COLUMN public.comment_reactions.comment_id IS 'The comment reacted to (CASCADE).';
COMMENT ON COLUMN public.comment_reactions.user_id IS 'The user who reacted (CASCADE).';
COMMENT ON COLUMN public.comment_reactions.emoji IS 'The emoji, as its short name or character.';
COMMENT ON COLUMN public.comment_reactions.created_at IS 'When the reaction was added.';

CREATE TABLE public.issue_subscriptions (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  issue_id   bigint      NOT NULL,
  user_id    bigint      NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT issue_subscriptions_issue_id_user_id_key UNIQUE (issue_id, user_id),
  CONSTRAINT fk_issue_subscriptions_issue_id FOREIGN KEY (issue_id)
    REFERENCES public.issues (id) ON DELETE CASCADE,
  CONSTRAINT fk_issue_subscriptions_user_id FOREIGN KEY (user_id)
    REFERENCES public.users (id) ON DELETE CASCADE
);
-- issue_id is covered by the leading column of the unique constraint's index.
CREATE INDEX idx_issue_subscriptions_user_id ON public.issue_subscriptions (user_id);
COMMENT ON TABLE public.issue_subscriptions IS 'Users notified of changes to an issue. Removed with the issue or the user (CASCADE).';
COMMENT ON COLUMN public.issue_subscriptions.id IS 'Surrogate key.';
COMMENT ON COLUMN public.issue_subscriptions.issue_id IS 'The issue followed (CASCADE).';
COMMENT ON COLUMN public.issue_subscriptions.user_id IS 'The subscriber (CASCADE).';
COMMENT ON COLUMN public.issue_subscriptions.created_at IS 'When the user subscribed.';

CREATE TABLE public.favorites (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    bigint      NOT NULL,
  issue_id   bigint      NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT favorites_user_id_issue_id_key UNIQUE (user_id, issue_id),
  CONSTRAINT fk_favorites_user_id FOREIGN KEY (user_id)
    REFERENCES public.users (id) ON DELETE CASCADE,
  CONSTRAINT fk_favorites_issue_id FOREIGN KEY (issue_id)
    REFERENCES public.issues (id) ON DELETE CASCADE
);
-- user_id is covered by the leading column of the unique constraint's index.
CREATE INDEX idx_favorites_issue_id ON public.favorites (issue_id);
COMMENT ON TABLE public.favorites IS 'Issues a user pinned to their sidebar. Removed with the issue or the user (CASCADE).';
COMMENT ON COLUMN public.favorites.id IS 'Surrogate key.';
COMMENT ON COLUMN public.favorites.user_id IS 'The user whose favorite it is (CASCADE).';
COMMENT ON COLUMN public.favorites.issue_id IS 'The favorite issue (CASCADE).';
COMMENT ON COLUMN public.favorites.created_at IS 'When the issue was pinned.';

CREATE TABLE public.issue_links (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  issue_id   bigint      NOT NULL,
  url        text        NOT NULL,
  title      text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT fk_issue_links_issue_id FOREIGN KEY (issue_id)
    REFERENCES public.issues (id) ON DELETE CASCADE
);
CREATE INDEX idx_issue_links_issue_id ON public.issue_links (issue_id);
COMMENT ON TABLE public.issue_links IS 'External URLs attached to an issue (pull requests, documents). Removed with the issue (CASCADE).';
COMMENT ON COLUMN public.issue_links.id IS 'Surrogate key.';
COMMENT ON COLUMN public.issue_links.issue_id IS 'The issue the link is on (CASCADE).';
COMMENT ON COLUMN public.issue_links.url IS 'The linked address.';
COMMENT ON COLUMN public.issue_links.title IS 'Display title, NULL to show the URL.';
COMMENT ON COLUMN public.issue_links.created_at IS 'When the link was added.';

CREATE TABLE public.issue_relations (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  issue_id         bigint      NOT NULL,
  related_issue_id bigint      NOT NULL,
  relation_type    text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT issue_relations_issue_id_related_issue_id_relation_type_key UNIQUE (issue_id, related_issue_id, relation_type),
  CONSTRAINT issue_relations_relation_type_check CHECK (relation_type IN ('blocks', 'duplicates', 'relates')),
  CONSTRAINT issue_relations_not_self_check CHECK (issue_id <> related_issue_id),
  CONSTRAINT fk_issue_relations_issue_id FOREIGN KEY (issue_id)
    REFERENCES public.issues (id) ON DELETE CASCADE,
  CONSTRAINT fk_issue_relations_related_issue_id FOREIGN KEY (related_issue_id)
    REFERENCES public.issues (id) ON DELETE CASCADE
);
-- issue_id is covered by the leading column of the unique constraint's index.
CREATE INDEX idx_issue_relations_related_issue_id ON public.issue_relations (related_issue_id);
COMMENT ON TABLE public.issue_relations IS 'Directed relations between two issues (blocks, duplicates, relates). Removed when either issue is deleted (two CASCADE foreign keys, so both directions are cleaned up without a trigger).';
COMMENT ON COLUMN public.issue_relations.id IS 'Surrogate key.';
COMMENT ON COLUMN public.issue_relations.issue_id IS 'The issue the relation starts from (CASCADE).';
COMMENT ON COLUMN public.issue_relations.related_issue_id IS 'The issue the relation points to (CASCADE).';
COMMENT ON COLUMN public.issue_relations.relation_type IS 'blocks, duplicates or relates.';
COMMENT ON COLUMN public.issue_relations.created_at IS 'When the relation was made.';

-- ---------------------------------------------------------------------------------------------
-- Labels
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.labels (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id      bigint      NOT NULL,
  team_id           bigint,
  name              text        NOT NULL,
  color             text        NOT NULL DEFAULT '#888888',
  open_issue_count  integer     NOT NULL DEFAULT 0,
  total_issue_count integer     NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT labels_issue_counts_check CHECK (0 <= open_issue_count AND open_issue_count <= total_issue_count),
  CONSTRAINT fk_labels_team_id FOREIGN KEY (team_id)
    REFERENCES public.teams (id) ON DELETE SET NULL
);
-- No unique (workspace_id, team_id, name): a deleted team's labels become workspace labels and may
-- share a name with one; such a constraint would make deleting the team fail.
CREATE INDEX idx_labels_workspace_id ON public.labels (workspace_id);
CREATE INDEX idx_labels_team_id ON public.labels (team_id);
COMMENT ON TABLE public.labels IS 'Tags for issues, per workspace or per team, with issue statistics kept by statement triggers. Removed with the workspace (CASCADE); a deleted team''s labels become workspace labels (SET NULL); deleting a label removes it from its issues.';
COMMENT ON COLUMN public.labels.id IS 'Surrogate key.';
COMMENT ON COLUMN public.labels.workspace_id IS 'The workspace the label belongs to (CASCADE).';
COMMENT ON COLUMN public.labels.team_id IS 'The team for a team label, NULL for a workspace label (SET NULL: a deleted team''s labels become workspace labels).';
COMMENT ON COLUMN public.labels.name IS 'Display name.';
COMMENT ON COLUMN public.labels.color IS 'Display colour, as #rrggbb.';
COMMENT ON COLUMN public.labels.open_issue_count IS 'Labelled issues whose status is not done or canceled; maintained by product_refresh_label_statistics(), never written by hand.';
COMMENT ON COLUMN public.labels.total_issue_count IS 'All labelled issues; maintained by product_refresh_label_statistics(), never written by hand.';
COMMENT ON COLUMN public.labels.created_at IS 'When the label was created.';

CREATE TABLE public.issue_label_relations (
  issue_id   bigint      NOT NULL,
  label_id   bigint      NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT issue_label_relations_pkey PRIMARY KEY (issue_id, label_id),
  CONSTRAINT fk_issue_label_relations_issue_id FOREIGN KEY (issue_id)
    REFERENCES public.issues (id) ON DELETE CASCADE,
  CONSTRAINT fk_issue_label_relations_label_id FOREIGN KEY (label_id)
    REFERENCES public.labels (id) ON DELETE CASCADE
);
-- issue_id is covered by the leading column of the primary key's index.
CREATE INDEX idx_issue_label_relations_label_id ON public.issue_label_relations (label_id);
COMMENT ON TABLE public.issue_label_relations IS 'Which labels an issue carries. Removed with the issue or the label (CASCADE).';
COMMENT ON COLUMN public.issue_label_relations.issue_id IS 'The labelled issue (CASCADE).';
COMMENT ON COLUMN public.issue_label_relations.label_id IS 'The label (CASCADE); feeds labels.*_issue_count.';
COMMENT ON COLUMN public.issue_label_relations.created_at IS 'When the label was applied.';

-- ---------------------------------------------------------------------------------------------
-- Files
-- ---------------------------------------------------------------------------------------------

CREATE TABLE public.attachments (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  issue_id     bigint      NOT NULL,
  storage_key  text        NOT NULL,
  file_name    text        NOT NULL,
  content_type text,
  byte_size    bigint      NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT attachments_storage_key_key UNIQUE (storage_key),
  CONSTRAINT attachments_byte_size_check CHECK (byte_size >= 0),
  CONSTRAINT fk_attachments_issue_id FOREIGN KEY (issue_id)
    REFERENCES public.issues (id) ON DELETE CASCADE
);
CREATE INDEX idx_attachments_issue_id ON public.attachments (issue_id);
COMMENT ON TABLE public.attachments IS 'Files uploaded to an issue; the bytes live in object storage under storage_key. Removed with the issue (CASCADE); the stored file must then be deleted too (file cleanup queue).';
COMMENT ON COLUMN public.attachments.id IS 'Surrogate key.';
COMMENT ON COLUMN public.attachments.issue_id IS 'The issue the file is attached to (CASCADE).';
COMMENT ON COLUMN public.attachments.storage_key IS 'Object-storage key of the file, unique; what file cleanup deletes after the row is gone.';
COMMENT ON COLUMN public.attachments.file_name IS 'Original file name, as uploaded.';
COMMENT ON COLUMN public.attachments.content_type IS 'MIME type, NULL when unknown.';
COMMENT ON COLUMN public.attachments.byte_size IS 'Size of the stored file in bytes.';
COMMENT ON COLUMN public.attachments.created_at IS 'When the file was uploaded.';

-- ---------------------------------------------------------------------------------------------
-- The workspace foreign keys, added last and in this order on purpose
-- ---------------------------------------------------------------------------------------------
-- A DELETE on workspaces runs its five cascades in the order of their triggers' names,
-- RI_ConstraintTrigger_a_<oid>, that is in the order the constraints were created. Issues go first:
-- by the time teams, projects and milestones are deleted, the issues and comments that point at
-- them are gone, so their SET NULL actions find nothing to update. In the opposite order a
-- workspace delete first rewrites every issue three times (team_id, project_id, milestone_id set
-- NULL) and every comment once (team_id) before deleting them: measured here on 200k issues,
-- 143 s instead of a few seconds. The order is also alphabetical by constraint name, the order in
-- which pg_dump recreates them, so it survives a dump and restore; test 011 checks it.
ALTER TABLE public.issues
  ADD CONSTRAINT fk_issues_workspace_id FOREIGN KEY (workspace_id)
    REFERENCES public.workspaces (id) ON DELETE CASCADE;
ALTER TABLE public.labels
  ADD CONSTRAINT fk_labels_workspace_id FOREIGN KEY (workspace_id)
    REFERENCES public.workspaces (id) ON DELETE CASCADE;
ALTER TABLE public.projects
  ADD CONSTRAINT fk_projects_workspace_id FOREIGN KEY (workspace_id)
    REFERENCES public.workspaces (id) ON DELETE CASCADE;
ALTER TABLE public.teams
  ADD CONSTRAINT fk_teams_workspace_id FOREIGN KEY (workspace_id)
    REFERENCES public.workspaces (id) ON DELETE CASCADE;
ALTER TABLE public.workspace_memberships
  ADD CONSTRAINT fk_workspace_memberships_workspace_id FOREIGN KEY (workspace_id)
    REFERENCES public.workspaces (id) ON DELETE CASCADE;

-- ---------------------------------------------------------------------------------------------
-- Milestone and label statistics
-- ---------------------------------------------------------------------------------------------
-- open_issue_count / total_issue_count are recounted, not incremented: each statement-level AFTER
-- trigger collects the milestones or labels its statement touched from the transition tables and
-- recounts exactly those in one grouped query. A recount is correct whatever path changed the rows
-- (insert, update, delete, a CASCADE or SET NULL fired by another table), and no row loop is run.
--
-- Cascades: deleting a project deletes its milestones and sets issues.milestone_id NULL in the same
-- command; the issue trigger then names milestones that no longer exist. The recount only updates
-- rows it can still find (an UPDATE ... FROM that matches nothing), so a gone row is never an error.
-- Halfway through a cascade a milestone can also still exist while its project is already gone (a
-- workspace delete removes issues, then projects, then milestones). Such a row is about to be
-- deleted, and writing it would fail: PostgreSQL re-checks the foreign keys of an updated row that
-- its own transaction inserted, against a parent that is gone. So the recount skips a milestone
-- whose project is gone, and a label whose workspace or team is gone (a label outliving its team is
-- only recounted in the middle of a team delete, which changes no label relation or issue status).
--
-- Concurrency: the recount first locks the rows it will write (FOR NO KEY UPDATE, in id order, so
-- two writers never deadlock on each other), then counts in a new statement. Under READ COMMITTED
-- that statement's snapshot is taken after the lock was granted, so it sees the issues committed by
-- the transaction it waited for, and a count is never lost. FOR NO KEY UPDATE does not conflict with
-- the FOR KEY SHARE lock a foreign-key check takes, so inserting issues is not serialised by it.

CREATE FUNCTION public.product_recount_milestones(milestone_ids bigint[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  IF milestone_ids IS NULL OR cardinality(milestone_ids) = 0 THEN
    RETURN;
  END IF;
  PERFORM 1
     FROM public.milestones m
    WHERE m.id = ANY (milestone_ids)
      AND EXISTS (SELECT 1 FROM public.projects p WHERE p.id = m.project_id)
    ORDER BY m.id
      FOR NO KEY UPDATE OF m;
  UPDATE public.milestones m
     SET open_issue_count  = c.open_count,
         total_issue_count = c.total_count
    FROM (SELECT a.id,
                 count(i.id) FILTER (WHERE i.status NOT IN ('done', 'canceled'))::integer AS open_count,
                 count(i.id)::integer AS total_count
            FROM (SELECT DISTINCT unnest(milestone_ids) AS id) a
            LEFT JOIN public.issues i ON i.milestone_id = a.id
           GROUP BY a.id) c
   WHERE m.id = c.id
     AND EXISTS (SELECT 1 FROM public.projects p WHERE p.id = m.project_id)
     AND (m.open_issue_count, m.total_issue_count) IS DISTINCT FROM (c.open_count, c.total_count);
END
$$;
COMMENT ON FUNCTION public.product_recount_milestones(bigint[]) IS 'Recounts milestones.open_issue_count and total_issue_count for the given milestones (ids that no longer exist are skipped); called by the issue triggers, and usable to repair counts.';

CREATE FUNCTION public.product_recount_labels(label_ids bigint[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  IF label_ids IS NULL OR cardinality(label_ids) = 0 THEN
    RETURN;
  END IF;
  PERFORM 1
     FROM public.labels l
    WHERE l.id = ANY (label_ids)
      AND EXISTS (SELECT 1 FROM public.workspaces w WHERE w.id = l.workspace_id)
      AND (l.team_id IS NULL OR EXISTS (SELECT 1 FROM public.teams t WHERE t.id = l.team_id))
    ORDER BY l.id
      FOR NO KEY UPDATE OF l;
  UPDATE public.labels l
     SET open_issue_count  = c.open_count,
         total_issue_count = c.total_count
    FROM (SELECT a.id,
                 count(i.id) FILTER (WHERE i.status NOT IN ('done', 'canceled'))::integer AS open_count,
                 count(i.id)::integer AS total_count
            FROM (SELECT DISTINCT unnest(label_ids) AS id) a
            LEFT JOIN public.issue_label_relations r ON r.label_id = a.id
            LEFT JOIN public.issues i ON i.id = r.issue_id
           GROUP BY a.id) c
   WHERE l.id = c.id
     AND EXISTS (SELECT 1 FROM public.workspaces w WHERE w.id = l.workspace_id)
     AND (l.team_id IS NULL OR EXISTS (SELECT 1 FROM public.teams t WHERE t.id = l.team_id))
     AND (l.open_issue_count, l.total_issue_count) IS DISTINCT FROM (c.open_count, c.total_count);
END
$$;
COMMENT ON FUNCTION public.product_recount_labels(bigint[]) IS 'Recounts labels.open_issue_count and total_issue_count for the given labels (ids that no longer exist are skipped); called by the issue and issue_label_relations triggers, and usable to repair counts.';

-- On issues: an insert or delete touches the milestones of its rows; an update touches the old and
-- the new milestone of every row whose milestone_id or status changed (a SET NULL cascade is such
-- an update).
CREATE FUNCTION public.product_refresh_milestone_statistics()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  touched bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT n.milestone_id) INTO touched
      FROM new_rows n WHERE n.milestone_id IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT o.milestone_id) INTO touched
      FROM old_rows o WHERE o.milestone_id IS NOT NULL;
  ELSE
    -- The (issue, milestone, closed) states the statement removed and the ones it added. One firing
    -- can cover several updates of the same issue (the SET NULLs of one cascade are collected into
    -- one firing), so an issue may appear more than once: as multisets, old rows are its states
    -- s0..s(k-1) and new rows s1..sk, and EXCEPT ALL leaves exactly its first and last state, or
    -- nothing when they are equal. No join between the transition tables: the planner knows their
    -- sizes but not that ids are (nearly) unique, and guesses a join's size as the product of the
    -- two, which on a cascade over 40k issues turned a 10 ms step into a 1 s JIT-compiled one.
    SELECT array_agg(DISTINCT d.milestone_id) INTO touched
      FROM ((SELECT o.id, o.milestone_id, o.status IN ('done', 'canceled') FROM old_rows o
             EXCEPT ALL
             SELECT n.id, n.milestone_id, n.status IN ('done', 'canceled') FROM new_rows n)
            UNION ALL
            (SELECT n.id, n.milestone_id, n.status IN ('done', 'canceled') FROM new_rows n
             EXCEPT ALL
             SELECT o.id, o.milestone_id, o.status IN ('done', 'canceled') FROM old_rows o)) AS d(id, milestone_id, closed)
     WHERE d.milestone_id IS NOT NULL;
  END IF;
  PERFORM public.product_recount_milestones(touched);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.product_refresh_milestone_statistics() IS 'Statement-level AFTER trigger on issues (insert, update, delete): recounts the milestones the statement touched, read from its transition tables.';

-- On issue_label_relations: the labels of inserted, deleted or changed rows. On issues: the labels
-- of issues whose status changed (open/closed moves between the two counts). Deleting an issue
-- needs no work here: its label relations are removed by cascade, which fires the relation trigger.
CREATE FUNCTION public.product_refresh_label_statistics()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  touched bigint[];
BEGIN
  IF TG_TABLE_NAME = 'issues' THEN
    -- Issues whose first and last state in this firing differ in closed-ness (see the milestone
    -- trigger for why EXCEPT ALL finds them), then the labels they carry.
    SELECT array_agg(DISTINCT r.label_id) INTO touched
      FROM public.issue_label_relations r
     WHERE r.issue_id IN (SELECT c.id
                            FROM (SELECT o.id, o.status IN ('done', 'canceled') FROM old_rows o
                                  EXCEPT ALL
                                  SELECT n.id, n.status IN ('done', 'canceled') FROM new_rows n) AS c(id, closed));
  ELSIF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT n.label_id) INTO touched FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT o.label_id) INTO touched FROM old_rows o;
  ELSE
    SELECT array_agg(DISTINCT x.label_id) INTO touched
      FROM (SELECT label_id FROM old_rows UNION SELECT label_id FROM new_rows) x;
  END IF;
  PERFORM public.product_recount_labels(touched);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.product_refresh_label_statistics() IS 'Statement-level AFTER trigger on issue_label_relations (insert, update, delete) and on issues (update of status): recounts the labels the statement touched, read from its transition tables.';

-- A trigger with transition tables handles one event, so each event has its own trigger.
CREATE TRIGGER issues_milestone_statistics_insert
  AFTER INSERT ON public.issues REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_milestone_statistics();
CREATE TRIGGER issues_milestone_statistics_update
  AFTER UPDATE ON public.issues REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_milestone_statistics();
CREATE TRIGGER issues_milestone_statistics_delete
  AFTER DELETE ON public.issues REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_milestone_statistics();
CREATE TRIGGER issues_label_statistics_update
  AFTER UPDATE ON public.issues REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_label_statistics();
CREATE TRIGGER issue_label_relations_label_statistics_insert
  AFTER INSERT ON public.issue_label_relations REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_label_statistics();
CREATE TRIGGER issue_label_relations_label_statistics_update
  AFTER UPDATE ON public.issue_label_relations REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_label_statistics();
CREATE TRIGGER issue_label_relations_label_statistics_delete
  AFTER DELETE ON public.issue_label_relations REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION public.product_refresh_label_statistics();

-- ---------------------------------------------------------------------------------------------
-- Deletion policies and privileges
-- ---------------------------------------------------------------------------------------------

INSERT INTO deletion.table_policies (table_schema, table_name, description) VALUES
  ('public', 'users',                 'Global; deleting one is refused while they created issues or wrote comments, otherwise memberships, reactions, subscriptions and favorites cascade and assignments and project leads are set NULL.'),
  ('public', 'workspaces',            'The root: deleting a workspace cascades to every row under it.'),
  ('public', 'workspace_memberships', 'Removed by cascade with its workspace or its user.'),
  ('public', 'teams',                 'Removed with its workspace; deleting a team removes its memberships and sets team_id NULL on its issues, comments, projects and labels.'),
  ('public', 'team_memberships',      'Removed by cascade with its team or its user.'),
  ('public', 'projects',              'Removed with its workspace; deleting a project removes its milestones and sets project_id NULL on its issues.'),
  ('public', 'milestones',            'Removed with its project; deleting a milestone sets milestone_id NULL on its issues.'),
  ('public', 'issues',                'Removed with its workspace; deleting an issue cascades to its comments, reactions, subscriptions, favorites, links, labels, attachments and relations, and sets parent_issue_id NULL on its sub-issues.'),
  ('public', 'comments',              'Removed with its issue; deleting a comment cascades to its replies and reactions and sets parent_comment_id NULL on issues created from it.'),
  ('public', 'comment_reactions',     'Removed by cascade with its comment or its user.'),
  ('public', 'issue_subscriptions',   'Removed by cascade with its issue or its user.'),
  ('public', 'favorites',             'Removed by cascade with its issue or its user.'),
  ('public', 'issue_links',           'Removed by cascade with its issue.'),
  ('public', 'issue_relations',       'Removed by cascade when either of its two issues is deleted.'),
  ('public', 'labels',                'Removed with its workspace; becomes a workspace label when its team is deleted; deleting a label removes it from its issues.'),
  ('public', 'issue_label_relations', 'Removed by cascade with its issue or its label.'),
  ('public', 'attachments',           'Removed by cascade with its issue; its stored file must be deleted from storage afterwards.');

GRANT USAGE ON SCHEMA public TO deletion_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
  public.users, public.workspaces, public.workspace_memberships, public.teams, public.team_memberships,
  public.projects, public.milestones, public.issues, public.comments, public.comment_reactions,
  public.issue_subscriptions, public.favorites, public.issue_links, public.issue_relations,
  public.labels, public.issue_label_relations, public.attachments
  TO deletion_app;

-- Down Migration

-- Dropping the tables drops their indexes, constraints, triggers, identity sequences and grants.
-- No CASCADE: if something outside this migration still depends on a product table, fail loudly.
DROP TABLE
  public.attachments, public.issue_label_relations, public.labels, public.issue_relations,
  public.issue_links, public.favorites, public.issue_subscriptions, public.comment_reactions,
  public.comments, public.issues, public.milestones, public.projects, public.team_memberships,
  public.teams, public.workspace_memberships, public.workspaces, public.users;

DROP FUNCTION public.product_refresh_label_statistics();
DROP FUNCTION public.product_refresh_milestone_statistics();
DROP FUNCTION public.product_recount_labels(bigint[]);
DROP FUNCTION public.product_recount_milestones(bigint[]);

DELETE FROM deletion.table_policies
 WHERE table_schema = 'public'
   AND table_name IN ('users', 'workspaces', 'workspace_memberships', 'teams', 'team_memberships',
                      'projects', 'milestones', 'issues', 'comments', 'comment_reactions',
                      'issue_subscriptions', 'favorites', 'issue_links', 'issue_relations',
                      'labels', 'issue_label_relations', 'attachments');

REVOKE USAGE ON SCHEMA public FROM deletion_app;
