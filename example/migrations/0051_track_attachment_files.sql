-- Up Migration

-- The product's attachments keep their bytes in object storage under storage_key. Registering the
-- column makes deletion.rewire() (run by migrate after this migration) install the deletion_60_files
-- triggers, so every deleted attachment, however it is deleted (its issue, its workspace, the
-- deletion-job worker, psql), queues its file in deletion.pending_file_deletions. storage_key is
-- UNIQUE, so the cleaner's "still referenced" lookup uses that index.
UPDATE deletion.table_policies
   SET file_key_column = 'storage_key'
 WHERE table_schema = 'public' AND table_name = 'attachments';

-- Down Migration

UPDATE deletion.table_policies
   SET file_key_column = NULL
 WHERE table_schema = 'public' AND table_name = 'attachments';
