-- Deletion events on the example product: each is written in the transaction of its change (a
-- rolled-back or refused schedule writes none), with a delivery per interested webhook; deliveries
-- are claimed one event per job at a time, retried after an exponential back-off, given up after
-- max_attempts, taken over when their deliverer's session is gone; due_soon is written once when its
-- time comes; an erasure redacts a row's events. The application role reads the events, but cannot
-- forge one, read a webhook's secret or claim a delivery; deletion_admin does not read secrets
-- from the table either.
BEGIN;
SET client_min_messages = warning;
SELECT plan(35);

CREATE ROLE n700_app LOGIN IN ROLE deletion_app;
CREATE ROLE n700_admin LOGIN IN ROLE deletion_admin;

INSERT INTO users (id, email, name) OVERRIDING SYSTEM VALUE VALUES (1, 'ann@example.com', 'Ann');
INSERT INTO workspaces (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Acme', 'acme'), (2, 'Globex', 'globex'), (3, 'Initech', 'initech');
SELECT subscription_id AS hook FROM deletion.set_webhook('all', 'https://hooks.example.com/deletion', 'a-secret-of-sixteen-or-more') \gset
SELECT deletion.set_webhook('issues only', 'https://hooks.example.com/issues', tables => ARRAY['public.issues']);
SELECT is((SELECT length(new_secret) FROM deletion.set_webhook('random', 'https://hooks.example.com/r')), 64, 'a new webhook without a secret gets a random one, returned once');
SELECT is((SELECT new_secret FROM deletion.set_webhook('random', 'https://hooks.example.com/r2')), NULL, 'changing it returns no secret (it keeps its own)');
SELECT deletion.remove_webhook('random');
SELECT throws_ok($$SELECT deletion.set_webhook('short', 'https://x.example.com', 'too short')$$, '22023', NULL, 'a secret under 16 characters is refused');
SELECT throws_ok($$SELECT deletion.set_webhook('bad', 'https://x.example.com', events => ARRAY['deleted'])$$, '42883', NULL, 'an unknown argument name is an error');
SELECT throws_ok($$SELECT deletion.set_webhook('bad', 'https://x.example.com', event_types => ARRAY['deleted'])$$, '22023', NULL, 'an unknown event type is refused');

-- Written in the change's transaction: rolled back, refused, or committed.
SAVEPOINT before_schedule;
SELECT deletion.schedule('public.workspaces', '1');
ROLLBACK TO SAVEPOINT before_schedule;
SELECT is((SELECT count(*)::int FROM deletion.deletion_events), 0, 'a rolled-back schedule leaves no event');
SELECT throws_ok($$SELECT deletion.schedule('public.workspaces', '99')$$, 'P0002', NULL, 'scheduling a row that does not exist fails');
SELECT is((SELECT count(*)::int FROM deletion.deletion_events), 0, 'and writes no event');
SELECT throws_ok($$SELECT deletion.schedule('public.workspaces', '1', notify_before => interval '-1 hour')$$, '22023', NULL, 'a notify_before that is not positive is refused');

SELECT deletion.schedule('public.workspaces', '1', now() + interval '1 hour', notify_before => interval '2 hours') AS due_job \gset
SELECT deletion.schedule('public.workspaces', '2', now() + interval '1 hour', notify_before => interval '30 minutes') AS later_job \gset
SELECT is((SELECT array_agg(event_type || ' ' || job_id ORDER BY id) FROM deletion.deletion_events),
          ARRAY['scheduled ' || :due_job, 'scheduled ' || :later_job], 'each schedule writes its scheduled event');
SELECT is((SELECT count(*)::int FROM deletion.webhook_deliveries), 2, 'one delivery each, for the webhook that takes every table (not the issues-only one)');
SELECT is((SELECT payload -> 'job' ->> 'key' FROM deletion.deletion_events WHERE job_id = :due_job), '1', 'the payload names the row');
SELECT ok((SELECT NOT (payload::text ~ 'ann@example.com|reason|created_by') FROM deletion.deletion_events WHERE job_id = :due_job), 'and no actor or reason');

-- due_soon: once, when run_at - notify_before has come.
SELECT is(deletion.write_due_soon_events(), 1, 'the job due in an hour, to be announced two hours ahead, is due soon now; the other is not yet');
SELECT is(deletion.write_due_soon_events(), 0, 'written once');
SELECT is((SELECT event_type FROM deletion.deletion_events WHERE job_id = :due_job ORDER BY id DESC LIMIT 1), 'due_soon', 'the due_soon event');

SELECT deletion.cancel(:later_job);
SELECT is((SELECT event_type FROM deletion.deletion_events WHERE job_id = :later_job ORDER BY id DESC LIMIT 1), 'cancelled', 'cancel writes the cancelled event');

-- Claims: the oldest undelivered event of each job, one at a time.
SELECT is((SELECT array_agg(event_type || ' ' || job_id || ' ' || attempt ORDER BY event_id) FROM deletion.claim_webhook_deliveries('t')),
          ARRAY['scheduled ' || :due_job || ' 1', 'scheduled ' || :later_job || ' 1'], 'the first claim leases each job''s first event only');
SELECT is((SELECT count(*)::int FROM deletion.claim_webhook_deliveries('t')), 0, 'leased by a live session: nothing else is due');
SELECT deletion.webhook_delivered(d.id, 204) FROM deletion.webhook_deliveries d JOIN deletion.deletion_events e ON e.id = d.event_id
 WHERE e.job_id = :later_job AND e.event_type = 'scheduled';
SELECT is((SELECT array_agg(event_type) FROM deletion.claim_webhook_deliveries('t')), ARRAY['cancelled'], 'once the schedule is delivered, the cancel is next');

-- Failures: back-off doubling (the transaction's now() is fixed, so the intervals are exact), then given up.
SELECT id AS failing FROM deletion.webhook_deliveries d WHERE d.job_id = :due_job ORDER BY event_id LIMIT 1 \gset
SELECT is((SELECT next_attempt_at - now() FROM deletion.webhook_failed(:failing, 500, 'HTTP 500', 1000)), interval '1 second', 'first failure: again in 1 s');
UPDATE deletion.webhook_deliveries SET next_attempt_at = now() WHERE id = :failing;
SELECT is((SELECT attempt FROM deletion.claim_webhook_deliveries('t') WHERE delivery_id = :failing), 2, 'claimed again: its second attempt');
SELECT is((SELECT next_attempt_at - now() FROM deletion.webhook_failed(:failing, 500, 'HTTP 500', 1000)), interval '2 seconds', 'second failure: again in 2 s');
UPDATE deletion.webhook_subscriptions SET max_attempts = 3 WHERE id = :hook;
UPDATE deletion.webhook_deliveries SET next_attempt_at = now() WHERE id = :failing;
SELECT deletion.claim_webhook_deliveries('t');
SELECT is((SELECT gave_up FROM deletion.webhook_failed(:failing, NULL, 'no answer', 1000)), true, 'the third failure of three attempts gives up');

-- A lease whose session is gone is due again at once.
UPDATE deletion.webhook_deliveries d SET lease_pid = 2147483647, lease_until = now() + interval '1 hour', lease_owner = 'killed'
  FROM deletion.deletion_events e WHERE e.id = d.event_id AND e.event_type = 'due_soon';
SELECT is((SELECT array_agg(event_type) FROM deletion.claim_webhook_deliveries('t')), ARRAY['due_soon'],
          'the given-up event no longer holds the job back, and the lease of a gone session is taken over');

-- The application role: reads events; forges nothing, reads no secret, claims nothing.
SET LOCAL ROLE n700_app;
SELECT ok((SELECT count(*) > 0 FROM deletion.deletion_events), 'the application reads the events');
SELECT throws_ok($$INSERT INTO deletion.deletion_events (job_id, event_type, entity_table, entity_pk, payload) VALUES (1, 'done', 'public.workspaces', '1', '{}')$$,
                 '42501', NULL, 'the application cannot write an event');
SELECT throws_ok($$SELECT deletion.record_job_event(1, 'done')$$, '42501', NULL, 'nor call the function that writes them');
SELECT throws_ok($$SELECT secret FROM deletion.webhook_subscriptions$$, '42501', NULL, 'nor read a webhook''s secret');
SELECT throws_ok($$SELECT * FROM deletion.claim_webhook_deliveries('app')$$, '42501', NULL, 'nor claim deliveries (which carry the secret)');
SELECT throws_ok($$SELECT deletion.set_webhook('mine', 'https://evil.example.com')$$, '42501', NULL, 'nor subscribe a webhook of its own');
RESET ROLE;
SET LOCAL ROLE n700_admin;
SELECT throws_ok($$SELECT secret FROM deletion.webhook_subscriptions$$, '42501', NULL, 'deletion_admin does not read secrets from the table either');
SELECT lives_ok($$SELECT name, url FROM deletion.webhook_subscriptions$$, 'but sees the subscriptions');
RESET ROLE;

-- Erasure: the row's key leaves its events.
SELECT is(deletion.forget_events('public.workspaces', '1'), 2::bigint, 'the two events of workspace 1 are redacted');
SELECT is((SELECT count(*)::int FROM deletion.deletion_events WHERE payload::text ~ '"key": "1"' OR entity_pk = '1'), 0, 'no event names the key any more');

SELECT * FROM finish();
ROLLBACK;
