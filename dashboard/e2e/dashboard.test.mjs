// End-to-end test of the dashboard in real headless Chromium.
//
// Starts `petri dev` on a free port, signs in through the page, submits seed
// 000's cross-platform workflow with pycolonies (tests/python/examples, with
// simulated executors for its three executor types), watches the DAG page turn
// every node successful without reloading, opens a process and checks its
// output, and manages an executor with the colony owner key. Screenshots go
// to target/dashboard-screenshots/.
//
// Environment: PETRI_BIN (default target/debug/petri), PETRI_PYTHON (a Python
// with pycolonies 1.0.25; default .venv-test/bin/python, which `cargo xtask
// test` creates), CHROMIUM (default /usr/bin/chromium).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PETRI_BIN = process.env.PETRI_BIN ?? join(ROOT, "target/debug/petri");
const PYTHON = process.env.PETRI_PYTHON ?? join(ROOT, ".venv-test/bin/python");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const EXAMPLES = join(ROOT, "tests/python/examples");
const SHOTS = join(ROOT, "target/dashboard-screenshots");

// The well-known Colonies development keys that `petri dev` sets up (public; development only).
const DEV = {
  COLONIES_COLONY_NAME: "dev",
  COLONIES_COLONY_ID: "4787a5071856a4acf702b2ffcea422e3237a679c681314113d86139461290cf4",
  COLONIES_COLONY_PRVKEY: "ba949fa134981372d6da62b6a56f336ab4d843b22c02a4257dcf7d0d73097514",
  COLONIES_SERVER_ID: "039231c7644e04b6895471dd5335cf332681c54e27f81fac54f9067b3f2c0103",
  COLONIES_SERVER_PRVKEY: "fcc79953d8a751bf41db661592dc34d30004b1a651ffa0725b03ac227641499d",
  COLONIES_ID: "3fc05cf3df4b494e95d6a3d297a34f19938f7daa7422ab0d4f794454133341ac",
  COLONIES_PRVKEY: "ddf7f7791208083b6a9ed975a72684f6406a269cfa36f1b1c32045c0a71fff05",
  COLONIES_EXECUTOR_NAME: "dev-executor",
  COLONIES_EXECUTOR_TYPE: "cli",
};
const SIM_TYPES = ["ice-kubeexecutor", "lumi-small-hpcexecutor", "lumi-small-hpcexecutor", "leonardo-booster-hpcexecutor"];
const NODES = ["ice-0", ...Array.from({ length: 8 }, (_, i) => `lumi-${i}`), "leonardo-0", "ice-1"];

const children = [];
let workdir;
let port;
let base;
let browser;
let page;
let graphId;
const sockets = { opened: 0, frames: 0 };

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

function pythonEnv() {
  const env = { ...process.env, ...DEV };
  Object.assign(env, {
    COLONIES_SERVER_HOST: "localhost",
    COLONIES_SERVER_PORT: String(port),
    COLONIES_SERVER_TLS: "false",
    COLONIES_TLS: "false",
    PYTHONUNBUFFERED: "1",
  });
  return env;
}

function start(name, cmd, args, env, cwd = ROOT) {
  const log = join(workdir, `${name}.log`);
  const fd = openSync(log, "w");
  const child = spawn(cmd, args, { env, cwd, stdio: ["ignore", fd, fd] });
  children.push({ name, child, log });
  return child;
}

function logs() {
  return children.map(({ name, log }) => `----- ${name} -----\n${existsSync(log) ? readFileSync(log, "utf8").slice(-3000) : ""}`).join("\n");
}

function run(cmd, args, env, cwd, timeoutMs = 60_000) {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`${args.join(" ")} timed out\n${out}\n${err}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) ok(out);
      else fail(new Error(`${args.join(" ")} exited with ${code}\n${out}\n${err}`));
    });
  });
}

async function waitFor(what, fn, timeoutMs, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last}\n${logs()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function nav(name) {
  return page.locator(`.sidebar a[data-nav=${name}]`).click();
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

before(async () => {
  assert.ok(existsSync(PETRI_BIN), `petri binary not found at ${PETRI_BIN} (set PETRI_BIN)`);
  assert.ok(existsSync(PYTHON), `Python with pycolonies not found at ${PYTHON} (set PETRI_PYTHON)`);
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
  mkdirSync(SHOTS, { recursive: true });
  workdir = mkdtempSync(join(tmpdir(), "petri-dashboard-e2e-"));
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // The server gets its settings from its flags, not from the caller's COLONIES_* variables.
  const serverEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("COLONIES_")));
  start("petri-dev", PETRI_BIN, ["dev", "--port", String(port), "--data-dir", join(workdir, "data")], serverEnv);
  await waitFor("petri dev to answer /health", async () => (await fetch(`${base}/health`)).ok, 30_000);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on("websocket", (ws) => {
    if (!ws.url().endsWith("/pubsub")) return;
    sockets.opened++;
    ws.on("framereceived", () => sockets.frames++);
  });
  page.on("pageerror", (e) => console.error("page error:", e));
});

after(async () => {
  await browser?.close().catch(() => {});
  for (const { child } of children.reverse()) {
    if (child.exitCode === null) child.kill("SIGTERM");
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const { child } of children) if (child.exitCode === null) child.kill("SIGKILL");
  if (workdir && !process.env.PETRI_E2E_KEEP) rmSync(workdir, { recursive: true, force: true });
});

test("the dashboard is served at / and asks for a key", async () => {
  const html = await (await fetch(`${base}/workflows/abc`)).text();
  assert.match(html, /<div id="app">/, "an app route gets the single-page app");
  assert.equal((await fetch(`${base}/assets/missing.js`)).status, 404);

  await page.goto(`${base}/`);
  await page.waitForURL(/\/signin/);
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  await shot("signin");
});

test("a wrong key is refused with a clear message", async () => {
  await page.fill("input[name=colony]", "dev");
  // A valid key that is no member of the colony.
  await page.fill("input[name=prvkey]", "6d2fb6f546bacfd98c68769e61e0b44a697a30596c018a50e28200aa59b01c0a");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator(".error-box strong", { hasText: "Access denied" }).waitFor();
  await page.fill("input[name=prvkey]", "not a key");
  await page.getByText("64 hexadecimal characters").first().waitFor();
});

test("signing in with the dev member key shows the colony overview", async () => {
  await page.fill("input[name=colony]", "dev");
  await page.fill("input[name=prvkey]", DEV.COLONIES_PRVKEY);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);
  await page.getByRole("heading", { name: "Colony dev" }).waitFor();
  await page.locator("[data-stat=waiting] .stat-value").filter({ hasText: /^\d+$/ }).waitFor();
  await shot("overview-empty");
});

test("the seed-000 cross-platform DAG turns successful live on the workflow page", async () => {
  const env = pythonEnv();
  env.SIM_SLEEP_SCALE = "0.2"; // `sleep 8` becomes 1.6 s, slow enough to see nodes run
  for (const t of SIM_TYPES) start(`sim-${t}-${children.length}`, PYTHON, ["-u", "sim_executor.py", t], env, EXAMPLES);

  // The executors register themselves; the executors page shows them online.
  await nav("Executors");
  await waitFor(
    "four simulated executors to be approved",
    async () => (await page.locator("tr[data-state=approved]").count()) >= 5,
    30_000,
  );

  const out = await run(PYTHON, ["-u", "cross_platform_dag.py"], env, EXAMPLES);
  graphId = out.trim().split("\n").pop().trim();
  assert.match(graphId, /^[0-9a-f]{64}$/, out);

  await nav("Workflows");
  await page.locator(`a[href="/workflows/${graphId}"]`).first().click();
  await page.waitForURL(`${base}/workflows/${graphId}`);
  // A marker that a reload would wipe.
  await page.evaluate(() => (window.__sameDocument = true));
  const nodes = page.locator("[data-testid=dag-node]");
  await waitFor("11 DAG nodes", async () => (await nodes.count()) === 11, 20_000);
  const names = await nodes.evaluateAll((els) => els.map((e) => e.getAttribute("data-nodename")).sort());
  assert.deepEqual(names, [...NODES].sort());

  // Catch the graph mid-run: at least one node running, not all done.
  await waitFor("a running node", async () => (await page.locator("[data-testid=dag-node][data-state=running]").count()) > 0, 30_000, 100);
  await shot("dag-running");

  await waitFor(
    "every node to show success",
    async () => (await page.locator("[data-testid=dag-node][data-state=successful]").count()) === 11,
    90_000,
    250,
  );
  await page.locator("[data-testid=live-mode][data-mode=done]").waitFor();
  await page.locator(".wf-summary").getByText("11 of 11").waitFor();
  // The page followed the run by itself, through the websocket, without reloading.
  assert.ok(sockets.opened > 0, "the page opened /pubsub websockets");
  assert.ok(sockets.frames > 0, "the page received process updates over /pubsub");
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the workflow page was not reloaded");
  await page.waitForTimeout(400); // let the last colour transitions finish
  await shot("dag-success");
});

test("a process page shows the node's input, output and timings", async () => {
  assert.ok(graphId, "the workflow ran");
  await page.locator("[data-testid=dag-node][data-nodename=leonardo-0]").click();
  const details = page.locator("[data-testid=node-details]");
  await details.waitFor();
  assert.deepEqual(await details.locator("code.value").last().allTextContents(), ["0"]);
  await shot("dag-selected");
  await page.getByTestId("open-process").click();
  await page.waitForURL(/\/processes\/[0-9a-f]{64}$/);
  const url = page.url();

  await page.getByRole("heading", { name: /execute/ }).waitFor();
  const output = page.getByTestId("process-output");
  await output.locator("li").first().waitFor();
  assert.deepEqual(await output.locator("code.value").allTextContents(), ["0"], "the simulated command's exit status");
  const input = page.getByTestId("process-input");
  assert.equal(await input.locator("li").count(), 8, "leonardo-0 got the outputs of its eight lumi parents");
  assert.match(await page.getByTestId("timeline").innerText(), /ran \d/);
  await page.getByText("sleep 8", { exact: false }).first().waitFor();
  await shot("process");

  // The URL can be shared: loading it afresh shows the same process.
  await page.goto(url);
  await page.getByTestId("process-output").locator("code.value").first().waitFor();
});

test("processes, functions and the overview reflect the run", async () => {
  await page.goto(`${base}/processes?state=2`);
  const rows = page.locator("[data-testid=process-table] tbody tr");
  await waitFor("11 successful processes", async () => (await rows.count()) >= 11, 20_000);
  await shot("processes");

  await nav("Functions");
  const fn = page.locator("[data-function=execute]");
  await fn.waitFor();
  await waitFor("11 calls of execute", async () => /^11 calls/.test(await fn.getByTestId("function-calls").innerText()), 20_000);
  await shot("functions");

  await nav("Overview");
  await waitFor(
    "the successful count",
    async () => Number(await page.locator("[data-stat=successful] .stat-value").innerText()) >= 11,
    20_000,
  );
  await shot("overview");
});

test("with the websocket blocked, the DAG page falls back to polling and still finishes", async () => {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  try {
    // Every /pubsub connection is closed at once, as a proxy without websocket support would.
    await context.routeWebSocket(/\/pubsub$/, (ws) => ws.close());
    const other = await context.newPage();
    other.setDefaultTimeout(20_000);
    await other.goto(`${base}/signin`);
    await other.fill("input[name=colony]", "dev");
    await other.fill("input[name=prvkey]", DEV.COLONIES_PRVKEY);
    await other.getByRole("button", { name: "Sign in" }).click();
    await other.waitForURL(`${base}/`);

    const env = pythonEnv();
    const out = await run(PYTHON, ["-u", "cross_platform_dag.py"], env, EXAMPLES);
    const id = out.trim().split("\n").pop().trim();
    await other.goto(`${base}/workflows/${id}`);
    await other.locator("[data-testid=live-mode][data-mode=polling]").waitFor();
    await waitFor(
      "every node to show success by polling",
      async () => (await other.locator("[data-testid=dag-node][data-state=successful]").count()) === 11,
      90_000,
      250,
    );
    await other.locator("[data-testid=live-mode][data-mode=done]").waitFor();
  } finally {
    await context.close();
  }
});

test("the colony owner approves and removes an executor", async () => {
  // Register a pending executor the way an executor does (signed by the colony owner, not approved).
  const code = [
    "import os",
    "from pycolonies import Colonies",
    "from crypto import Crypto",
    "c = Crypto(); k = c.prvkey()",
    "api = Colonies('localhost', int(os.environ['COLONIES_SERVER_PORT']))",
    "api.add_executor({'executorname': 'e2e-pending', 'executorid': c.id(k), 'colonyname': 'dev', 'executortype': 'e2e'}, os.environ['COLONIES_COLONY_PRVKEY'])",
  ].join("\n");
  await run(PYTHON, ["-c", code], pythonEnv(), EXAMPLES);

  await nav("Executors");
  const row = page.locator("tr[data-executor=e2e-pending]");
  await row.waitFor();
  assert.equal(await row.getAttribute("data-state"), "pending");
  assert.ok(await row.locator("button[data-action=approve]").isDisabled(), "no owner key yet");

  const form = page.getByTestId("owner-key-form");
  await form.locator("input[name=ownerkey]").fill(DEV.COLONIES_PRVKEY);
  await form.getByRole("button", { name: "Use key" }).click();
  await form.getByText("is not the owner of colony dev").waitFor();
  await form.locator("input[name=ownerkey]").fill(DEV.COLONIES_COLONY_PRVKEY);
  await form.getByRole("button", { name: "Use key" }).click();
  await page.getByTestId("owner-key-active").waitFor();

  await row.locator("button[data-action=approve]").click();
  await page.getByTestId("executor-notice").getByText("Approved executor e2e-pending").waitFor();
  await page.locator("tr[data-executor=e2e-pending][data-state=approved]").waitFor();
  await shot("executors");

  await page.locator("tr[data-executor=e2e-pending] button[data-action=remove]").click();
  await page.locator("tr[data-executor=e2e-pending] button[data-action=confirm-remove]").click();
  await page.locator("tr[data-executor=e2e-pending][data-state=removed]").waitFor();
});

test("signing out forgets the keys", async () => {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/signin/);
  await page.goto(`${base}/workflows/${graphId ?? "x"}`);
  await page.waitForURL(/\/signin\?next=/);
  const stored = await page.evaluate(() => [sessionStorage.length, localStorage.length]);
  assert.deepEqual(stored, [0, 0]);
});
