/**
 * `setThreads` is per process (issue 10): the addon is loaded once per process and keeps one
 * thread pool, shared by the main thread and every worker. A worker that calls `setThreads`
 * changes the pool of the whole process — results never depend on it, only speed.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { getThreads, setThreads } from '../src/index';

const root = join(__dirname, '..');

describe('setThreads across worker threads', () => {
  it('a worker’s setThreads changes the pool of the whole process (one pool per process)', async () => {
    const before = getThreads();
    const target = before === 1 ? 2 : 1;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const api = require(workerData.root);
      api.setThreads(workerData.n);
      parentPort.postMessage(api.getThreads());`;
    const w = new Worker(code, { eval: true, workerData: { root, n: target } });
    try {
      const seen = await new Promise<number>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      expect(seen).toBe(target);
      expect(getThreads()).toBe(target);
    } finally {
      await w.terminate();
      setThreads(before);
    }
    expect(getThreads()).toBe(before);
  });
});
