-- Deletion jobs: how many pages the next range of a planning pass reads (deletion.plan_range_pages).
-- A range is sized to fit the time left at the worst it may cost: a statement's cost before it reads
-- a page, plus, once the cost of taking a row is known, that cost for every row its pages hold. So a
-- range after one of rows outside the tree is sized for a range whose every row is in it.
BEGIN;
SELECT plan(8);

SELECT is(deletion.plan_range_pages('{"page": 0}', 100, 75, 0.01), 128::bigint, 'a pass begins with 128 pages');

-- The last range: 256 pages in 30 ms, 10 ms of which any statement of the pass costs; 100 ms left,
-- 75 rows a page.
SELECT is(deletion.plan_range_pages('{"slice_pages": 256, "most_pages": 256, "slice_ms": 30, "least_ms": 10}', 100, 75, 0.01),
          106::bigint, 'taking a row costs 0.01 ms: sized for every row of its pages taken (80 ms / (75 x 0.01) ms a page)');
SELECT is(deletion.plan_range_pages('{"slice_pages": 256, "most_pages": 256, "slice_ms": 30, "least_ms": 10}', 100, 75, NULL),
          512::bigint, 'until that cost has been measured, the last range''s rate, at most twice the biggest range');
SELECT is(deletion.plan_range_pages('{"slice_pages": 256, "most_pages": 256, "slice_ms": 30, "least_ms": 10}', 100, NULL, 0.01),
          512::bigint, 'and so for a table with no statistics');
SELECT is(deletion.plan_range_pages('{"slice_pages": 64, "most_pages": 512, "slice_ms": 31, "least_ms": 31}', 100, 75, NULL),
          1024::bigint, 'a pass whose statements cost the same whatever their size grows to 1,024 pages');
SELECT is(deletion.plan_range_pages('{"slice_pages": 32, "most_pages": 740, "slice_ms": 60, "least_ms": 24}', 100, 75, 0.0011),
          800::bigint, 'a statement that cost more than the cheapest before its first page (a hash the cheapest did not build) does not shrink the next range');
SELECT is(deletion.plan_range_pages('{"slice_pages": 40, "most_pages": 300, "slice_ms": 14, "least_ms": 10}', 100, 75, NULL),
          600::bigint, 'a range that a chunk''s end cut short does not shrink the next ones: twice the biggest');
SELECT is(deletion.plan_range_pages('{"slice_pages": 256, "most_pages": 256, "slice_ms": 30, "least_ms": 10}', 5, 75, 0.01),
          32::bigint, 'at least 32 pages, however little time is left');

SELECT * FROM finish();
ROLLBACK;
