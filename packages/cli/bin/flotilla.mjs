#!/usr/bin/env node
// Committed shim so npm can link the `flotilla` bin before the TypeScript build has run.
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2));
