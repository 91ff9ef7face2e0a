#!/usr/bin/env node
// The benchmark charts of docs/benchmarks.md, drawn from a benchmark run's JSON lines
// (`npm run bench -- --json bench/results.json`) with vega-lite, rendered to SVG by
// vega's headless renderer (no browser, no canvas).
//   node scripts/charts.js [bench/results.json] [docs/charts]
// `npm run charts` runs the quick benchmarks and this in one go; test/charts.test.js
// renders every chart and fails on a mark without size, an axis without ticks or a cut
// label.
//
// Bars are drawn on linear scales: a bar on a log scale starts at log(0), and vega-lite
// drew every one of them with zero width (and the axis without ticks). Where values
// differ by orders of magnitude each bar carries its value as text, so a 3-pixel bar
// still reads.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vega = require('vega');
const vl = require('vega-lite');

const root = path.join(__dirname, '..');
const input = path.resolve(process.argv[2] || path.join(root, 'bench', 'results.json'));
const outDir = path.resolve(process.argv[3] || path.join(root, 'docs', 'charts'));
const lines = fs
  .readFileSync(input, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));
if (!lines.length) throw new Error(`${input} holds no results: run npm run bench -- --json ${input}`);
const node = lines[0].node;
fs.mkdirSync(outDir, { recursive: true });

const FSLOCK = '#1f77b4';
const color = (name) => (name.startsWith('fslock') ? FSLOCK : name.startsWith('C floor') ? '#2ca02c' : '#999999');
const base = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  background: 'white',
  padding: 8,
  // labelLimit 0: no label is ever cut short (vega's default cuts at 180 px with "…").
  config: {
    font: 'DejaVu Sans, sans-serif',
    title: { anchor: 'start' },
    axis: { labelLimit: 0 },
    header: { labelLimit: 0 },
  },
};

async function draw(file, spec) {
  // vega-lite warns that the facets' independent scales share a field: they do, by design.
  const compiled = vl.compile({ ...base, ...spec }, { logger: vega.logger(vega.Error) }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  fs.writeFileSync(path.join(outDir, file), await view.toSVG());
  view.finalize();
  console.log(`charts: ${path.relative(root, path.join(outDir, file))}`);
}

/** `1234.5` → `1,235`, `12.34` → `12.3`, `1.234` → `1.23`: three significant digits at most. */
const fmt = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Horizontal bars with their values written after them, fslock blue, C floors green. */
function barLayers({ field, unit, title, sortOrder }) {
  return {
    encoding: {
      y: { field: 'name', type: 'nominal', title: null, sort: { field, op: 'min', order: sortOrder } },
      x: { field, type: 'quantitative', title, scale: { nice: true } },
    },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          color: { field: 'color', type: 'nominal', scale: null },
          tooltip: [{ field: 'name' }, { field: 'label', title: unit }],
        },
      },
      {
        mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4, fontSize: 10 },
        encoding: { text: { field: 'label' } },
      },
    ],
  };
}

function bars(title, rows, { field = 'us', unit = 'µs', label = 'µs per operation (lower is better)' } = {}) {
  const values = rows.map((r) => {
    const v = field === 'us' ? 1e6 / r.ops : r.ops;
    return { name: r.name, [field]: v, label: `${fmt(v)} ${unit}`, color: color(r.name) };
  });
  return {
    title,
    width: 420,
    data: { values },
    ...barLayers({ field, unit, title: label, sortOrder: field === 'us' ? 'ascending' : 'descending' }),
  };
}

/** Where a table was measured, for titles: `ext4`, or `ext4 and tmpfs`. */
const where = (tables) => [...new Set(tables.map((t) => t.fs).filter(Boolean))].join(' and ') || 'local disk';

async function main() {
  const dist = lines.filter((l) => l.kind === 'distribution');
  if (dist.length) {
    const values = dist.flatMap((d) =>
      d.samples.map((us) => ({ name: d.name, us: Math.max(us, 0.5), color: color(d.name) })),
    );
    // Ticks and boxes, not bars: a log scale is right for them (no mark starts at 0).
    await draw('handoff.svg', {
      title: `Lock hand-off between two processes: release → waiter holds it (node ${node})`,
      width: 420,
      data: { values },
      layer: [
        {
          mark: { type: 'tick', opacity: 0.35 },
          encoding: { color: { field: 'color', type: 'nominal', scale: null } },
        },
        { mark: { type: 'boxplot', extent: 'min-max', opacity: 0.25, color: '#444' } },
      ],
      encoding: {
        y: { field: 'name', type: 'nominal', title: null, sort: null },
        x: {
          field: 'us',
          type: 'quantitative',
          scale: { type: 'log' },
          title: ['µs, log scale', '(each tick one hand-off; box: quartiles)'],
        },
      },
    });
  }
  const tables = lines.filter((l) => l.kind === 'table');
  const un = tables.find(
    (t) => t.bench === 'locks' && t.backend === 'native' && t.title.startsWith('Uncontended path lock'),
  );
  if (un)
    await draw('locks-uncontended.svg', bars(`Uncontended path lock: acquire + release (${where([un])})`, un.rows));
  const con = tables.find((t) => t.bench === 'locks' && t.backend === 'native' && t.title.startsWith('4 processes'));
  if (con) {
    await draw(
      'locks-contended.svg',
      bars(`4 processes contending for one lock (${where([con])})`, con.rows, {
        field: 'ops',
        unit: '/s',
        label: 'acquisitions per second, all processes (higher is better)',
      }),
    );
  }
  const atomic = tables.filter((t) => t.bench === 'atomic' && t.backend === 'native');
  if (atomic.length) {
    // Panels in reading order: per filesystem, 4 KB then 1 MB, fsync off then on.
    const order = (t) => `${t.fs}|${/1 MB/.test(t.title) ? 1 : 0}|${/fsync on/.test(t.title) ? 1 : 0}`;
    const values = atomic.flatMap((t) => {
      const scenario = `${t.fs || 'local disk'}, ${t.title.replace(/ \(.*\)$/, '')}`;
      return t.rows.map((r) => {
        const us = 1e6 / r.ops;
        return { scenario, order: order(t), name: r.name, us, label: `${fmt(us)} µs`, color: color(r.name) };
      });
    });
    await draw('atomic.svg', {
      title: `Atomic replace: µs per write, lower is better (${where(atomic)})`,
      data: { values },
      facet: {
        field: 'scenario',
        type: 'nominal',
        title: null,
        sort: { field: 'order', op: 'min' },
        header: { labelAnchor: 'start', labelFontWeight: 'bold', labelFontSize: 11 },
      },
      columns: 2,
      // Each scenario on its own scale: a 1 MB fsync'd write and a 4 KB one on tmpfs
      // differ 200-fold, and within a scenario is where the libraries are compared.
      spec: { width: 330, ...barLayers({ field: 'us', unit: 'µs', title: 'µs per write', sortOrder: 'ascending' }) },
      resolve: { scale: { x: 'independent', y: 'independent' }, axis: { x: 'independent' } },
    });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
