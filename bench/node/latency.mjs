// Start latency of an idle BullMQ worker: a child process (worker.mjs --latency) waits for jobs; this
// process adds one job at a time at --rate jobs/s, each carrying the time it was added. Prints the
// per-job latencies (job start in the worker minus add() time), in ms.
//   node latency.mjs --url URL --prefix P --queue Q --jobs N --rate R
import { fork } from 'node:child_process';
import { Queue } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { args, connection, now, print } from './common.mjs';

const opts = args({ rate: { type: 'string', default: '200' } });
const n = Number(opts.jobs);
const rate = Number(opts.rate);
const child = fork(new URL('./worker.mjs', import.meta.url),
  ['--url', opts.url, '--prefix', opts.prefix, '--queue', opts.queue, '--jobs', String(n), '--latency']);
const messages = [];
let wake = null;
child.on('message', (m) => { messages.push(m); if (wake) wake(); });
child.on('exit', (code) => { if (code) { process.stderr.write(`worker exited with ${code}\n`); process.exit(1); } });
async function next(key) {
  for (;;) {
    const i = messages.findIndex((m) => key in m);
    if (i >= 0) return messages.splice(i, 1)[0];
    await new Promise((resolve) => { wake = resolve; });
  }
}

const client = connection(opts.url);
const queue = new Queue(opts.queue, { connection: client, prefix: opts.prefix });
await queue.waitUntilReady();
await next('ready');
await queue.add('noop', { warm: true });  // the worker is up, connected and has run a job
await next('warm');
const t0 = now();
for (let i = 0; i < n; i++) {
  const delay = t0 + (i * 1000) / rate - now();
  if (delay > 0) await sleep(delay);
  await queue.add('noop', { t: now() });
}
const result = await next('latencies_ms');
await queue.close();
await client.quit();
print({ jobs: n, rate, latencies_ms: result.latencies_ms, failed: result.failed });
