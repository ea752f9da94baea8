// The project's single test command (`npm test`): static checks, build,
// every vitest project, then one closing line "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

const steps = [
  ['preflight', ['npm', 'run', '--silent', 'preflight']],
  ['lint', ['npm', 'run', '--silent', 'lint']],
  ['typecheck', ['npm', 'run', '--silent', 'typecheck']],
  ['generated code is reproducible', ['npm', 'run', '--silent', 'gen:check']],
  ['build', ['npm', 'run', '--silent', 'build']],
  // Real kube-apiserver, etcd, controller-manager, CSI driver… for the e2e project; cached per machine.
  ['test binaries (Go, cached)', ['bash', 'e2e/infra/build.sh']],
];

function run(label, argv) {
  const started = performance.now();
  console.log(`==> ${label}`);
  const result = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' });
  console.log(`<== ${label}: exit ${result.status} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return result.status ?? 1;
}

let failedSteps = 0;
for (const [label, argv] of steps) {
  if (run(label, argv) !== 0) failedSteps++;
}

mkdirSync('.test-results', { recursive: true });
const report = '.test-results/vitest.json';
const projects = process.env.CSI_TEST_PROJECTS ? process.env.CSI_TEST_PROJECTS.split(',') : [];
const vitestArgs = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`];
for (const p of projects) vitestArgs.push('--project', p);
const vitestStatus = run('vitest', ['npx', '--no-install', ...vitestArgs]);

let passed = 0;
let failed = 0;
try {
  const summary = JSON.parse(readFileSync(report, 'utf8'));
  passed = summary.numPassedTests;
  failed = summary.numFailedTests + (summary.numFailedTestSuites ?? 0);
  if (summary.numPendingTests > 0 || summary.numTodoTests > 0) {
    console.log(`skipped or todo tests are not allowed: ${summary.numPendingTests + summary.numTodoTests}`);
    failed += summary.numPendingTests + summary.numTodoTests;
  }
} catch (err) {
  console.log(`no vitest report: ${err.message}`);
  failed++;
}
if (vitestStatus !== 0 && failed === 0) failed = 1;
failed += failedSteps;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
