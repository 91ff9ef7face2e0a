// ESLint (flat config): the TypeScript in lib/ with typescript-eslint's recommended
// rules, the JavaScript (scripts, tests, benchmarks, examples) with ESLint's; formatting
// is Prettier's business (npm run lint runs both).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'prebuilds/', 'docs/api/', 'node_modules/', 'test/types/'] },
  {
    files: ['**/*.js', '**/*.cjs'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'commonjs', ecmaVersion: 2024, globals: { ...globals.node } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `catch {}` where a failure changes nothing (cleanup of what may be gone already).
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'module', ecmaVersion: 2024, globals: { ...globals.node } },
  },
  {
    files: ['lib/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    rules: { '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }] },
  },
);
