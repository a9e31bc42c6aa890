// The machine's own ceiling for the scale-out bench: services/work.ts in a tight loop, no NATS, for
// the given milliseconds; prints how many it did. N of these at once show what N cores give.
import { work } from "./work.js";

const ms = Number(process.argv[2] ?? 1000);
const until = performance.now() + ms;
let done = 0;
while (performance.now() < until) {
  work();
  done++;
}
console.log(JSON.stringify({ perSecond: done / (ms / 1000) }));
