// Operations with the database gone — stopped (an operator's pg_ctl stop) or hung (a frozen server
// or a lost network: connections are accepted by nobody and queries never answer): readiness says
// so (503) while liveness still answers, and SIGTERM stops a real `kvalreg serve` process within
// seconds. Before, /health answered 200 whatever the database did, and with a hung database the
// process outlived SIGTERM for good (its shutdown waited on the database and on the embedded
// server's stop, which waits for an exit that never comes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseProcesses, gone, serveOwnDatabase, type Served } from './helpers/served.ts';

describe.each([
  { gone: 'stopped', stop: (pids: number[]) => process.kill(pids[0], 'SIGINT') }, // fast shutdown
  { gone: 'hung', stop: (pids: number[]) => pids.forEach((p) => process.kill(p, 'SIGSTOP')) },
])('with the database $gone', ({ gone: how, stop }) => {
  let s: Served;
  let pids: number[] = [];
  beforeAll(async () => {
    s = await serveOwnDatabase();
  }, 180_000);
  afterAll(async () => {
    for (const p of pids)
      try {
        process.kill(p, 'SIGCONT');
      } catch {
        /* gone */
      }
    await s?.close();
  }, 60_000);

  it('is ready while the database answers', async () => {
    // Ready once this process leads the background jobs (at its first campaign, right after start).
    await expect.poll(async () => (await fetch(`${s.url}/health/ready`)).status, { timeout: 30_000 }).toBe(200);
    const ready = await fetch(`${s.url}/health/ready`);
    expect(await ready.json()).toEqual({ status: 'ready', database: 'ok', migrations: 'current', jobs: 'ok' });
    expect((await fetch(`${s.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it('answers 503 on /health/ready, and lives on', async () => {
    pids = databaseProcesses(s.postmasterPid());
    stop(pids);
    if (how === 'stopped') expect(await gone(pids[0], 30_000)).toBe(true);

    const ready = await fetch(`${s.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', database: 'unreachable' });
    // Liveness is about the process, which still answers.
    expect((await fetch(`${s.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3000)); // the background work (analytics, sealing) meets the missing database too
    expect(s.child.exitCode ?? s.child.signalCode, s.output().slice(-2000)).toBeNull();
  }, 60_000);

  it('stops on SIGTERM within seconds', async () => {
    expect(pids.length, 'the database was made to go in the test before').toBeGreaterThan(0);
    expect(s.child.exitCode ?? s.child.signalCode, 'the server must still run when it is told to stop').toBeNull();
    s.child.kill('SIGTERM');
    // The stop's own deadline is 25 s; typically it takes about a second (stopped) or a dozen (hung).
    const code = await Promise.race([s.exited, new Promise((r) => setTimeout(() => r('still running after 40 s'), 40_000))]);
    expect(code, s.output().slice(-2000)).not.toBe('still running after 40 s');
  }, 60_000);
});
