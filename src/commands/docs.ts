// deletion-kit docs [--out DIR] [--check]: writes one page per table (DIR/tables/<table>.md, see
// docs/table-docs.md) and DIR/cascade.md (a Mermaid graph of every foreign key), all rendered in the database from
// the catalog (sql/33_docs.sql). --check writes nothing and exits 1 when the files differ from the
// schema, which is how CI keeps the committed docs true. DIR is --out, else the config's docsDir,
// else ./deletion-docs; never a folder inside this package (only `--out` naming its own docs/).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type pg from 'pg';
import { DEFAULT_DOCS_DIR, isInside, loadConfig, PACKAGE_ROOT, realPath } from '../config.ts';
import { connect, UserError } from '../db.ts';
import { printJson } from '../output.ts';

/**
 * The docs folder, absolute: `out` (relative to cwd), else the config's docsDir, else
 * ./deletion-docs. A folder inside this package's own folder (real paths compared) is refused, so
 * that a run from the package's folder cannot overwrite the package's docs with the user's tables;
 * the one exception is an explicit `out` that is the package's own docs/ (how they are regenerated).
 */
export function docsDir(out: string | undefined, cwd: string = process.cwd()): string {
  const dir = out !== undefined ? path.resolve(cwd, out) : loadConfig(cwd).docsDir ?? path.resolve(cwd, DEFAULT_DOCS_DIR);
  const pkg = realPath(PACKAGE_ROOT);
  const real = realPath(dir);
  if (!isInside(real, pkg)) return dir;
  if (out !== undefined && real === realPath(path.join(PACKAGE_ROOT, 'docs'))) return dir;
  throw new UserError(
    `refusing to use ${dir} as the docs folder: it is inside the deletion-kit package itself (${pkg}); ` +
      'run from your project, or set --out or docsDir in deletion-kit.config.json',
  );
}

/** A folder for messages: relative to cwd when inside it, absolute otherwise. */
function shown(dir: string, cwd = process.cwd()): string {
  return isInside(dir, cwd) ? path.relative(cwd, dir) || '.' : dir;
}

/** Every generated file, path relative to the docs folder, and its content. */
export async function renderDocs(client: pg.Client): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const { rows } = await client.query<{ file_name: string; page: string }>(
    'SELECT file_name, deletion.table_markdown(table_name) AS page FROM deletion.documented_tables() ORDER BY file_name',
  );
  for (const r of rows) files.set(path.join('tables', r.file_name), r.page);
  files.set('cascade.md', (await client.query('SELECT deletion.cascade_markdown() AS page')).rows[0].page);
  return files;
}

/** The differences between the generated files and what is in `dir`: missing, changed or stale files. */
export function compareDocs(dir: string, files: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const [name, content] of files) {
    const file = path.join(dir, name);
    if (!existsSync(file)) problems.push(`missing ${name}`);
    else if (readFileSync(file, 'utf8') !== content) problems.push(`changed ${name}`);
  }
  const tablesDir = path.join(dir, 'tables');
  if (existsSync(tablesDir)) {
    for (const f of readdirSync(tablesDir).filter((f) => f.endsWith('.md'))) {
      if (!files.has(path.join('tables', f))) problems.push(`stale tables/${f}`);
    }
  }
  return problems.sort();
}

export function writeDocs(dir: string, files: Map<string, string>) {
  const tablesDir = path.join(dir, 'tables');
  mkdirSync(tablesDir, { recursive: true });
  for (const f of readdirSync(tablesDir).filter((f) => f.endsWith('.md'))) {
    if (!files.has(path.join('tables', f))) rmSync(path.join(tablesDir, f));
  }
  for (const [name, content] of files) writeFileSync(path.join(dir, name), content);
}

export function register(program: Command) {
  program
    .command('docs')
    .description('write DIR/tables/<table>.md and DIR/cascade.md from the catalog (--check: only compare)')
    .option('--out <dir>', `the docs folder DIR (default: docsDir of deletion-kit.config.json, else ./${DEFAULT_DOCS_DIR})`)
    .option('--check', 'write nothing; exit 1 when the files differ from the schema')
    .option('--json', 'print the result as one JSON document (docs/cli.md)')
    .action(async (options: { out?: string; check?: boolean; json?: boolean }) => {
      const dir = docsDir(options.out);
      const client = await connect();
      let files: Map<string, string>;
      try {
        files = await renderDocs(client);
      } finally {
        await client.end();
      }
      if (options.check) {
        const problems = compareDocs(dir, files);
        if (options.json) {
          printJson({ dir, check: true, files: files.size, problems });
          if (problems.length) process.exitCode = 1;
          return;
        }
        if (problems.length === 0) {
          console.log(`${files.size} files match the schema`);
          return;
        }
        for (const p of problems) console.log(p);
        console.log(`the docs in ${shown(dir)} do not match the schema: run deletion-kit docs and commit the result`);
        process.exitCode = 1;
        return;
      }
      writeDocs(dir, files);
      if (options.json) {
        printJson({ dir, check: false, files: files.size, problems: [] });
        return;
      }
      console.log(`wrote ${files.size - 1} table pages to ${path.join(shown(dir), 'tables')} and ${path.join(shown(dir), 'cascade.md')}`);
    });
}
