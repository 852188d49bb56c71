-- Up Migration

-- The catalog's comments are what `deletion-kit docs` publishes: they speak of the example's own
-- design.
COMMENT ON COLUMN public.issues.parent_issue_id IS 'The parent when this is a sub-issue, NULL for a top-level issue. SET NULL, not CASCADE: a sub-issue is work in its own right (own assignee, status, comments, often another team''s), and the example keeps the work through every reorganisation (team, project, milestone); deleting a parent therefore promotes its sub-issues to top-level issues instead of silently destroying a tree of unbounded depth. Delete a subtree explicitly (a recursive query or a scheduled deletion job) when that is what is meant.';

-- Down Migration

COMMENT ON COLUMN public.issues.parent_issue_id IS 'The parent when this is a sub-issue, NULL for a top-level issue. SET NULL, not CASCADE: a sub-issue is work in its own right (own assignee, status, comments, often another team''s), and seed 004 treats every reorganisation (team, project, milestone) by keeping the work; deleting a parent therefore promotes its sub-issues to top-level issues instead of silently destroying a tree of unbounded depth. Delete a subtree explicitly (a recursive query or a scheduled deletion job) when that is what is meant.';
