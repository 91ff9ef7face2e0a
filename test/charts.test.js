'use strict';
// The benchmark charts (docs/charts/*.svg, shown in docs/benchmarks.md), rendered the way
// a reader sees them — resvg (npm @resvg/resvg-js) with the DejaVu fonts from npm
// (dejavu-fonts-ttf), so the result does not depend on this machine's fonts — and failed
// on what a reader would see wrong:
//   - a data mark without size: every bar and every value label paints pixels of its
//     own (bar marks on a log scale had zero width); other marks (ticks, boxes, rules,
//     which overlap) as a group;
//   - an axis without ticks: every axis with labels has at least two ticks and two
//     labels, and its ticks and its labels paint pixels;
//   - a cut label: no text ends in vega's "…" (cut at its label limit), and nothing is
//     painted past the chart's edges (rendered in a frame, the frame stays empty).
// And the committed charts are what `node scripts/charts.js bench/results.json` draws.
// FSLOCK_CHARTS_DIR=dir checks the SVGs of another directory (e.g. an older version).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Resvg } = require('@resvg/resvg-js');

const root = path.join(__dirname, '..');
const dir = path.resolve(process.env.FSLOCK_CHARTS_DIR || path.join(root, 'docs', 'charts'));
const charts = ['handoff.svg', 'locks-uncontended.svg', 'locks-contended.svg', 'atomic.svg'];
const fontDir = path.join(path.dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
const font = {
  loadSystemFonts: false,
  fontFiles: ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => path.join(fontDir, f)),
  defaultFontFamily: 'DejaVu Sans',
  sansSerifFamily: 'DejaVu Sans',
};

/** RGBA pixels of an SVG, and its size. */
function render(svg) {
  const img = new Resvg(svg, { font }).render();
  return { pixels: img.pixels, width: img.width, height: img.height };
}

/**
 * The elements of an SVG as a tree with their source ranges (vega writes plain SVG:
 * no comments, CDATA or processing instructions), enough to take one out.
 */
function parse(svg) {
  const top = { name: '#root', attrs: '', children: [], start: 0, end: svg.length };
  const stack = [top];
  const re = /<(\/?)([\w:-]+)([^>]*?)(\/?)>|([^<]+)/g;
  for (let m; (m = re.exec(svg));) {
    const parent = stack[stack.length - 1];
    if (m[5] !== undefined) {
      parent.text = (parent.text || '') + m[5];
    } else if (m[1]) {
      parent.end = re.lastIndex;
      stack.pop();
    } else {
      const el = { name: m[2], attrs: m[3], children: [], start: m.index, end: re.lastIndex };
      parent.children.push(el);
      if (!m[4]) stack.push(el);
    }
  }
  return top;
}

const cls = (el) => /class="([^"]*)"/.exec(el.attrs)?.[1] || '';
function* walk(el) {
  yield el;
  for (const c of el.children) yield* walk(c);
}
/** The drawn items of a vega mark group (its elements, not the group wrappers). */
const items = (g) => g.children.filter((c) => c.name !== 'g' || !/\bmark-/.test(cls(c)));
const textOf = (el) => [...walk(el)].map((e) => e.text || '').join('');

/**
 * Renders `svg` once with every element of `coded` (a Map element -> code) painted in a
 * colour of its own, opaque and without anti-aliasing, and returns how many pixels
 * show each code: an element that paints nothing has 0. (One render per chart instead
 * of one per element: resvg takes about a second for the largest chart here.)
 */
function paintedPixels(svg, coded) {
  const colour = (code) => `rgb(7,${code >> 8},${code & 255})`;
  const edits = [];
  for (const [el, code] of coded) {
    const tag = svg.slice(el.start, el.end).match(/^<[\w:-]+[^>]*?(?=\/?>)/)[0];
    const bare = tag.replace(/\s(fill|stroke|opacity|fill-opacity|stroke-opacity)="[^"]*"/g, '');
    // Shapes get a fill and no stroke: a stroke would give a zero-width bar a width.
    const paint = el.name === 'line' ? `stroke="${colour(code)}"` : `fill="${colour(code)}" stroke="none"`;
    edits.push([el.start, tag.length, `${bare} ${paint} opacity="1"`]);
  }
  edits.sort((x, y) => y[0] - x[0]);
  for (const [at, len, text] of edits) svg = svg.slice(0, at) + text + svg.slice(at + len);
  svg = svg.replace(/^<svg /, '<svg shape-rendering="crispEdges" text-rendering="optimizeSpeed" ');
  const { pixels } = render(svg);
  const counts = new Map();
  for (let i = 0; i < pixels.length; i += 4)
    if (pixels[i] === 7) {
      const code = (pixels[i + 1] << 8) | pixels[i + 2];
      counts.set(code, (counts.get(code) || 0) + 1);
    }
  return (code) => counts.get(code) || 0;
}

for (const file of charts) {
  test(`docs/charts/${file}: what it shows has size, axes have ticks, no label is cut`, () => {
    const svg = fs.readFileSync(path.join(dir, file), 'utf8');
    const tree = parse(svg);
    const problems = []; // all of them, not just the first
    const expect = (ok, what) => ok || problems.push(what);
    const where = (el) => {
      const name = /aria-label="[^"]*\bname: ([^;"]*)/.exec(el.attrs)?.[1]; // a bar's row
      return `${file}: ${cls(el) || el.name} ${JSON.stringify(name || textOf(el).slice(0, 60))}`;
    };
    const groups = (re) => [...walk(tree)].filter((el) => el.name === 'g' && re.test(cls(el)));

    // What must paint: each bar and each value label on its own (they never overlap);
    // other data marks (ticks, boxes, rules, which do) as a group; each axis's ticks and
    // its labels.
    const checks = []; // [what, elements]
    for (const g of groups(/\brole-mark\b/)) {
      const parts = items(g);
      expect(parts.length > 0, `${where(g)}: an empty mark group`);
      const bars = /\bmark-rect\b/.test(cls(g)) && parts.every((el) => /aria-roledescription="bar"/.test(el.attrs));
      if (bars || /\bmark-text\b/.test(cls(g))) for (const el of parts) checks.push([`${where(el)}: no size`, [el]]);
      else checks.push([`${where(g)}: paints nothing`, parts]);
    }
    expect(checks.length > 0, `${file}: no data marks`);
    const sub = (axis, role) => [...walk(axis)].find((el) => el.name === 'g' && cls(el).includes(role));
    const axes = groups(/\brole-axis(?![\w-])/).filter((a) => !sub(a, 'role-axis-grid') || sub(a, 'role-axis-label'));
    expect(axes.length >= 2, `${file}: ${axes.length} labelled axes`);
    for (const axis of axes) {
      const ticks = sub(axis, 'role-axis-tick');
      const labels = sub(axis, 'role-axis-label');
      const name = `${file}: axis "${labels ? items(labels).map(textOf).join(' ').slice(0, 50) : ''}"`;
      expect(ticks && items(ticks).length >= 2, `${name}: fewer than two ticks`);
      expect(labels && items(labels).length >= 2, `${name}: fewer than two labels`);
      if (ticks && labels)
        checks.push(
          [`${name}: its ticks paint nothing`, items(ticks)],
          [`${name}: its labels paint nothing`, items(labels)],
        );
    }
    const coded = new Map();
    checks.forEach(([, els], code) => els.forEach((el) => coded.set(el, code + 1)));
    const painted = paintedPixels(svg, coded);
    checks.forEach(([what], code) => expect(painted(code + 1) > 0, what));

    // Labels: none cut short by vega, none running past the chart's edges.
    for (const el of walk(tree))
      if (el.name === 'text') expect(!/…$/.test(textOf(el).trim()), `${where(el)}: cut short`);
    // Rendered inside a frame three times its size (at a quarter of the resolution: any
    // pixel still shows), everything painted must fall inside the chart's own area.
    const { width, height } = render(svg);
    const M = 2 * Math.max(width, height);
    const inner = svg.replace(/^<svg[^>]*>/, '').replace(/<\/svg>\s*$/, '');
    const framed = new Resvg(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width + 2 * M}" height="${height + 2 * M}">` +
        `<g transform="translate(${M},${M})">${inner}</g></svg>`,
      { font, fitTo: { mode: 'zoom', value: 0.25 } },
    ).render();
    const px = framed.pixels; // a getter that copies: once
    const q = (v) => v / 4;
    let outside = 0;
    for (let y = 0; y < framed.height; y++)
      for (let x = 0; x < framed.width; x++) {
        const inside =
          x >= Math.floor(q(M)) && x < Math.ceil(q(M + width)) && y >= Math.floor(q(M)) && y < Math.ceil(q(M + height));
        if (!inside && px[(y * framed.width + x) * 4 + 3] !== 0) outside++;
      }
    expect(outside === 0, `${file}: ${outside * 16} pixels painted past the chart's edges (a label is cut)`);
    assert.deepEqual(problems, [], `${file}: ${problems.length} problems`);
  });
}

test('docs/charts: the committed charts are what scripts/charts.js draws from bench/results.json', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-charts-'));
  try {
    const r = spawnSync(
      process.execPath,
      [path.join(root, 'scripts', 'charts.js'), path.join(root, 'bench', 'results.json'), out],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    for (const file of charts)
      assert.ok(
        fs.readFileSync(path.join(out, file)).equals(fs.readFileSync(path.join(dir, file))),
        `docs/charts/${file} is not what scripts/charts.js draws now: run \`npm run charts\` (or node scripts/charts.js) and commit`,
      );
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
