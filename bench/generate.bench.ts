// The data generator every other benchmark uses: how fast bench.generate_product_data builds a
// product dataset (foreign keys, indexes and statistics triggers included), beside a plain
// INSERT ... SELECT generate_series of the same number of rows into a table with only a primary key.
import type { Bench } from './harness.ts';
import { timed } from './harness.ts';

export default {
  name: 'generate',
  description: 'product data generator rows/s vs plain INSERT ... SELECT generate_series rows/s',
  async run(ctx) {
    const issues = ctx.scale === 'small' ? 5_000 : 200_000;
    const db = await ctx.database();
    const c = await db.client();
    try {
      let perTable: Record<string, number> = {};
      const oursMs = await timed(async () => {
        const { rows } = await c.query('SELECT table_name, rows FROM bench.generate_product_data($1, 1)', [issues]);
        perTable = Object.fromEntries(rows.map((r) => [r.table_name, Number(r.rows)]));
      });
      const total = Object.values(perTable).reduce((a, b) => a + b, 0);
      ctx.log(`--issues ${issues}: ${total} rows in ${(oursMs / 1000).toFixed(1)} s: ${JSON.stringify(perTable)}`);

      await c.query('CREATE TABLE bench.plain_rows (id bigint PRIMARY KEY, parent_id bigint, body text, created_at timestamptz)');
      const referenceMs = await timed(() =>
        c.query(`INSERT INTO bench.plain_rows SELECT g, g / 3, 'row ' || g, now() FROM generate_series(1, $1::bigint) g`, [total]),
      );
      const oursRate = total / (oursMs / 1000);
      const referenceRate = total / (referenceMs / 1000);
      ctx.log(`plain INSERT ... SELECT generate_series of ${total} rows: ${(referenceMs / 1000).toFixed(1)} s`);
      ctx.record('rows per second (higher is better)', oursRate, referenceRate, 'rows/s', 'none');
    } finally {
      await c.end();
      await db.drop();
    }
  },
} satisfies Bench;
