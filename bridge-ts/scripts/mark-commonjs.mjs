// The build's output is CommonJS (as bridge-ts/src/package.json makes its
// sources), inside a package whose "type" is "module": this marks the
// output folder so that Node loads it as what it is.
import { writeFileSync } from 'node:fs';

writeFileSync(new URL('../dist/package.json', import.meta.url), '{ "type": "commonjs" }\n');
