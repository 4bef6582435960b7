// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = import.meta.dirname;

/** Every workspace package's tsconfig.check.json that has sources to check yet. */
function checkProjects() {
  const dirs = ['proto', 'operator', 'bench'];
  for (const group of ['packages', 'services']) {
    if (existsSync(join(root, group))) {
      for (const d of readdirSync(join(root, group))) dirs.push(join(group, d));
    }
  }
  return dirs
    .filter((d) => existsSync(join(root, d, 'tsconfig.check.json')))
    .filter((d) =>
      ['src', 'test'].some(
        (s) => existsSync(join(root, d, s)) && readdirSync(join(root, d, s)).length > 0,
      ),
    )
    .map((d) => join(d, 'tsconfig.check.json'));
}

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/src/gen/**', '**/.turbo/**', 'charts/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      // tsconfig.check.json covers src, test and config files of each package, so
      // tests are linted with the same type information they are checked with.
      parserOptions: { project: checkProjects(), tsconfigRootDir: root },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../../*'], message: 'Import across packages by package name.' }] },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
