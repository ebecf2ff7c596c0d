// Starts a real `rampart` server on loopback over a fresh SQLite store with demo data, users
// of two roles and one hostile alert, and launches Debian's headless Chromium.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "..", "..");
const bin = process.env.RAMPART_BIN || join(repo, "target", "debug", "rampart");
export const artifacts = join(repo, "ui-tests", "artifacts");
export const PASSWORDS = { admin: "Admin-pass-0001", analyst: "Analyst-pass-0001", reader: "Reader-pass-0001" };

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); });
    s.on("error", fail);
  });
}

function run(args, input) {
  return execFileSync(bin, args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

// The hostile alert: markup, script URLs and unicode tricks in every text a page shows.
export const HOSTILE = {
  providerAlertId: "xss-1",
  serviceSource: "microsoftDefenderForEndpoint",
  detectionSource: "microsoftDefenderForEndpoint",
  title: "<script>window.__pwned='title'</script><img src=x onerror=\"window.__pwned='img'\"> evil\u202Egnp.exe",
  description: "<b>bold?</b> <a href=\"javascript:window.__pwned='desc'\">click</a>",
  // Low, so the high-severity queue in the README screenshot shows the demo attacks.
  severity: "low",
  category: "Execution",
  status: "new",
  firstActivityDateTime: new Date(Date.now() - 3600e3).toISOString(),
  lastActivityDateTime: new Date(Date.now() - 3000e3).toISOString(),
  tags: ["<svg onload=window.__pwned='tag'>"],
  evidence: [
    { "@odata.type": "#microsoft.graph.security.deviceEvidence", deviceDnsName: "xss-host.corp.example", mdeDeviceId: "dev-xss", roles: [], verdict: "suspicious" },
    { "@odata.type": "#microsoft.graph.security.processEvidence", processId: 4242, parentProcessId: 1, mdeDeviceId: "dev-xss",
      processCreationDateTime: new Date(Date.now() - 3500e3).toISOString(), parentProcessCreationDateTime: new Date(Date.now() - 7200e3).toISOString(),
      processCommandLine: "cmd.exe /c \"<img src=x onerror=window.__pwned='cmd'>\" & echo </code><script>window.__pwned='cmd2'</script>",
      imageFile: { fileName: "<iframe src=javascript:window.__pwned='img2'>.exe", filePath: "C:\\<b>tmp</b>" },
      parentProcessImageFile: { fileName: "explorer.exe" }, verdict: "malicious" },
    { "@odata.type": "#microsoft.graph.security.urlEvidence", url: "javascript:window.__pwned='url'", verdict: "malicious" },
    { "@odata.type": "#microsoft.graph.security.fileEvidence", fileDetails: { fileName: "\"><script>window.__pwned='file'</script>", sha256: "aa".repeat(32) }, verdict: "malicious" },
  ],
};

export async function start() {
  const dir = mkdtempSync(join(tmpdir(), "rampart-ui-"));
  const data = join(dir, "data");
  run(["demo", "--data-dir", data, "--alerts", "400"]);
  // Users exist before the first start, so `serve` creates no first administrator: add one.
  run(["user", "add", "admin", "--role", "Global administrator", "--display-name", "Ad Min", "--password-stdin", "--data-dir", data], PASSWORDS.admin + "\n");
  run(["user", "add", "analyst", "--role", "Security operator", "--display-name", "Ana Lyst", "--password-stdin", "--data-dir", data], PASSWORDS.analyst + "\n");
  run(["user", "add", "reader", "--role", "Security reader", "--display-name", "Rea Der", "--password-stdin", "--data-dir", data], PASSWORDS.reader + "\n");
  const ingestToken = run(["token", "create", "--name", "ui-ingest", "--role", "Ingest only", "--data-dir", data]).trim();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(bin, ["serve", "--data-dir", data, "--listen", `127.0.0.1:${port}`], {
    env: { ...process.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  server.stdout.on("data", (d) => { log += d; });
  server.stderr.on("data", (d) => { log += d; });
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(base + "/api/v1/health")).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  const r = await fetch(base + "/api/v1/alerts", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${ingestToken}` },
    body: JSON.stringify(HOSTILE),
  });
  if (!r.ok) throw new Error(`hostile alert refused: ${r.status} ${await r.text()}\n${log}`);
  const hostileId = (await r.json()).items[0].id;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  mkdirSync(artifacts, { recursive: true });
  return {
    base, browser, hostileId,
    log: () => log,
    async stop() {
      await browser.close();
      server.kill("SIGTERM");
      await new Promise((r) => server.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A new browser context signed in as `user` through the sign-in page.
export async function signIn(env, user, viewport = { width: 1366, height: 768 }) {
  const ctx = await env.browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  page.on("dialog", (d) => { page.errors.push("dialog: " + d.message()); d.dismiss(); });
  await page.goto(env.base + "/alerts");
  await page.waitForURL(/\/login\?next=/);
  await page.fill("#username", user);
  await page.fill("#password", PASSWORDS[user]);
  await Promise.all([page.waitForURL(/\/alerts$/), page.click("button[type=submit]")]);
  return page;
}
