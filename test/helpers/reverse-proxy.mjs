// A real reverse proxy, run as its own process by test/reverse-proxy.test.ts: `node
// reverse-proxy.mjs <target URL>` listens on 127.0.0.1 (a free port, printed as "listening <port>")
// and forwards every request to the target with X-Forwarded-For/-Proto/-Host, as a TLS-terminating
// proxy in front of kvalreg does (http-proxy's xfwd). It appends the peer's address to an
// X-Forwarded-For the client sent, as proxies do.
import http from 'node:http';
import httpProxy from 'http-proxy';

const target = process.argv[2];
if (!target) {
  console.error('usage: reverse-proxy.mjs <target URL>');
  process.exit(2);
}
const proxy = httpProxy.createProxyServer({ target, xfwd: true });
proxy.on('error', (err, _req, res) => {
  res.writeHead?.(502);
  res.end(`proxy error: ${err.message}`);
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
