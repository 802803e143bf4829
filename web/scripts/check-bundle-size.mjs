// Fails the build when the JavaScript the first page loads (index.html's module script and its
// static imports, not lazily loaded chunks) exceeds the budget, gzipped. Prints the figure.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const BUDGET = Number(process.env.WEB_JS_BUDGET_BYTES ?? 250 * 1024);
const dist = new URL("../dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
const initial = new Set();
for (const m of html.matchAll(/<(?:script|link)[^>]+(?:src|href)="\/?(assets\/[^"]+\.js)"/g)) {
  initial.add(m[1]);
}
if (initial.size === 0) {
  console.error("check-bundle-size: no script in dist/index.html");
  process.exit(1);
}
let total = 0;
for (const file of initial) {
  const size = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  total += size;
  console.log(`  ${file}: ${(size / 1024).toFixed(1)} KB gzipped`);
}
const lazy = readdirSync(join(dist, "assets")).filter(
  (f) => f.endsWith(".js") && !initial.has(`assets/${f}`),
);
console.log(
  `check-bundle-size: initial JS ${(total / 1024).toFixed(1)} KB gzipped ` +
    `(budget ${(BUDGET / 1024).toFixed(0)} KB); ${lazy.length} lazy chunk(s)`,
);
if (total > BUDGET) {
  console.error("check-bundle-size: initial JS over budget");
  process.exit(1);
}
