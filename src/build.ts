// npm run build (and prepack): compiles the TypeScript API (src/index.ts and what it imports) to
// dist/ with tsc -p tsconfig.build.json, then points the declaration files' relative imports at the
// compiled .js files: tsc rewrites `./x.ts` to `./x.js` in JavaScript but keeps it in the .d.ts,
// which a consumer's TypeScript would then look for as a source file that the package does not ship.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from './config.ts';

function declarations(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? declarations(path.join(dir, e.name)) : e.name.endsWith('.d.ts') ? [path.join(dir, e.name)] : []);
}

let changed = 0;
for (const file of declarations(path.join(PACKAGE_ROOT, 'dist'))) {
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2');
  if (fixed !== text) {
    writeFileSync(file, fixed);
    changed++;
  }
}
console.log(`dist/: ${changed} declaration files point at .js`);
