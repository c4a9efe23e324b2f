import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const [page_path, prefix, ...ys] = process.argv.slice(2);
const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "c-")), {
  executablePath: "/usr/bin/chromium", headless: true,
  args: ["--headless","--no-sandbox","--disable-gpu","--disable-quic","--no-first-run","--disable-background-networking","--disable-component-update","--disable-sync"],
  viewport: { width: 1400, height: 900 } });
const page = ctx.pages()[0] ?? await ctx.newPage();
await page.goto(pathToFileURL(resolve(page_path)).href);
const h = await page.evaluate(() => document.body.scrollHeight);
console.log("height", h);
for (const y of ys) await page.screenshot({ path: `${prefix}-${y}.png`, fullPage: true, clip: { x: 0, y: Number(y), width: 1400, height: 1400 } });
await ctx.close();
