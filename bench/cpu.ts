// CPU time of processes, read from /proc (Linux): what a benchmark on a shared machine should
// report beside wall time, since the wall time depends on everyone else's load.
import fs from 'node:fs';

/** CPU seconds used so far by each of these processes (user + system). */
export function cpuByPid(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(pid, (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * CPU seconds used between two readings by the processes of the second: since the first reading,
 * or all of it for a process started since (a connection opened during the step). A process that
 * ended between the readings is not counted.
 */
export function cpuUsed(before: Map<number, number>, after: Map<number, number>): number {
  let s = 0;
  for (const [pid, v] of after) s += v - (before.get(pid) ?? 0);
  return s;
}

/** Every PostgreSQL process on the machine. */
export function postgresPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('postgres');
      } catch {
        return false;
      }
    });
}
