// The page's client: log in for a bearer token, connect over WebSocket with it, try two subjects.
import { connect } from "/nats.ws.js";

const $ = (id) => document.getElementById(id);
const show = (id, text, cls) => {
  $(id).textContent = text;
  $(id).className = `step ${cls ?? ""}`;
};

async function run(user) {
  const { websocket } = await (await fetch("/config.json")).json();
  const { token } = await (await fetch(`/login?user=${encodeURIComponent(user)}`)).json();
  show("login", `logged in as ${user}: got a bearer token`, "ok");

  const nc = await connect({ servers: websocket, token, reconnect: false });
  show("connection", `connected to ${websocket}`, "ok");

  // Allowed: the user's own subjects.
  const mine = `users.${user}.inbox`;
  const sub = nc.subscribe(mine, { max: 1 });
  (async () => {
    for await (const m of sub) show("allowed", `allowed subject ${mine}: received "${m.string()}"`, "ok");
  })();
  nc.publish(mine, "hello from the browser");

  // Prohibited: someone else's subjects. The server answers with a permissions violation.
  nc.subscribe("users.admin.>", {
    callback: (err) => {
      if (err) show("denied", `prohibited subject users.admin.>: ${err.message}`, "refused");
    },
  });
  await nc.flush();
}

$("go").addEventListener("click", () => {
  run($("user").value).catch((e) => show("connection", `failed: ${e.message}`, "refused"));
});
if (new URLSearchParams(location.search).has("auto")) $("go").click();
