// Parses Mermaid files with Mermaid's own parser: node mermaid-parse.mjs FILE...
// Run it in a directory where `npm install mermaid jsdom` ran (the packages
// are resolved from the working directory). Exits 1 when a file fails.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import fs from 'node:fs';

const require = createRequire(pathToFileURL(process.cwd() + '/').href);
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
const { JSDOM } = await load('jsdom');
const dom = new JSDOM('<!DOCTYPE html><body></body>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const mermaid = (await load('mermaid')).default;
mermaid.initialize({ startOnLoad: false });

let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const r = await mermaid.parse(fs.readFileSync(file, 'utf8'));
    console.log(`${file}: ${r.diagramType}`);
  } catch (e) {
    failed++;
    console.log(`${file}: ${e.message ?? e}`);
  }
}
process.exit(failed ? 1 : 0);
