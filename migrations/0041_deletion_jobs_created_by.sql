-- Up Migration

-- Seed 001's fk_dj_user: a job remembers who created it, and forgets (SET NULL) when that user is
-- deleted, so deleting a user never fails because of their deletion jobs. A product migration (it
-- needs the product's public.users), after the engine's deletion_jobs (0040).
ALTER TABLE deletion.deletion_jobs
  ADD CONSTRAINT fk_dj_user FOREIGN KEY (created_by) REFERENCES public.users (id) ON DELETE SET NULL;
CREATE INDEX idx_dj_created_by ON deletion.deletion_jobs (created_by);
COMMENT ON INDEX deletion.idx_dj_created_by IS 'Lets deleting a user find (and unlink) their deletion jobs by index.';

-- Down Migration

DROP INDEX deletion.idx_dj_created_by;
ALTER TABLE deletion.deletion_jobs DROP CONSTRAINT fk_dj_user;
