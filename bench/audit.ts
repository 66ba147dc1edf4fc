// The cost of the audit trail: capture throughput with it on and off (the target: under 15 %
// slower with it on). Runs the capture benchmark (single-bundle mode) alternately, several times
// each, because on a 2-core machine one run's noise is about ±10 %.
//   npm run bench:audit -- [--fractures 5000] [--rounds 2]
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { fractures: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '2' } },
});
const run = (audit: 'on' | 'off'): number => {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', path.resolve('bench/capture.ts'), '--fractures', args.fractures!, '--modes', 'single', '--audit', audit],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const m = /=> (\d+) fractures\/s/.exec(out);
  if (!m) throw new Error(`no figure in the capture benchmark's output:\n${out}`);
  return Number(m[1]);
};

const on: number[] = [],
  off: number[] = [];
for (let i = 0; i < Number(args.rounds); i++) {
  off.push(run('off'));
  on.push(run('on'));
  console.log(`round ${i + 1}: audit off ${off.at(-1)} fractures/s, audit on ${on.at(-1)} fractures/s`);
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cost = (1 - mean(on) / mean(off)) * 100;
console.log(
  `audit trail cost: ${mean(off).toFixed(0)} → ${mean(on).toFixed(0)} fractures/s = ${cost.toFixed(1)} % slower with the audit trail on (target: under 15 %), ${args.fractures} fractures per run, ${args.rounds} rounds`,
);
