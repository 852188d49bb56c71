-- Deletion jobs: how many pages the next range of a planning pass reads (deletion.plan_range_pages).
-- A range is sized to fit the time left at the worst it may cost: a statement's cost before it reads
-- a page, the last range's cost a page beyond that, and storing every row the last range did not
-- take. So a range after one of rows outside the tree is sized for a range whose every row is in it.
BEGIN;
SELECT plan(8);

SELECT is(deletion.plan_range_pages('{"page": 0}', 100, 75, 0.01), 128::bigint, 'a pass begins with 128 pages');

-- The last range: 256 pages in 30 ms, 10 ms of which any statement of the pass costs; 100 ms left,
-- 75 rows a page, 0.01 ms to store a row.
SELECT is(deletion.plan_range_pages('{"slice_pages": 256, "most_pages": 256, "slice_ms": 30, "least_ms": 10, "taken": 1}', 100, 75, 0.01),
          512::bigint, 'after a range that took all its rows: its own rate, at most twice the biggest range');
SELECT is(deletion.plan_range_pages('{"slice_pages": 256, "most_pages": 256, "slice_ms": 30, "least_ms": 10, "taken": 0}', 100, 75, 0.01),
          96::bigint, 'after one that took none: sized for storing every row of its pages (80 ms / (20/256 + 75 x 0.01) ms a page)');
SELECT is(deletion.plan_range_pages('{"slice_pages": 256, "most_pages": 256, "slice_ms": 30, "least_ms": 10, "taken": 0.5}', 100, 75, 0.01),
          176::bigint, 'after one that took half: storing the other half');
SELECT is(deletion.plan_range_pages('{"slice_pages": 256, "most_pages": 256, "slice_ms": 30, "least_ms": 10, "taken": 0}', 100, NULL, NULL),
          512::bigint, 'until a dense range has been measured (or the table has no statistics), the rate alone');
SELECT is(deletion.plan_range_pages('{"slice_pages": 64, "most_pages": 512, "slice_ms": 31, "least_ms": 31, "taken": 1}', 100, 75, 0.01),
          1024::bigint, 'a pass whose statements cost the same whatever their size grows to 1,024 pages');
SELECT is(deletion.plan_range_pages('{"slice_pages": 40, "most_pages": 300, "slice_ms": 14, "least_ms": 10, "taken": 1}', 100, 75, 0.01),
          600::bigint, 'a range that a chunk''s end cut short does not shrink the next ones: twice the biggest');
SELECT is(deletion.plan_range_pages('{"slice_pages": 256, "most_pages": 256, "slice_ms": 30, "least_ms": 10, "taken": 1}', 5, 75, 0.01),
          32::bigint, 'at least 32 pages, however little time is left');

SELECT * FROM finish();
ROLLBACK;
