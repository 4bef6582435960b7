#!/usr/bin/env node
// Writes charts/mailmesh/crds/*.yaml from the schemas in @mailmesh/config (build it first:
// `npx turbo run build --filter=@mailmesh/operator...`). test/crds-files.test.ts fails
// when the committed files differ from what this writes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crdYaml } from '@mailmesh/config/crd';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'charts', 'mailmesh', 'crds');
mkdirSync(dir, { recursive: true });
for (const [file, text] of crdYaml()) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote ${join(dir, file)}`);
}
