// One BullMQ worker that runs N jobs and exits, printing the rate from the first job's start to the
// last job's completion (moveToCompleted done). The job is a no-op, or awaits a --sleep-ms timer.
//   node worker.mjs --url URL --prefix P --queue Q --jobs N [--concurrency C] [--sleep-ms MS]
// With --latency (run by latency.mjs through fork()), it reports each job's start time minus the
// time the producer put in job.data.t, and tells the parent when the warm-up job is done.
import { Worker } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { args, connection, now, print } from './common.mjs';

const opts = args({
  concurrency: { type: 'string', default: '1' },
  'sleep-ms': { type: 'string', default: '0' },
  latency: { type: 'boolean', default: false },
});
const n = Number(opts.jobs);
const sleepMs = Number(opts['sleep-ms']);
let first = null;
let last = null;
let done = 0;
let failed = 0;
const latencies = [];

const processor = sleepMs > 0
  ? async () => { first ??= now(); await sleep(sleepMs); }
  : async (job) => {
    const t = now();
    first ??= t;
    if (opts.latency && !job.data.warm) latencies.push(t - job.data.t);
  };

const client = connection(opts.url);
const worker = new Worker(opts.queue, processor, {
  connection: client, prefix: opts.prefix, concurrency: Number(opts.concurrency),
});
let finish;
const finished = new Promise((resolve) => { finish = resolve; });
function count(job) {
  if (opts.latency && job.data.warm) { process.send({ warm: true }); return; }
  last = now();
  if (++done === n) finish();
}
worker.on('completed', count);
worker.on('failed', (job) => { failed++; count(job); });
worker.on('error', (err) => { process.stderr.write(`worker error: ${err}\n`); });
await worker.waitUntilReady();
if (opts.latency) process.send({ ready: true });
await finished;
await worker.close();
await client.quit();
const result = { jobs: n, failed, seconds: (last - first) / 1000, rate: n / ((last - first) / 1000) };
if (opts.latency) {
  process.send({ ...result, latencies_ms: latencies });
  process.disconnect();
} else {
  print(result);
}
