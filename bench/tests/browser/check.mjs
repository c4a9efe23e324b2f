// Loads a wirebench report in headless Chromium at 1400 × 900 and checks what a reader would
// see: no console or page errors, no network requests (the page is self-contained); the first
// screen shows the whole verdict table and no warning box (a warning about a verdict sits in
// its cell); every <figure class="chart"> holds a visible <svg> of at most 12 bars or lines
// (data-marks) that draws, inside its plotting area, at least one mark in the colour of every
// series its legend names (data-series='[[label, "#rrggbb"], …]', data-plot="x0 y0 x1 y1");
// choosing a family in the filter bar hides the rows of the other families and keeps its own.
// Saves a screenshot of the first screen and one of the whole page.
//
//   node check.mjs <index.html> <screenshot.png> [first-screen.png]
//
// Needs /usr/bin/chromium (apt-get install -y chromium) and `npm ci` in this directory.

import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [page_path, shot_path, first_path] = process.argv.slice(2);
if (!page_path || !shot_path) {
  console.error("usage: node check.mjs <index.html> <screenshot.png>");
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} not found: install it with \`apt-get update && apt-get install -y chromium\``);
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), "wirebench-chromium-"));
const problems = [];
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1400, height: 900 },
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  // The report must need nothing but its own file.
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:") || url.startsWith("data:")) return route.continue();
    problems.push(`network request: ${url}`);
    return route.abort();
  });

  const url = pathToFileURL(resolve(page_path)).href;
  const response = await page.goto(url, { waitUntil: "load", timeout: 60_000 });
  if (!response || !response.ok()) problems.push(`loading ${url} failed`);

  const charts = await page.$$eval("figure.chart", (figures) =>
    figures.map((f, i) => {
      const svg = f.querySelector("svg");
      const title = f.querySelector("figcaption")?.textContent?.slice(0, 80) ?? `chart ${i}`;
      if (!svg) return { i, title, svg: false };
      const box = svg.getBoundingClientRect();
      let series = null;
      try {
        series = JSON.parse(svg.getAttribute("data-series") ?? "null");
      } catch {
        series = null;
      }
      const plot = (svg.getAttribute("data-plot") ?? "").split(" ").map(Number);
      const [x0, y0, x1, y1] = plot;
      // A data mark: a drawn shape inside the plotting area (the legend is outside it).
      const inside = (el) => {
        const b = el.getBBox();
        return b.x + b.width >= x0 && b.x <= x1 && b.y + b.height >= y0 && b.y <= y1;
      };
      const shapes = [...svg.querySelectorAll("rect, path, polyline, polygon, circle, line")];
      const colours = (el) =>
        [el.getAttribute("fill"), el.getAttribute("stroke")].filter(Boolean).map((c) => c.toLowerCase());
      const unmarked = (series ?? [])
        .filter(([, colour]) => !shapes.some((el) => colours(el).includes(colour) && inside(el)))
        .map(([label, colour]) => `${label} (${colour})`);
      return {
        i,
        title,
        svg: true,
        width: box.width,
        height: box.height,
        named: Array.isArray(series) ? series.length : -1,
        marks: Number(svg.getAttribute("data-marks") ?? "NaN"),
        plotted: plot.length === 4 && plot.every(Number.isFinite),
        unmarked,
      };
    }),
  );
  if (charts.length === 0) problems.push("no <figure class=\"chart\"> on the page");
  for (const c of charts) {
    const what = `chart ${c.i} (${c.title})`;
    if (!c.svg) problems.push(`${what}: no <svg>`);
    else if (!(c.width > 0 && c.height > 0)) problems.push(`${what}: zero size`);
    else if (c.named < 1 || !c.plotted) problems.push(`${what}: names no series or no plotting area`);
    else if (c.unmarked.length > 0) problems.push(`${what}: no data mark for ${c.unmarked.join(", ")}`);
    if (!(c.marks >= 1 && c.marks <= 12) || c.named > 12) {
      problems.push(`${what}: ${c.marks} bars or lines and ${c.named} series (at most 12 each)`);
    }
  }

  // The first screen answers: the whole verdict table within it, and no warning box there.
  const first = await page.evaluate(() => {
    const table = document.querySelector("table.verdicts");
    const r = table?.getBoundingClientRect();
    const warns = [...document.querySelectorAll(".warn")]
      .filter((w) => w.getBoundingClientRect().top < window.innerHeight && w.offsetParent !== null)
      .map((w) => w.textContent.slice(0, 80));
    return { table: r ? { top: r.top, bottom: r.bottom, rows: table.tBodies[0].rows.length } : null, warns, height: window.innerHeight };
  });
  if (!first.table) problems.push("no verdict table (table.verdicts)");
  else if (first.table.rows < 1) problems.push("the verdict table has no row");
  else if (first.table.bottom > first.height) {
    problems.push(`the verdict table ends at ${Math.round(first.table.bottom)} px, below the first screen (${first.height} px)`);
  }
  for (const w of first.warns) problems.push(`a warning box on the first screen: ${w}`);
  if (first_path) await page.screenshot({ path: first_path });

  // The filters: choosing a family hides the rows of the others and keeps its own.
  const filtered = await page.evaluate(() => {
    const select = document.querySelector('#filters select[data-facet="family"]');
    if (!select || document.getElementById("filters").hidden) return { error: "no family filter shown" };
    const rows = () => [...document.querySelectorAll("tr[data-family]")];
    const visible = (el) => !el.closest("[hidden]");
    const families = [...new Set(rows().map((r) => r.dataset.family))];
    if (families.length < 2) return { error: `rows of ${families.length} family tagged; need two` };
    const pick = families[0];
    select.value = pick;
    select.dispatchEvent(new Event("change"));
    const kept = rows().filter((r) => r.dataset.family === pick && visible(r)).length;
    const leaked = rows().filter((r) => r.dataset.family !== pick && visible(r)).length;
    const hidden = rows().filter((r) => !visible(r)).length;
    select.value = "";
    select.dispatchEvent(new Event("change"));
    const back = rows().filter((r) => !visible(r)).length;
    return { pick, kept, leaked, hidden, back };
  });
  if (filtered.error) problems.push(`filters: ${filtered.error}`);
  else if (filtered.kept < 1 || filtered.leaked > 0 || filtered.hidden < 1 || filtered.back > 0) {
    problems.push(`filters: choosing ${filtered.pick} kept ${filtered.kept} of its rows, left ${filtered.leaked} others, hid ${filtered.hidden}; clearing it left ${filtered.back} hidden`);
  }
  const sections = await page.$$eval("h2[id], section[id]", (hs) => hs.map((h) => h.id));
  for (const id of ["verdicts", "findings", "claims", "wire", "headers", "round-trips", "latency", "throughput", "serialization", "cpu", "equivalence", "environment", "method", "reproduce"]) {
    if (!sections.includes(id)) problems.push(`section #${id} is missing`);
  }

  await page.screenshot({ path: shot_path, fullPage: true });
  const series = charts.reduce((n, c) => n + Math.max(c.named ?? 0, 0), 0);
  console.log(
    `${charts.length} charts, ${series} series checked for data marks; verdict table in the first screen ` +
      `(${first.table?.rows} rows, ends at ${Math.round(first.table?.bottom)} px); family filter hid ${filtered.hidden} rows; ` +
      `screenshot: ${shot_path}`,
  );
} catch (err) {
  problems.push(`browser: ${err.stack || err}`);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

if (problems.length > 0) {
  console.error(`report check failed (${problems.length}):\n- ${problems.join("\n- ")}`);
  process.exit(1);
}
