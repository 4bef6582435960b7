import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdYaml } from '@mailmesh/config/crd';
import { expect, test } from 'vitest';

const dir = join(import.meta.dirname, '..', '..', 'charts', 'mailmesh', 'crds');

test('the committed chart CRDs equal the generated ones (run `npm run write-crds -w @mailmesh/operator`)', () => {
  const generated = crdYaml();
  expect(
    readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .sort(),
  ).toEqual([...generated.keys()].sort());
  for (const [file, text] of generated)
    expect(readFileSync(join(dir, file), 'utf8'), file).toBe(text);
});
