// Put N no-op jobs on a BullMQ queue, one add() at a time or in one addBulk(); print the rate.
//   node enqueue.mjs --url URL --prefix P --queue Q --jobs N --mode single|bulk
import { Queue } from 'bullmq';
import { args, connection, now, print } from './common.mjs';

const opts = args({ mode: { type: 'string', default: 'single' } });
const n = Number(opts.jobs);
const client = connection(opts.url);
const queue = new Queue(opts.queue, { connection: client, prefix: opts.prefix });
await queue.waitUntilReady();
const t0 = now();
if (opts.mode === 'bulk') {
  await queue.addBulk(Array.from({ length: n }, () => ({ name: 'noop', data: {} })));
} else {
  for (let i = 0; i < n; i++) await queue.add('noop', {});
}
const seconds = (now() - t0) / 1000;
await queue.close();
await client.quit();
print({ jobs: n, seconds, rate: n / seconds });
