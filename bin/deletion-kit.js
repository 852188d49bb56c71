#!/usr/bin/env node
// The published entry point: registers tsx so the TypeScript runner runs as it is, with no build step.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli.ts');
