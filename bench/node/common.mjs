// Shared by the BullMQ bench scripts: arguments, the Redis connection, a high-resolution clock.
import { parseArgs } from 'node:util';
import IORedis from 'ioredis';

export function args(extra = {}) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },          // the bench's Redis URL: redis://, rediss:// or unix:///path?db=N
      prefix: { type: 'string' },       // BullMQ key prefix, unique per bench run (cleanup deletes only it)
      queue: { type: 'string', default: 'bench' },
      jobs: { type: 'string', default: '1000' },
      ...extra,
    },
  });
  if (!values.url || !values.prefix) throw new Error('--url and --prefix are required');
  return values;
}

// An ioredis client for a redis-py style URL (ioredis has no unix:// scheme). BullMQ 6 loaded as ESM
// wants a constructed client; it does not close clients it was given, so callers quit() them.
export function connection(url) {
  return new IORedis(options(url));
}

function options(url) {
  const u = new URL(url);
  const opts = { maxRetriesPerRequest: null };
  const db = u.searchParams.get('db');
  if (u.protocol === 'unix:') {
    opts.path = decodeURIComponent(u.pathname);
    if (db) opts.db = Number(db);
  } else {
    opts.host = u.hostname || '127.0.0.1';
    opts.port = Number(u.port || 6379);
    const path = u.pathname.replace(/^\//, '');
    if (path || db) opts.db = Number(path || db);
    if (u.username) opts.username = decodeURIComponent(u.username);
    if (u.password) opts.password = decodeURIComponent(u.password);
    if (u.protocol === 'rediss:') opts.tls = {};
  }
  return opts;
}

// Milliseconds since the epoch with sub-millisecond resolution, comparable across processes.
export const now = () => performance.timeOrigin + performance.now();

export function print(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
