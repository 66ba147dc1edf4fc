// Is the database there? A fresh connection with short time limits, apart from the pool: a probe
// must neither wait behind a busy pool nor leave a hung query holding one of its connections.
import pg from 'pg';

export async function databaseReady(url: string, timeoutMs = 2000): Promise<{ ok: true } | { ok: false; error: unknown }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, application_name: 'kvalreg-health' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  } finally {
    client.end().catch(() => undefined);
  }
}
