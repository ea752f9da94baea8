// Regenerates src/gen/ from the upstream .proto files. The protos are taken
// from the Go module proxy at generation time, never from a committed copy.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sources = [
  {
    module: 'github.com/container-storage-interface/spec',
    version: 'v1.12.0',
    files: [['csi.proto', 'csi.proto']],
  },
  {
    module: 'k8s.io/kubelet',
    version: 'v0.36.6',
    files: [['pkg/apis/pluginregistration/v1/api.proto', 'pluginregistration/api.proto']],
  },
];

const tsProtoOptions = [
  'outputServices=grpc-js',
  'esModuleInterop=true',
  'importSuffix=.js',
  'env=node',
  'forceLong=bigint',
  'useOptionals=messages',
  'oneof=unions-value',
  'useDate=false',
  'comments=false',
  'annotateFilesWithVersion=false',
  'enumsAsLiterals=true',
  'outputJsonMethods=false',
];

function moduleDir(module, version) {
  const out = execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], { encoding: 'utf8' });
  return JSON.parse(out).Dir;
}

// The log redactor strips secrets by field name because ts-proto drops the
// csi_secret field option at run time. Fail loudly if a spec update adds a
// secret field with another name.
function assertSecretsFieldsNamedSecrets(path) {
  const text = readFileSync(path, 'utf8');
  const fields = [...text.matchAll(/(\w+)\s*=\s*\d+\s*\[[^\]]*csi_secret[^\]]*\]/g)].map((m) => m[1]);
  const odd = fields.filter((f) => f !== 'secrets');
  if (fields.length === 0 || odd.length > 0) {
    throw new Error(`csi.proto: csi_secret fields not named "secrets": ${odd.join(', ') || '(none found)'}`);
  }
  console.log(`csi.proto: ${fields.length} csi_secret fields, all named "secrets"`);
}

const work = mkdtempSync(join(tmpdir(), 'csi-gen-'));
try {
  const protoRoot = join(work, 'proto');
  for (const src of sources) {
    const dir = moduleDir(src.module, src.version);
    for (const [from, to] of src.files) {
      mkdirSync(join(protoRoot, to, '..'), { recursive: true });
      cpSync(join(dir, from), join(protoRoot, to));
    }
  }
  assertSecretsFieldsNamedSecrets(join(protoRoot, 'csi.proto'));
  writeFileSync(join(work, 'buf.yaml'), 'version: v2\nmodules:\n  - path: proto\n');
  const plugin = join(process.cwd(), 'node_modules/.bin/protoc-gen-ts_proto');
  writeFileSync(
    join(work, 'buf.gen.yaml'),
    [
      'version: v2',
      'plugins:',
      `  - local: ${plugin}`,
      `    out: ${join(process.cwd(), 'src/gen')}`,
      '    strategy: all',
      '    opt:',
      ...tsProtoOptions.map((o) => `      - ${o}`),
      '',
    ].join('\n'),
  );
  rmSync(join(process.cwd(), 'src/gen'), { recursive: true, force: true });
  execFileSync(join(process.cwd(), 'node_modules/.bin/buf'), ['generate'], { cwd: work, stdio: 'inherit' });
  const versions = sources.map((s) => `${s.module}@${s.version}`).join('\n');
  writeFileSync(join(process.cwd(), 'src/gen/SOURCES'), `${versions}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
