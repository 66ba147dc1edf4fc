// Peak memory while a step runs: the resident set of this process, and of the PostgreSQL server
// processes (Linux /proc; elsewhere only this process), sampled every 100 ms.
import fs from 'node:fs';

function postgresRss(): number {
  if (!fs.existsSync('/proc')) return 0;
  let sum = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
    } catch {
      /* the process ended */
    }
  }
  return sum;
}

export interface Peak {
  node: number;
  postgres: number;
}

/** Runs `fn`, returning its result, its duration in seconds and the peak memory meanwhile. */
export async function measured<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; peak: Peak }> {
  const peak: Peak = { node: process.memoryUsage().rss, postgres: postgresRss() };
  const timer = setInterval(() => {
    peak.node = Math.max(peak.node, process.memoryUsage().rss);
    peak.postgres = Math.max(peak.postgres, postgresRss());
  }, 100);
  const started = performance.now();
  try {
    const value = await fn();
    return { value, seconds: (performance.now() - started) / 1000, peak };
  } finally {
    clearInterval(timer);
  }
}

export const mib = (bytes: number) => `${Math.round(bytes / 1048576)} MiB`;
export const peakText = (p: Peak) => `peak memory: kvalreg ${mib(p.node)}, PostgreSQL ${mib(p.postgres)}`;
