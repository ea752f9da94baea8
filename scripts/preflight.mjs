// Fails fast when a script runs on anything older than Node 24 (the system
// node on our machines is 20; npm scripts put the pinned Node 24 first on PATH).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `Node ${process.versions.node} found; this project needs Node 24. Run scripts through npm (npm run …, npm test).`,
  );
  process.exit(1);
}
