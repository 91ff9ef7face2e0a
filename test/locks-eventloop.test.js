'use strict';
// Waiting never blocks the event loop or libuv's threadpool: with 64 lock() calls
// waiting (the holder is another process), fs.readFile keeps completing — it could
// not if even 4 waits sat on the default 4 pool threads — and timers keep firing.
// Latency numbers live in bench/locks.bench.js; here we assert what must hold.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, within, spawnFixture, assertFree } = require('./helpers');

function threadCount() {
  const m = /^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return Number(m[1]);
}

test(`64 waiting lock() calls leave fs and timers free (${fslock.backend})`, async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'el.lock');
  const data = path.join(dir, 'data.bin');
  fs.writeFileSync(data, Buffer.alloc(64 * 1024, 7));
  const holder = spawnFixture(t, 'holder.js', [file, 'exclusive']);
  await holder.next('granted');
  await fs.promises.readFile(data); // starts libuv's pool threads before counting
  const threadsBefore = threadCount();

  let settled = 0;
  const order = [];
  const waiters = Array.from({ length: 64 }, (_, i) =>
    fslock.lock(file).then(async (l) => {
      order.push(i);
      settled++;
      await l.release();
    }),
  );
  // 200 reads through the threadpool (UV_THREADPOOL_SIZE is 4 unless set).
  const reads = await within(
    Promise.all(Array.from({ length: 200 }, () => fs.promises.readFile(data))),
    60_000,
    'fs.readFile while 64 locks wait',
  );
  assert.equal(reads.length, 200);
  assert.ok(reads.every((b) => b.length === 64 * 1024));
  await within(new Promise((r) => setTimeout(r, 1)), 60_000, 'a timer');
  assert.equal(settled, 0, 'the waiters are still waiting');
  if (native) {
    // One waiting thread for the whole queue (per-thread FIFO), not one per call.
    const extra = threadCount() - threadsBefore;
    t.diagnostic(`threads added by 64 waiters: ${extra}`);
    assert.ok(extra <= 2, `64 waiters started ${extra} threads`);
  }
  holder.send({ type: 'release' });
  await holder.next('released');
  await within(Promise.all(waiters));
  assert.deepEqual(order, [...Array(64).keys()], 'served in request order');
  assertFree(file);
});
