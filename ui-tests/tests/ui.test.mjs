// The analyst's journey through the real UI in headless Chromium, against a real server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { start, signIn, artifacts, repo, PASSWORDS } from "../lib/harness.mjs";

let env;
before(async () => { env = await start(); });
after(async () => { if (env) await env.stop(); });

const shotDir = process.env.UPDATE_SCREENSHOTS ? join(repo, "docs", "screenshots") : artifacts;
const shot = (page, name, fullPage = false) => page.screenshot({ path: join(shotDir, name), fullPage });

test("sign in shows who is signed in; signed-out pages lead to sign-in", async () => {
  const anon = await env.browser.newPage();
  await anon.goto(env.base + "/incidents");
  assert.match(anon.url(), /\/login\?next=%2Fincidents$/);
  await anon.click("button[type=submit]");
  await anon.locator("#login-error").filter({ hasText: "Give your username and password." }).waitFor();
  await anon.fill("#username", "analyst");
  await anon.fill("#password", "wrong password");
  await anon.click("button[type=submit]");
  await anon.locator("#login-error").filter({ hasText: /wrong username or password/ }).waitFor();
  await anon.close();

  const page = await signIn(env, "analyst");
  assert.equal(await page.textContent('[data-testid="signed-in-user"]'), "Ana Lyst");
  assert.equal(await page.textContent('[data-testid="signed-in-role"]'), "Security operator");
  assert.deepEqual(page.errors, []);
  assert.equal((await page.goto(env.base + "/alerts")).headers()["cache-control"], "no-store", "pages are not kept");
  await page.click("#sign-out");
  await page.waitForURL(/\/login/);
  // Back after signing out asks the server again, which sends it to sign in.
  await page.goBack();
  assert.match(page.url(), /\/login\?next=/, "no page from the browser's cache");
  await page.goto(env.base + "/alerts");
  assert.match(page.url(), /\/login\?next=/, "signed out for real");
  await page.context().close();
});

test("queue: default view, filters in the URL, search errors where they are, paging", async () => {
  const page = await signIn(env, "analyst");
  const headers = await page.locator("#alert-table thead th").allTextContents();
  for (const col of ["Alert name", "Tags", "Severity", "Investigation state", "Status", "Category", "Detection source", "Impacted assets", "First activity", "Last activity"]) {
    assert.ok(headers.some((h) => h.includes(col)), `column ${col}`);
  }
  const statuses = await page.locator("#alert-table td.status").allTextContents();
  assert.ok(statuses.length === 50, "a full first page");
  assert.ok(statuses.every((s) => s === "New" || s === "In progress"), "default: new and in progress");

  // Filter: high severity only, from the filter pane; the URL carries it.
  await Promise.all([
    page.waitForResponse((r) => r.url().includes("severity=high")),
    page.check('input[name="severity"][value="high"]'),
  ]);
  await page.waitForURL(/severity=high/);
  const sev = await page.locator("#alert-table tbody td .sev").allTextContents();
  assert.ok(sev.length > 0 && sev.every((s) => s.trim() === "High"), "only high");
  await shot(page, "queue.png");

  // A shared URL reproduces the view.
  const shared = page.url();
  const other = await page.context().newPage();
  await other.goto(shared);
  assert.equal(await other.isChecked('input[name="severity"][value="high"]'), true);
  await other.close();

  // The condition language, and its error at the column where it is wrong.
  await page.fill("#q", "severity>=medium entity.printer:x");
  await page.press("#q", "Enter");
  const err = page.locator("#q-error");
  await err.waitFor();
  assert.match(await err.textContent(), /column 18/);
  assert.equal(await page.getAttribute("#q", "aria-invalid"), "true");
  await page.fill("#q", "mimikatz");
  await page.press("#q", "Enter");
  await page.locator("#alert-table td.title", { hasText: "Mimikatz" }).first().waitFor();

  // Keyset paging: the next page holds different alerts.
  await page.goto(env.base + "/alerts?period=all&status=any");
  const first = await page.locator("#alert-table tbody tr").first().getAttribute("data-id");
  await page.click("#next-page");
  await page.waitForURL(/cursor=/);
  const second = await page.locator("#alert-table tbody tr").first().getAttribute("data-id");
  assert.notEqual(first, second);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("queue page weighs under 300 KB", async () => {
  const page = await signIn(env, "analyst");
  // Bodies are read asynchronously: collect the reads and wait for all of them, or the sum
  // races the handlers (CI once counted 206 bytes).
  const reads = [];
  page.on("response", (r) => { reads.push(r.body().then((b) => b.length, () => 0 /* redirects have no body */)); });
  await page.goto(env.base + "/alerts?period=all&status=any");
  await page.waitForLoadState("networkidle");
  const bytes = (await Promise.all(reads)).reduce((a, b) => a + b, 0);
  assert.ok(bytes > 10_000 && bytes < 300_000, `queue page weight ${bytes} bytes`);
  await page.context().close();
});

test("alert page: story, entities, resolve as a true alert, history", async () => {
  const page = await signIn(env, "analyst");
  await page.goto(env.base + "/alerts?q=" + encodeURIComponent('"Suspicious PowerShell launched by an Office document"') + "&period=all");
  await Promise.all([page.waitForURL(/\/alerts\/[^?]+$/), page.locator("#alert-table td.title a").first().click()]);
  assert.equal(await page.textContent("#alert-title"), "Suspicious PowerShell launched by an Office document");

  // The alert story: the tree from explorer.exe down, this alert highlighted, the
  // credential-theft alert on the same tree after it.
  const tree = page.locator('[data-testid="story-tree"]');
  await tree.waitFor();
  for (const image of ["explorer.exe", "outlook.exe", "winword.exe", "powershell.exe", "rundll32.exe", "mimikatz.exe"]) {
    assert.equal(await tree.locator(".image", { hasText: image }).count() >= 1, true, image);
  }
  assert.equal(await tree.locator("li.focus").count(), 1);
  assert.match(await tree.locator('.tree-alert-after').first().textContent(), /Mimikatz/);
  // Collapse the root, then expand it again.
  const root = tree.locator("details").first();
  await root.locator("summary").first().click();
  assert.equal(await root.evaluate((d) => d.open), false);
  assert.equal(await tree.locator(".image", { hasText: "mimikatz.exe" }).isVisible(), false);
  await page.click("#tree-expand");
  assert.equal(await tree.locator(".image", { hasText: "mimikatz.exe" }).isVisible(), true);

  // Select an entity: the details pane switches to it.
  const device = page.locator('[data-testid="entity-button"]', { hasText: "ws-17" });
  await device.click();
  const pane = page.locator('[data-testid="entity-pane"]');
  await pane.waitFor();
  assert.match(await pane.textContent(), /Device/);
  assert.match(await pane.textContent(), /Windows11/);
  assert.match(await pane.textContent(), /Mimikatz/, "other alerts for the device");
  assert.equal(await device.getAttribute("aria-pressed"), "true");
  await shot(page, "alert.png", true);

  // Resolve as a true alert (malware) with a comment.
  await page.click("#manage-open");
  await page.selectOption("#m-status", "resolved");
  await page.selectOption("#m-class", "truePositive");
  const offered = await page.locator("#m-det option:not([hidden])").evaluateAll((os) => os.map((o) => o.value));
  assert.ok(offered.includes("malware") && !offered.includes("notMalicious"), "determinations follow the classification");
  await page.selectOption("#m-det", "malware");
  await page.fill("#m-comment", "Confirmed: macro dropper, host isolated.");
  // A comment half written in the comment box survives the pane's save and reload.
  await page.fill("#comment-text", "Draft: check the other hosts");
  await Promise.all([page.waitForEvent("load"), page.click("#manage-save")]);
  assert.equal(await page.inputValue("#comment-text"), "Draft: check the other hosts");
  await page.fill("#comment-text", "");
  assert.equal(await page.textContent('[data-testid="alert-status"]'), "Resolved");
  assert.equal(await page.textContent('[data-testid="alert-classification"]'), "True alert");
  assert.equal(await page.textContent('[data-testid="alert-determination"]'), "Malware");
  const history = await page.textContent('[data-testid="history"]');
  assert.match(history, /Confirmed: macro dropper, host isolated\./);
  assert.match(history, /analyst/);
  assert.match(history, /Status changed from New to Resolved/);

  // The incident it belongs to.
  await Promise.all([page.waitForURL(/\/incidents\/inc-/), page.click('[data-testid="incident-link"]')]);
  const reasons = await page.textContent('[data-testid="reasons"]');
  assert.match(reasons, /alice/);
  await shot(page, "incident.png", true);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("bulk: select rows and assign them in one go", async () => {
  const page = await signIn(env, "analyst");
  await page.goto(env.base + "/alerts?severity=low");
  const boxes = page.locator(".row-select");
  // Keyboard: the skip link goes straight to the results, and j moves on from a ticked box.
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to the alerts");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "results");
  await boxes.nth(0).check();
  await page.keyboard.press("j");
  assert.equal(await page.evaluate(() => document.activeElement.closest("tr").getAttribute("data-id")),
    await page.locator("#alert-table tbody tr").nth(1).getAttribute("data-id"));
  await boxes.nth(1).check();
  assert.equal(await page.textContent("#selected-count"), "2");
  const ids = [await boxes.nth(0).getAttribute("value"), await boxes.nth(1).getAttribute("value")];
  await page.click("#manage-open");
  // The pane's count follows the selection while it is open.
  assert.equal(await page.textContent("#manage-target"), "2 alerts selected");
  await boxes.nth(2).check();
  assert.equal(await page.textContent("#manage-target"), "3 alerts selected");
  await boxes.nth(2).uncheck();
  assert.equal(await page.textContent("#manage-target"), "2 alerts selected");
  await page.selectOption("#m-assigned", { label: "Assign to me (analyst)" });
  await page.selectOption("#m-status", "inProgress");
  await Promise.all([page.waitForEvent("load"), page.click("#manage-save")]);
  await page.locator("#toast.show").filter({ hasText: /^2 changed, 0 unchanged$/ }).waitFor();
  for (const id of ids) {
    const r = await page.request.get(env.base + "/api/v1/alerts/" + encodeURIComponent(id));
    const a = await r.json();
    assert.equal(a.assignedTo, "analyst");
    assert.equal(a.status, "inProgress");
  }
  await page.context().close();
});

test("bulk: select every alert that matches the view, beyond the page, and tag them all", async () => {
  const page = await signIn(env, "analyst");
  await page.goto(env.base + "/alerts?severity=medium");
  const total = Number((await page.textContent('[data-testid="summary"]')).match(/of ([\d,]+)/)[1].replace(/,/g, ""));
  assert.ok(total > 50, `more than a page (${total})`);
  const offer = page.locator("#select-matching");
  assert.equal(await offer.isVisible(), false, "offered once the page is ticked");
  await page.check("#select-all");
  assert.equal(await offer.textContent(), `Select all ${total.toLocaleString("en-US")} alerts that match`);
  await offer.click();
  await offer.filter({ hasText: `All ${total} matching alerts selected` }).waitFor();
  assert.equal(await page.textContent("#selected-count"), String(total));
  await shot(page, "select-matching.png");
  await page.click("#manage-open");
  assert.equal(await page.textContent("#manage-target"), `${total} alerts selected`);
  await page.fill("#m-tags", "every-medium");
  await Promise.all([page.waitForEvent("load"), page.click("#manage-save")]);
  await page.locator("#toast.show").filter({ hasText: new RegExp(`^${total} changed, 0 unchanged$`) }).waitFor();
  const tagged = await (await page.request.get(env.base + "/api/v1/alerts?severity=medium&tag=every-medium&pageSize=1")).json();
  assert.equal(tagged.total, total, "exactly the view's alerts");
  // Unticking a row goes back to the ticked rows.
  await page.check("#select-all");
  await page.click("#select-matching");
  await page.locator("#select-matching").filter({ hasText: "matching alerts selected" }).waitFor();
  await page.locator(".row-select").first().uncheck();
  assert.equal(await page.textContent("#selected-count"), "49");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a reader sees no controls that would fail, and the API refuses a resolve", async () => {
  const page = await signIn(env, "reader");
  assert.equal(await page.locator("#manage-open").count(), 0);
  assert.equal(await page.locator(".row-select").count(), 0);
  const id = await page.locator("#alert-table tbody tr").first().getAttribute("data-id");
  await page.goto(env.base + "/alerts/" + encodeURIComponent(id));
  assert.equal(await page.locator("#manage-open").count(), 0);
  assert.equal(await page.locator("#comment-form").count(), 0);
  // Even a hand-made request with the session's CSRF token is refused.
  const status = await page.evaluate(async (alertId) => {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const r = await fetch("/api/v1/alerts/" + encodeURIComponent(alertId), {
      method: "PATCH", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ status: "resolved", version: 1 }),
    });
    return r.status;
  }, id);
  assert.equal(status, 403);
  const after = await (await page.request.get(env.base + "/api/v1/alerts/" + encodeURIComponent(id))).json();
  assert.notEqual(after.status, "resolved");
  await page.context().close();
});

test("attacker-controlled text renders inert on every page", async () => {
  const page = await signIn(env, "analyst");
  await page.addInitScript(() => { window.alert = () => { window.__pwned = "alert()"; }; });
  const pages = [
    "/alerts?q=evil&period=all",
    "/alerts/" + encodeURIComponent(env.hostileId),
    "/alerts/" + encodeURIComponent(env.hostileId) + "/entities/2",
    "/entities/device/xss-host",
  ];
  for (const p of pages) {
    const resp = await page.goto(env.base + p);
    assert.equal(resp.status(), 200, p);
    assert.match(resp.headers()["content-security-policy"], /script-src 'self'/);
    await page.waitForLoadState("networkidle");
    assert.equal(await page.evaluate(() => window.__pwned), undefined, `no script ran on ${p}`);
    assert.equal(await page.locator("main script, main img, main iframe, main svg").count(), 0, `no injected elements on ${p}`);
  }
  // The text is there, as text.
  await page.goto(env.base + "/alerts/" + encodeURIComponent(env.hostileId));
  assert.match(await page.textContent("#alert-title"), /<script>window.__pwned='title'<\/script>/);
  assert.match(await page.textContent('[data-testid="story-tree"]'), /onerror=window.__pwned='cmd'/);
  assert.equal(await page.locator('a[href^="javascript:"]').count(), 0);
  // Clicking every entity button does not run anything either.
  for (const b of await page.locator('[data-testid="entity-button"]').all()) {
    await b.click();
    await page.locator('[data-testid="entity-pane"]').waitFor();
  }
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("manual incident control: unlink an alert, refuse a bad target, link it back", async () => {
  const page = await signIn(env, "analyst");
  await page.goto(env.base + "/alerts?q=" + encodeURIComponent('"Mass download by a single user"') + "&period=all&status=any");
  await Promise.all([page.waitForURL(/\/alerts\/[^?]+$/), page.locator("#alert-table td.title a").first().click()]);
  const id = decodeURIComponent(page.url().split("/alerts/")[1]);
  const before = (await (await page.request.get(env.base + "/api/v1/alerts/" + encodeURIComponent(id))).json()).incidentId;
  assert.ok(before);
  // Unlinking asks first; declined, nothing moves.
  page.removeAllListeners("dialog");
  const asked = [];
  page.once("dialog", (d) => { asked.push(d.message()); d.dismiss(); });
  await page.click("#unlink");
  assert.match(asked[0], /new incident of its own/);
  assert.equal((await (await page.request.get(env.base + "/api/v1/alerts/" + encodeURIComponent(id))).json()).incidentId, before);
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForEvent("load"), page.click("#unlink")]);
  const alone = (await (await page.request.get(env.base + "/api/v1/alerts/" + encodeURIComponent(id))).json()).incidentId;
  assert.ok(alone && alone !== before, "unlinked into a new incident");
  await page.fill("#link-target", "inc-does-not-exist");
  await page.click("#link-form button[type=submit]");
  await page.locator("#link-error").filter({ hasText: /inc-does-not-exist/ }).waitFor();
  await page.fill("#link-target", before);
  await Promise.all([page.waitForEvent("load"), page.click("#link-form button[type=submit]")]);
  const back = (await (await page.request.get(env.base + "/api/v1/alerts/" + encodeURIComponent(id))).json()).incidentId;
  assert.equal(back, before);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("manage incident: saving nothing says so; a change is saved, confirmed after the reload", async () => {
  const page = await signIn(env, "analyst");
  await page.goto(env.base + "/incidents");
  await Promise.all([page.waitForURL(/\/incidents\/[^?]+$/), page.locator("table.grid td a[href^='/incidents/']").first().click()]);
  const id = decodeURIComponent(page.url().split("/incidents/")[1]);
  const before = await (await page.request.get(env.base + "/api/v1/incidents/" + encodeURIComponent(id))).json();
  await page.click("#manage-open");
  await page.click("#manage-save");
  await page.locator("#manage-error").filter({ hasText: /Nothing to change/ }).waitFor();
  const same = await (await page.request.get(env.base + "/api/v1/incidents/" + encodeURIComponent(id))).json();
  assert.equal(same.version, before.version, "an unchanged form sends nothing");
  await page.selectOption("#m-status", "inProgress");
  await page.fill("#m-tags", "ui-keep, ui-drop");
  await Promise.all([page.waitForEvent("load"), page.click("#manage-save")]);
  await page.locator("#toast.show").filter({ hasText: "Saved" }).waitFor();
  const after = await (await page.request.get(env.base + "/api/v1/incidents/" + encodeURIComponent(id))).json();
  assert.equal(after.status, "inProgress");
  assert.ok(after.tags.includes("ui-drop"));
  // Tags are removed from the same pane.
  await page.click("#manage-open");
  await page.check('#m-remove-tags input[value="ui-drop"]');
  await Promise.all([page.waitForEvent("load"), page.click("#manage-save")]);
  const tagged = await (await page.request.get(env.base + "/api/v1/incidents/" + encodeURIComponent(id))).json();
  assert.ok(tagged.tags.includes("ui-keep") && !tagged.tags.includes("ui-drop"), JSON.stringify(tagged.tags));
  // A comment straight from the page, without the pane; markup in it stays text.
  const note = "Called the desk <b>ok</b>";
  await page.fill("#comment-text", note);
  await Promise.all([page.waitForEvent("load"), page.click("#comment-form button[type=submit]")]);
  await page.locator("ol.history li.comment .text").filter({ hasText: note }).waitFor();
  await page.locator("#hist-h").scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(artifacts, "incident-comment.png") });
  const commented = await (await page.request.get(env.base + "/api/v1/incidents/" + encodeURIComponent(id))).json();
  assert.equal(commented.version, tagged.version, "a comment is not a change");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("settings: an administrator mints a token shown once, it works, revoking it ends it", async () => {
  const analyst = await signIn(env, "analyst");
  assert.equal(await analyst.locator('header a[href="/settings"]').count(), 0, "no Settings link without the permission");
  const denied = await analyst.goto(env.base + "/settings");
  assert.equal(denied.status(), 403);
  await analyst.context().close();

  const page = await signIn(env, "admin");
  await page.click('header a[href="/settings"]');
  await page.waitForURL(/\/settings$/);
  assert.match(await page.textContent('[data-testid="users"]'), /analyst/);
  await page.fill("#token-name", "siem-forwarder");
  await page.selectOption("#token-role", "Ingest only");
  await page.click("#token-form button[type=submit]");
  const secret = page.locator('[data-testid="token-secret"]');
  await secret.waitFor();
  const token = (await secret.textContent()).trim();
  assert.match(token, /^rmp_/);
  // Listed at once, beside the secret, without a reload.
  const fresh = (await page.locator('[data-testid="tokens"] tbody tr').first().locator("td").allTextContents()).map((c) => c.trim());
  assert.deepEqual(fresh.slice(0, 3), ["siem-forwarder", "Ingest only", "All"]);
  const send = () => fetch(env.base + "/api/v1/alerts", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ providerAlertId: "siem-1", serviceSource: "microsoftSentinel", title: "From the SIEM", severity: "low",
      firstActivityDateTime: new Date().toISOString(), lastActivityDateTime: new Date().toISOString(), evidence: [] }),
  });
  assert.ok([200, 201].includes((await send()).status), "the minted token ingests");
  await page.reload();
  const row = page.locator('[data-testid="tokens"] tr', { hasText: "siem-forwarder" });
  assert.doesNotMatch(await page.content(), new RegExp(token), "the secret is never shown again");
  page.removeAllListeners("dialog");
  page.on("dialog", (d) => d.accept());
  await Promise.all([page.waitForEvent("load"), row.locator("button.revoke").click()]);
  assert.match(await page.locator('[data-testid="tokens"] tr', { hasText: "siem-forwarder" }).textContent(), /Revoked/);
  assert.equal((await send()).status, 401, "a revoked token is refused");
  await page.context().close();
});

test("settings: an administrator adds a user, who signs in, then changes and disables them", async () => {
  const page = await signIn(env, "admin");
  await page.goto(env.base + "/settings");
  PASSWORDS.triager = "Triager-pass-0001";
  await page.fill("#user-name", "triager");
  await page.fill("#user-display", "Tri Ager");
  await page.fill("#user-password", PASSWORDS.triager);
  await page.selectOption("#user-role", "Security reader");
  await page.fill("#user-sources", "endpoint");
  await Promise.all([page.waitForEvent("load"), page.click("#user-form button[type=submit]")]);
  const row = () => page.locator('[data-testid="users"] tr', { hasText: "triager" });
  const cells = async () => (await row().locator("td").allTextContents()).map((c) => c.trim());
  assert.deepEqual((await cells()).slice(0, 5), ["triager", "Tri Ager", "Security reader", "microsoftDefenderForEndpoint", "Enabled"]);

  // The API's refusal shows in the form, and nothing is added.
  await page.fill("#user-name", "TRIAGER");
  await page.fill("#user-password", "Another-pass-0001");
  await page.click("#user-form button[type=submit]");
  await page.locator("#user-error").filter({ hasText: /is taken/ }).waitFor();
  assert.equal(await page.locator('[data-testid="users"] tbody tr').count(), 4);

  // The new user signs in and sees only endpoint alerts, read-only.
  const triager = await signIn(env, "triager");
  assert.equal(await triager.textContent('[data-testid="signed-in-role"]'), "Security reader");
  const sources = await (await triager.request.get(env.base + "/api/v1/alerts?pageSize=200")).json();
  assert.ok(sources.items.length > 0 && sources.items.every((a) => a.serviceSource === "microsoftDefenderForEndpoint"));

  // Edit: operator for every source, then disabled. Only what changed is sent.
  await row().locator("button.user-edit").click();
  const dialog = page.locator("#user-dialog");
  await dialog.waitFor();
  assert.equal(await page.inputValue("#edit-display"), "Tri Ager");
  assert.equal(await page.inputValue("#edit-sources"), "microsoftDefenderForEndpoint");
  await page.click("#user-edit-form button[type=submit]");
  await page.locator("#user-edit-error").filter({ hasText: "Nothing changed." }).waitFor();
  await page.selectOption("#edit-role", "Security operator");
  assert.equal(await page.textContent("#user-edit-error"), "", "a change clears the last message");
  await page.fill("#edit-sources", "");
  await page.check("#edit-disabled");
  await shot(page, "settings-users.png");
  const [patch] = await Promise.all([
    page.waitForRequest((r) => r.method() === "PATCH" && r.url().includes("/api/v1/users/")),
    page.waitForEvent("load"),
    page.click("#user-edit-form button[type=submit]"),
  ]);
  assert.deepEqual(JSON.parse(patch.postData()), { role: "Security operator", sources: null, disabled: true });
  assert.deepEqual((await cells()).slice(2, 5), ["Security operator", "All", "Disabled"]);
  // Disabling ended the session, and signing in again is refused.
  assert.equal((await triager.request.get(env.base + "/api/v1/alerts")).status(), 401);
  await triager.context().close();
  const again = await fetch(env.base + "/api/v1/session", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "triager", password: PASSWORDS.triager }),
  });
  assert.equal(again.status, 401);

  // An administrator cannot disable their own account, nor demote the last enabled Global
  // administrator: the form says why, and nothing changes.
  await page.locator('[data-testid="users"] tr', { hasText: "Ad Min" }).locator("button.user-edit").click();
  await page.check("#edit-disabled");
  await page.click("#user-edit-form button[type=submit]");
  await page.locator("#user-edit-error").filter({ hasText: /cannot disable your own account/ }).waitFor();
  await page.uncheck("#edit-disabled");
  await page.selectOption("#edit-role", "Security operator");
  await page.click("#user-edit-form button[type=submit]");
  await page.locator("#user-edit-error").filter({ hasText: /role: this is the last enabled Global administrator/ }).waitFor();
  await page.reload();
  assert.match(await page.locator('[data-testid="users"] tr', { hasText: "Ad Min" }).textContent(), /Global administrator.*Enabled/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("settings: an administrator makes a custom role and gives it to a user", async () => {
  const page = await signIn(env, "admin");
  await page.goto(env.base + "/settings");
  const roles = page.locator('[data-testid="roles"]');
  assert.match(await roles.textContent(), /Security operator.*Built-in/s);
  // Refused by the API, shown in the form: a source-limited role with a tenant-wide permission.
  await page.fill("#role-name", "Identity triage");
  await page.check('input[name="perm"][value="alerts.manage"]');
  await page.check('input[name="perm"][value="users.manage"]');
  await page.fill("#role-sources", "identity");
  await page.click("#role-form button[type=submit]");
  await page.locator("#role-error").filter({ hasText: /users\.manage/ }).waitFor();
  await page.uncheck('input[name="perm"][value="users.manage"]');
  await page.check('input[name="perm"][value="incidents.manage"]');
  await Promise.all([page.waitForEvent("load"), page.click("#role-form button[type=submit]")]);
  const row = roles.locator("tr", { hasText: "Identity triage" });
  const cells = (await row.locator("td").allTextContents()).map((c) => c.trim());
  assert.deepEqual(cells, ["Identity triage", "Custom",
    "alerts.read, alerts.manage, incidents.read, incidents.manage", "microsoftDefenderForIdentity"]);
  // The new role is offered for users and tokens at once.
  assert.ok((await page.locator("#user-role option").allTextContents()).includes("Identity triage"));
  assert.ok((await page.locator("#token-role option").allTextContents()).includes("Identity triage"));
  await page.locator('[data-testid="users"] tr', { hasText: "Rea Der" }).locator("button.user-edit").click();
  await page.selectOption("#edit-role", "Identity triage");
  await Promise.all([page.waitForEvent("load"), page.click("#user-edit-form button[type=submit]")]);
  const reader = (await page.locator('[data-testid="users"] tr', { hasText: "Rea Der" }).locator("td").allTextContents()).map((c) => c.trim());
  assert.deepEqual(reader.slice(2, 4), ["Identity triage", "All"], "a new role without sources keeps the user's (none)");
  await shot(page, "settings-roles.png", true);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a session that ends while a page is open sends the window to sign in, then back", async () => {
  const page = await signIn(env, "analyst");
  await page.goto(env.base + "/alerts/" + encodeURIComponent(env.hostileId));
  const other = await page.context().newPage();
  await other.goto(env.base + "/alerts");
  await Promise.all([other.waitForURL(/\/login/), other.click("#sign-out")]);
  await other.close();
  // The entity button's fragment request meets the ended session.
  await Promise.all([page.waitForURL(/\/login\?next=/), page.locator("button.entity").first().click()]);
  assert.equal(new URL(page.url()).searchParams.get("next"), "/alerts/" + encodeURIComponent(env.hostileId));
  assert.equal(await page.locator("#details #login-form").count(), 0, "no sign-in form inside the pane");
  assert.equal(await page.getAttribute("#login-form", "method"), "post", "a form without its script never puts the password in the URL");
  await page.fill("#username", "analyst");
  await page.fill("#password", PASSWORDS.analyst);
  await Promise.all([page.waitForURL(/\/alerts\/[^/]+$/), page.click("button[type=submit]")]);
  assert.ok(await page.locator("#manage-open").count() > 0, "back on the whole alert page");
  await page.context().close();
});

test("search: a status term takes over from the status boxes", async () => {
  const page = await signIn(env, "analyst");
  const id = await page.locator("#alert-table tbody tr").first().getAttribute("data-id");
  const version = await page.locator("#alert-table tbody tr").first().getAttribute("data-version");
  const status = await page.evaluate(async ([alertId, v]) => {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const r = await fetch("/api/v1/alerts/" + encodeURIComponent(alertId), {
      method: "PATCH", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ status: "resolved", version: Number(v) }),
    });
    return r.status;
  }, [id, version]);
  assert.equal(status, 200);
  await page.fill("#q", "status:resolved");
  await Promise.all([page.waitForResponse((r) => r.url().includes("q=status")), page.press("#q", "Enter")]);
  await page.waitForURL(/q=status/);
  assert.doesNotMatch(page.url(), /status=new/, "the boxes were cleared before the search was sent");
  const statuses = await page.locator("#alert-table td.status").allTextContents();
  assert.ok(statuses.length > 0 && statuses.every((s) => s.trim() === "Resolved"), JSON.stringify(statuses));
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("entity page lists the alerts and incidents of a device", async () => {
  const page = await signIn(env, "analyst");
  await page.goto(env.base + "/entities/device/WS-17.corp.contoso.com");
  assert.equal(await page.textContent('[data-testid="entity-value"]'), "ws-17");
  const alerts = await page.textContent('[data-testid="entity-alerts"]');
  assert.match(alerts, /Mimikatz/);
  assert.match(await page.textContent('[data-testid="entity-incidents"]'), /Multi-stage incident/);
  const missing = await page.goto(env.base + "/entities/printer/x");
  assert.equal(missing.status(), 404);
  await page.context().close();
});

test("incidents queue and a readable wide screen", async () => {
  const page = await signIn(env, "analyst", { width: 1920, height: 1080 });
  await page.goto(env.base + "/incidents");
  const rows = await page.locator("#incident-table tbody tr").count();
  assert.ok(rows > 0);
  // Incidents holding an alert about one device: the attack's, not the background's.
  const searches = [];
  page.on("request", (r) => { if (r.url().includes("q=entity.device")) searches.push(r.url()); });
  await page.fill("#q", "entity.device:ws-17");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => location.search.includes("q=entity.device"));
  await page.waitForFunction((n) => document.querySelectorAll("#incident-table tbody tr").length < n, rows);
  const filtered = await page.locator("#incident-table tbody tr").count();
  assert.ok(filtered >= 1, `${filtered} of ${rows}`);
  assert.equal(await page.inputValue("#q"), "entity.device:ws-17");
  // Enter sends the search once (the text box's change event used to send it again).
  await page.waitForTimeout(300);
  assert.equal(searches.length, 1, searches.join("\n"));
  await page.screenshot({ path: join(artifacts, "incidents-filtered.png") });
  await page.context().close();
});
