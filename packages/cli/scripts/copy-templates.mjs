// Before npm pack: the repository's examples, as `natsflow new` copies them, into templates/.
import { cp, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const examples = fileURLToPath(new URL("../../../examples/", import.meta.url));
const templates = fileURLToPath(new URL("../templates/", import.meta.url));
await rm(templates, { recursive: true, force: true });
await cp(examples, templates, { recursive: true, filter: (src) => !/[/\\](node_modules|dist)([/\\]|$)|\.data([/\\]|$)/.test(src) });
