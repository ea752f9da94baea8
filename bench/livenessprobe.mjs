// Measures livenessprobe start-up (spawn → /healthz answers 200) and RSS, then
// RSS and open file descriptors after 1,000 probes. Needs `npm run build` and
// a CSI driver socket: `npm run bench:livenessprobe -- /path/to/csi.sock`.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';

const socket = process.argv[2];
if (!socket) {
  console.error('usage: livenessprobe.mjs <csi socket path> [runs]');
  process.exit(2);
}
const runs = Number(process.argv[3] ?? 5);

const freePort = () =>
  new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const fds = (pid) => readdirSync(`/proc/${pid}/fd`).length;
const probe = async (port) => {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    await res.text();
    return res.status;
  } catch {
    return 0;
  }
};

const startups = [];
let last;
for (let i = 0; i < runs; i++) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ['dist/livenessprobe.mjs', `--csi-address=${socket}`, `--http-endpoint=127.0.0.1:${port}`],
    {
      stdio: 'ignore',
    },
  );
  while ((await probe(port)) !== 200) await new Promise((r) => setTimeout(r, 2));
  startups.push(performance.now() - started);
  last = { child, port, rssAtStart: rssMiB(child.pid) };
  if (i < runs - 1) child.kill('SIGKILL');
}
const { child, port, rssAtStart } = last;
for (let i = 0; i < 1000; i++) await probe(port);
const rss1000 = rssMiB(child.pid);
const fds1000 = fds(child.pid);
for (let i = 0; i < 1000; i++) await probe(port);
const rss2000 = rssMiB(child.pid);
const fds2000 = fds(child.pid);
child.kill('SIGKILL');

startups.sort((a, b) => a - b);
const fmt = (x) => x.toFixed(1);
console.log(
  `start-up to first 200 from /healthz (ms, ${runs} runs): min ${fmt(startups[0])}, median ${fmt(startups[Math.floor(runs / 2)])}, max ${fmt(startups[runs - 1])}`,
);
console.log(`RSS after start: ${fmt(rssAtStart)} MiB`);
console.log(`after 1,000 probes: RSS ${fmt(rss1000)} MiB, open fds ${fds1000}`);
console.log(`after 2,000 probes: RSS ${fmt(rss2000)} MiB, open fds ${fds2000}`);
