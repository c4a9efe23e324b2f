// Loads a wirebench report in headless Chromium and checks what a reader would see:
// no console or page errors, no network requests (the page is self-contained), and every
// <figure class="chart"> holds a visible <svg> that draws, inside its plotting area, at
// least one mark in the colour of every series its legend names (the <svg> carries them:
// data-series='[[label, "#rrggbb"], …]' and data-plot="x0 y0 x1 y1"). Saves a full-page
// screenshot.
//
//   node check.mjs <index.html> <screenshot.png>
//
// Needs /usr/bin/chromium (apt-get install -y chromium) and `npm ci` in this directory.

import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [page_path, shot_path] = process.argv.slice(2);
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
    viewport: { width: 1200, height: 900 },
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
  }
  const sections = await page.$$eval("h2[id]", (hs) => hs.map((h) => h.id));
  for (const id of ["findings", "claims", "wire", "headers", "round-trips", "latency", "throughput", "serialization", "cpu", "equivalence", "environment", "method", "reproduce"]) {
    if (!sections.includes(id)) problems.push(`section #${id} is missing`);
  }

  await page.screenshot({ path: shot_path, fullPage: true });
  const series = charts.reduce((n, c) => n + Math.max(c.named ?? 0, 0), 0);
  console.log(`${charts.length} charts, ${series} series checked for data marks; screenshot: ${shot_path}`);
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
