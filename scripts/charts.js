#!/usr/bin/env node
// The benchmark charts of the README, drawn from a benchmark run's JSON lines
// (`npm run bench -- --json bench/results.json`) with vega-lite, rendered to SVG by
// vega's headless renderer (no browser, no canvas).
//   node scripts/charts.js [bench/results.json] [docs/charts]
// `npm run charts` runs the quick benchmarks and this in one go.
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
  config: { font: 'sans-serif', axis: { labelLimit: 320 } },
};

async function draw(file, spec) {
  const view = new vega.View(vega.parse(vl.compile({ ...base, ...spec }).spec), { renderer: 'none' });
  fs.writeFileSync(path.join(outDir, file), await view.toSVG());
  view.finalize();
  console.log(`charts: ${path.relative(root, path.join(outDir, file))}`);
}

/** µs per operation as horizontal bars, fslock in blue, the C floor in green. */
function bars(title, rows, { field = 'us', label = 'µs per operation (lower is better)', log = false } = {}) {
  const values = rows.map((r) => ({ name: r.name, us: 1e6 / r.ops, ops: r.ops, color: color(r.name) }));
  return {
    title,
    width: 480,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      y: {
        field: 'name',
        type: 'nominal',
        sort: { field, order: field === 'us' ? 'ascending' : 'descending' },
        title: null,
      },
      x: { field, type: 'quantitative', title: label, scale: log ? { type: 'log' } : {} },
      color: { field: 'color', type: 'nominal', scale: null },
      tooltip: [{ field: 'name' }, { field, format: '.1f' }],
    },
  };
}

async function main() {
  const dist = lines.filter((l) => l.kind === 'distribution');
  if (dist.length) {
    const values = dist.flatMap((d) =>
      d.samples.map((us) => ({ name: d.name, us: Math.max(us, 0.5), color: color(d.name) })),
    );
    await draw('handoff.svg', {
      title: `Lock hand-off between two processes: release → waiter holds it (node ${node})`,
      width: 480,
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
          title: 'µs, log scale (each tick one hand-off; box: quartiles)',
        },
      },
    });
  }
  const tables = lines.filter((l) => l.kind === 'table');
  const un = tables.find(
    (t) => t.bench === 'locks' && t.backend === 'native' && t.title.startsWith('Uncontended path lock'),
  );
  if (un)
    await draw('locks-uncontended.svg', bars('Uncontended path lock: acquire + release (ext4 or tmpfs)', un.rows));
  const con = tables.find((t) => t.bench === 'locks' && t.backend === 'native' && t.title.startsWith('4 processes'));
  if (con) {
    await draw(
      'locks-contended.svg',
      bars('4 processes contending for one lock', con.rows, {
        field: 'ops',
        label: 'acquisitions per second, all processes (higher is better)',
        log: true,
      }),
    );
  }
  const atomic = tables.filter((t) => t.bench === 'atomic' && t.backend === 'native');
  if (atomic.length) {
    // bench/atomic.bench.js measures os.tmpdir() and then /dev/shm; runs from before the
    // `fs` field was recorded are told apart by that order.
    const seen = new Map();
    const where = (t) => {
      if (t.fs) return t.fs;
      seen.set(t.title, (seen.get(t.title) || 0) + 1);
      return seen.get(t.title) === 1 ? 'os.tmpdir()' : '/dev/shm';
    };
    const values = atomic.flatMap((t) => {
      const scenario = `${where(t)}, ${t.title.replace(/ \(.*\)$/, '')}`;
      return t.rows.map((r) => ({ scenario, name: r.name, us: 1e6 / r.ops }));
    });
    await draw('atomic.svg', {
      title: 'Atomic replace: µs per write (lower is better)',
      data: { values },
      facet: {
        row: { field: 'scenario', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left' } },
      },
      spec: {
        width: 420,
        mark: 'bar',
        encoding: {
          y: { field: 'name', type: 'nominal', title: null },
          x: { field: 'us', type: 'quantitative', scale: { type: 'log' }, title: 'µs per write, log scale' },
          color: {
            field: 'name',
            type: 'nominal',
            legend: null,
            scale: { range: ['#1f77b4', '#6baed6', '#999999', '#bbbbbb', '#777777', '#aaaaaa', '#2ca02c'] },
          },
        },
      },
      resolve: { scale: { y: 'independent' } },
    });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
