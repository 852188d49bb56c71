-- Up Migration

-- The catalog's comments are what `deletion-kit docs` publishes: they speak of the package's own
-- concepts.
COMMENT ON TABLE deletion.deletion_jobs IS 'Scheduled deletions: one row per entity to delete, claimed by deletion-kit worker when due and deleted in short chunks, leaves first.';

-- Down Migration

COMMENT ON TABLE deletion.deletion_jobs IS 'Scheduled deletions (seed 001): one row per entity to delete, claimed by deletion-kit worker when due and deleted in short chunks, leaves first.';
