// Writes config/schema.json from the zod schema (run after `npm run build`).
import fs from 'node:fs';
import { z } from 'zod';
import { configSchema } from '../dist/config/schema.js';

const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
schema.title = 'sync-cli configuration (config.json)';
fs.writeFileSync(new URL('../config/schema.json', import.meta.url), JSON.stringify(schema, null, 2) + '\n');
console.log('wrote config/schema.json');
