// BullMQ's side of bench/bulk.py: N email-like jobs through Queue.addBulk, CHUNK jobs per call (one
// addBulk of 1M jobs holds them all in Node's heap at once and can run out of it); print the rate.
//   node bulk.mjs --url URL --prefix P --queue Q --jobs N --chunk C --data '{"headline": ...}'
// Each job's data is what jobctl's email-bulk queues for one CSV row: the recipient, the template and
// the row's columns over the shared --data, so both sides carry a payload of about the same size.
import { Queue } from 'bullmq';
import { args, connection, now, print } from './common.mjs';

const opts = args({
  chunk: { type: 'string', default: '10000' },
  data: { type: 'string', default: '{}' },
  template: { type: 'string', default: 'marketing-campaign' },
});
const n = Number(opts.jobs);
const chunk = Math.max(1, Number(opts.chunk));
const shared = JSON.parse(opts.data);
const plans = ['free', 'pro', 'team'];
const client = connection(opts.url);
const queue = new Queue(opts.queue, { connection: client, prefix: opts.prefix });
await queue.waitUntilReady();
const t0 = now();
for (let start = 0; start < n; start += chunk) {
  const jobs = [];
  for (let i = start; i < Math.min(n, start + chunk); i++) {
    const data = { ...shared, name: `Customer ${i}`, plan: plans[i % plans.length] };
    jobs.push({ name: 'email', data: { to: `customer${i}@example.com`, template: opts.template, data } });
  }
  await queue.addBulk(jobs);
}
const seconds = (now() - t0) / 1000;
await queue.close();
await client.quit();
print({ jobs: n, chunk, seconds, rate: n / seconds });
