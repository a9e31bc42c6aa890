// `npm start -w examples/browser-websocket`: the demo until Ctrl-C. Open the printed URL in a browser.
import "reflect-metadata";

import { startBrowserDemo } from "./stack.js";

const demo = await startBrowserDemo({ httpPort: Number(process.env.PORT ?? 8080) });
console.log(`browser demo at ${demo.url}  (NATS WebSocket ${demo.nats.websocketUrl})  Ctrl-C stops it.`);
const stop = async () => {
  await demo.stop();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
