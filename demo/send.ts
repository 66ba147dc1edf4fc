// Sends bundles to a running platform's FHIR endpoint with bounded concurrency, counting results.
import { Agent, request } from 'undici';

export interface SendStats {
  sent: number;
  ok: number;
  failed: number;
  failures: Array<{ status: number; body: string }>;
}

export async function sendBundles(
  baseUrl: string,
  items: Array<{ token: string; bundle: unknown }>,
  opts: { concurrency: number; onProgress?: (done: number) => void },
): Promise<SendStats> {
  const dispatcher = new Agent({ connections: opts.concurrency, pipelining: 1 });
  const stats: SendStats = { sent: 0, ok: 0, failed: 0, failures: [] };
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      const res = await request(`${baseUrl}/fhir`, {
        method: 'POST',
        dispatcher,
        headers: { authorization: `Bearer ${item.token}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify(item.bundle),
      });
      const text = await res.body.text();
      stats.sent++;
      if (res.statusCode === 200) stats.ok++;
      else {
        stats.failed++;
        if (stats.failures.length < 5) stats.failures.push({ status: res.statusCode, body: text.slice(0, 500) });
      }
      opts.onProgress?.(stats.sent);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  await dispatcher.close();
  return stats;
}
