// The package's entry point (package.json "exports"): the TypeScript API of src/api/.
export * from './api/index.ts';
