// The Sổ Tay web app in a real browser: Debian's chromium driven by playwright-core against the
// real `sotay-server --demo`, with a real `sotay` phone syncing beside it. Every page is checked
// with axe-core (no serious or critical violation), photographed at 1280 and 360 px into
// target/web-screenshots/, made sure not to scroll sideways at 360 px (a wide table scrolls in its
// own box, the page does not), and walked with the Tab key, every stop showing a focus ring. Run by
// .ci/run:
//
//   SOTAY_SERVER_BIN=… SOTAY_CLI_BIN=… SOTAY_SCREENSHOTS=target/web-screenshots node tests/web/run.mjs
//
// What it proves, as a person would see it: each role signs in and sees its pages; the dashboard's
// figures equal a count over the raw records (the JSON API); the records filter works; a conflict
// resolved in the page reaches the phone; a record approved and one returned in the page reach the
// phone with their outcome; a suspected duplicate is merged; the XLSX download holds the report's
// cells; a reviewer gets no GBV case page; a focal point's view of a case is in the audit log; a
// person with only a keyboard signs in, and the skip link takes them to the page's content.

import { chromium } from "playwright-core";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import net from "node:net";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const SERVER = process.env.SOTAY_SERVER_BIN;
const CLI = process.env.SOTAY_CLI_BIN;
const SHOTS = process.env.SOTAY_SCREENSHOTS ?? "target/web-screenshots";
const PASSWORD = "sotay-demo-2026";
assert.ok(SERVER && CLI, "set SOTAY_SERVER_BIN and SOTAY_CLI_BIN");
mkdirSync(SHOTS, { recursive: true });

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

// The server, seeded with the demo commune.
const dir = mkdtempSync(join(tmpdir(), "sotay-web-"));
const dbUrl = `sqlite://${join(dir, "sotay.db")}`;
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(SERVER, ["--demo", "--database-url", dbUrl, "--bind", `127.0.0.1:${port}`, "--metrics-bind", "127.0.0.1:0"], {
  stdio: ["ignore", "ignore", "inherit"],
  env: { ...process.env, RUST_LOG: "warn" },
});
const stop = () => server.kill("SIGTERM");
process.on("exit", stop);
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/readyz`)).ok) break;
  } catch {}
  if (i > 600) throw new Error("the server did not start");
  await new Promise((r) => setTimeout(r, 100));
}

// A phone of collaborator ctv1, with the `sotay` command line.
const phoneDir = join(dir, "phone");
const sotay = (...args) => execFileSync(CLI, ["--dir", phoneDir, "--lang", "en", ...args], { encoding: "utf8" }).trim();
const code = execFileSync(CLI, ["admin", "--database-url", dbUrl, "enrol-code", "ctv1"], { encoding: "utf8" }).trim();
sotay("enrol", "--server", base, "--name", "Điện thoại thử", code);
sotay("sync");
const phoneViews = () => sotay("list", "--json").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const phoneView = (id) => JSON.parse(sotay("show", id));

// An independent count: every record of the year through the JSON API, summed here.
async function apiToken(username) {
  const r = await fetch(`${base}/api/v1/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  return (await r.json()).access_token;
}
async function allRecords(token) {
  const out = [];
  let after = "";
  for (;;) {
    const r = await fetch(`${base}/api/v1/records?limit=5000${after ? `&after=${after}` : ""}`, { headers: { authorization: `Bearer ${token}` } });
    const page = await r.json();
    out.push(...page);
    if (page.length < 5000) return out;
    after = page[page.length - 1].id;
  }
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
const violations = [];
const costs = [];
let shots = 0;

async function signIn(username) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.getByLabel("Tên đăng nhập").fill(username);
  await page.getByLabel("Mật khẩu").fill(PASSWORD);
  await Promise.all([
    page.waitForURL((url) => url.pathname !== "/login"),
    page.getByRole("button", { name: "Đăng nhập" }).click(),
  ]);
  return page;
}

// At a phone's 360 px the page itself must not scroll sideways: what is too wide (a table) scrolls
// in a box of its own. The message names the widest elements that stick out of the page.
async function noSideScroll(page, name) {
  const { width, scrollWidth, wide } = await page.evaluate(() => {
    const width = Math.min(window.innerWidth, document.documentElement.clientWidth);
    const scrollWidth = document.documentElement.scrollWidth;
    if (scrollWidth <= width + 1) return { width, scrollWidth, wide: [] };
    const inOwnBox = (el) => {
      for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
        if (["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(up).overflowX)) return true;
      }
      return false;
    };
    const wide = [...document.body.querySelectorAll("*")]
      .map((el) => ({ el, right: el.getBoundingClientRect().right + window.scrollX }))
      .filter(({ el, right }) => right > width + 1 && !inOwnBox(el))
      .sort((a, b) => b.right - a.right)
      .slice(0, 5)
      .map(({ el, right }) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}${el.className && typeof el.className === "string" ? `.${el.className.trim().split(/\s+/).join(".")}` : ""} to ${Math.round(right)} px`);
    return { width, scrollWidth, wide };
  });
  assert.ok(scrollWidth <= width + 1, `${name}: the page scrolls sideways at ${width} px (${scrollWidth} px wide): ${wide.join(", ")}`);
}

// Tab through the page (its first stops, from where focus is, until focus comes round again): every
// element the key reaches shows where focus is, by an outline or a box shadow. A date field takes
// several stops (day, month, year, its calendar button): it is looked at when focus arrives.
async function focusRings(page, name, stops = 50) {
  await page.evaluate(() => {
    window.tabbed = { first: null, last: null };
  });
  let reached = 0;
  for (let i = 0; i < stops; i++) {
    await page.keyboard.press("Tab");
    const at = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body || el === window.tabbed.last) return null;
      if (el === window.tabbed.first) return { round: true };
      window.tabbed.first ??= el;
      window.tabbed.last = el;
      const s = getComputedStyle(el);
      const what = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""} "${(el.textContent || el.name || "").trim().slice(0, 30)}"`;
      const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
      return { what, ring };
    });
    if (!at) continue;
    if (at.round) break;
    reached++;
    assert.ok(at.ring, `${name}: ${at.what} shows no focus ring when reached by Tab`);
  }
  assert.ok(reached > 0, `${name}: Tab reaches nothing`);
}

// axe-core on the page as shown, screenshots at both widths, no sideways scroll at 360 px, and a
// focus ring on whatever the Tab key reaches.
async function check(page, name) {
  // Evaluated through the browser's debugging protocol: the page's CSP (rightly) refuses inline
  // scripts, and is left on.
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  for (const v of result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
    violations.push(`${name}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  }
  // What the page cost: bytes transferred (the document and what it loaded) and the server's time.
  const cost = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const rest = performance.getEntriesByType("resource").reduce((n, r) => n + r.transferSize, 0);
    return { bytes: (nav?.transferSize ?? 0) + rest, server: nav ? nav.responseStart - nav.requestStart : 0 };
  });
  costs.push(`${name}: ${(cost.bytes / 1024).toFixed(1)} KB, ${cost.server.toFixed(1)} ms to first byte`);
  assert.ok(cost.bytes <= 100 * 1024, `${name}: ${cost.bytes} bytes transferred, over 100 KB`);
  for (const width of [1280, 360]) {
    await page.setViewportSize({ width, height: 900 });
    if (width === 360) await noSideScroll(page, name);
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
    shots++;
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await focusRings(page, name);
}

const year = new Date().getFullYear();

// 1. The reviewer: dashboard figures against the raw records.
const reviewer = await signIn("vhxh");
await reviewer.goto(`${base}/?year=${year}`);
await check(reviewer, "dashboard-reviewer");
const figure = async (page, name) => (await page.locator(`[data-figure="${name}"]`).textContent()).trim();
const records = await allRecords(await apiToken("vhxh"));
const activities = records.filter((r) => r.kind === "activity" && !r.deleted && r.held_on?.startsWith(`${year}-`));
const sum = (key) => activities.reduce((n, r) => n + (r[key] ?? 0), 0);
assert.equal(Number(await figure(reviewer, "activities")), activities.length, "activities held");
assert.equal(Number(await figure(reviewer, "female")), sum("attendance_female"), "female participants");
assert.equal(Number(await figure(reviewer, "male")), sum("attendance_male"), "male participants");
const trainings = activities.filter((r) => r.activity_type === "training");
assert.equal(Number(await figure(reviewer, "trainings")), trainings.length, "trainings");
console.log(`dashboard: ${activities.length} activities, ${sum("attendance_female")} women, ${sum("attendance_male")} men: as counted from the records`);

// 2. Filter the records: submitted ones only.
await reviewer.goto(`${base}/records`);
await check(reviewer, "records");
await reviewer.getByLabel("Trạng thái duyệt").selectOption("submitted");
await reviewer.getByRole("button", { name: "Lọc" }).click();
await reviewer.waitForURL(/state=submitted/);
const states = await reviewer.locator("table.records tbody tr td:nth-child(7)").allTextContents();
assert.ok(states.length > 0 && states.every((s) => s.includes("Đã gửi, chờ duyệt")), `only submitted records: ${states.slice(0, 3)}`);

// 3. A conflict on the phone, resolved in the page, reaches the phone.
const conflicted = phoneViews().find((v) => (v.conflicts ?? []).length > 0);
assert.ok(conflicted, "the demo gives ctv1's village a conflict");
const field = conflicted.conflicts[0].field;
await reviewer.goto(`${base}/records/${conflicted.id}`);
await check(reviewer, "record-conflict");
const section = reviewer.locator("form.conflict").first();
await section.locator('input[type="radio"]').nth(1).check();
await section.getByRole("button").click();
await reviewer.waitForURL(/done=1/);
sotay("sync");
assert.equal((phoneView(conflicted.id).conflicts ?? []).length, 0, `the phone sees the conflict on ${field} resolved`);

// 4. Approve one submitted record and return another: the phone gets both outcomes.
const activity = [
  "-s", "unit=hlhpn", "-s", "plan_item=II.7.1", "-s", "activity_type=communication", "-s", "format=club",
  "-s", "topics=+gbv_family", "-s", `held_on=${year}-11-20`, "-s", "location=Nhà văn hóa", "-s", "attendance_female=12", "-s", "attendance_male=7",
];
const toApprove = sotay("add", ...activity);
const toReturn = sotay("add", ...activity.map((a) => (a === "attendance_female=12" ? "attendance_female=13" : a)));
sotay("submit", toApprove);
sotay("submit", toReturn);
sotay("sync");
await reviewer.goto(`${base}/records/${toApprove}`);
await check(reviewer, "record-review");
await reviewer.getByRole("button", { name: "Duyệt", exact: true }).click();
await reviewer.waitForURL(/done=1/);
await reviewer.goto(`${base}/records/${toReturn}`);
await reviewer.getByLabel("Lý do trả lại").fill("Thiếu số người dân tộc thiểu số");
await reviewer.getByRole("button", { name: "Trả lại" }).click();
await reviewer.waitForURL(/done=1/);
sotay("sync");
assert.equal(phoneView(toApprove).review_state, "approved", "the phone sees the approval");
assert.equal(phoneView(toReturn).review_state, "returned", "the phone sees the return");
assert.equal(phoneView(toReturn).review_comment, "Thiếu số người dân tộc thiểu số");

// 5. The queues, and a suspected duplicate merged.
await reviewer.goto(`${base}/queues`);
await check(reviewer, "queues");
const pairs = reviewer.locator('form[action="/duplicates/merge"]');
if ((await pairs.count()) > 0) {
  const drop = await pairs.first().locator('input[name="second"]').getAttribute("value");
  await pairs.first().getByRole("button").click();
  await reviewer.waitForURL(/done=1/);
  const dropped = await allRecords(await apiToken("vhxh")).then((all) => all.find((r) => r.id === drop));
  assert.ok(!dropped || dropped.deleted, "the merged duplicate is deleted");
} else {
  throw new Error("the demo has no suspected duplicates to merge");
}

// 6. Reports, and the XLSX download holds the figures of the page.
await reviewer.goto(`${base}/reports?period=year&year=${year}`);
await check(reviewer, "reports");
const pageCells = await reviewer.locator("table[data-table] td").allTextContents();
const [download] = await Promise.all([reviewer.waitForEvent("download"), reviewer.getByText("Tải về Excel (XLSX)").click()]);
const xlsx = readFileSync(await download.path());
const strings = unzip(xlsx);
const sheetText = Object.entries(strings).filter(([n]) => n.startsWith("xl/worksheets/") || n === "xl/sharedStrings.xml").map(([, t]) => t).join(" ");
const numbers = pageCells.filter((c) => /^\d{2,}$/.test(c.trim())).slice(0, 20);
assert.ok(numbers.length > 0, "the report page shows figures");
for (const n of numbers) assert.ok(sheetText.includes(`<v>${n}</v>`), `the workbook holds ${n}`);
console.log(`xlsx: ${xlsx.length} bytes, ${numbers.length} figures of the page found in its cells`);

// 7. A reviewer gets no GBV case page.
const cases = await allRecords(await apiToken("daumoi")).then((all) => all.filter((r) => r.kind === "gbv_referral"));
assert.ok(cases.length > 0, "the demo has GBV cases");
const answer = await reviewer.goto(`${base}/records/${cases[0].id}`);
assert.equal(answer.status(), 404, "a reviewer gets no GBV case page");
await check(reviewer, "error-404");

// 8. The focal point opens a case (audited); the admin sees the view in the audit log.
const focal = await signIn("daumoi");
await focal.goto(`${base}/?year=${year}`);
await check(focal, "dashboard-focal-point");
await focal.goto(`${base}/records?kind=gbv_referral`);
await check(focal, "cases");
await focal.goto(`${base}/records/${cases[0].id}`);
await check(focal, "case");
const admin = await signIn("quantri");
await admin.goto(`${base}/admin`);
await check(admin, "admin");
await admin.goto(`${base}/admin/audit?action=gbv.`);
await check(admin, "audit");
assert.ok((await admin.locator("tbody").textContent()).includes(cases[0].id), "the focal point's view is in the audit log");
await admin.goto(`${base}/admin/users/ctv1/devices`);
await check(admin, "devices");
await admin.goto(`${base}/admin`);
await Promise.all([
  admin.waitForURL(/enrolment-code/),
  admin.locator('form[action="/admin/users/ctv2/enrolment-code"] button').click(),
]);
assert.ok(await admin.locator("svg.qr").isVisible(), "the enrolment code's QR code");
await check(admin, "enrolment-code");

// 9. A collaborator, and the login page, in English too.
const collaborator = await signIn("ctv1");
await check(collaborator, "records-collaborator");
await collaborator.goto(`${base}/lang/en?back=/records`);
assert.equal(await collaborator.locator("html").getAttribute("lang"), "en");
await check(collaborator, "records-collaborator-en");
const anonymous = await (await browser.newContext()).newPage();
await anonymous.goto(`${base}/login`);
await check(anonymous, "login");

// 10. Only a keyboard: the login form takes focus, Tab moves through it, Enter signs in; on the
// dashboard the first Tab is the skip link, and Enter on it puts focus on the page's content, where
// the next Tab goes on from.
const keyboard = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
const focused = (page) => page.evaluate(() => {
  const el = document.activeElement;
  return { tag: el.tagName.toLowerCase(), id: el.id, cls: el.className, href: el.getAttribute("href"), inMain: Boolean(el.closest("main")) };
});
await keyboard.goto(`${base}/login`);
assert.equal((await focused(keyboard)).id, "username", "the login page puts focus on the user name");
await keyboard.keyboard.type("vhxh");
await keyboard.keyboard.press("Tab");
assert.equal((await focused(keyboard)).id, "password", "Tab goes from the user name to the password");
await keyboard.keyboard.type(PASSWORD);
await keyboard.keyboard.press("Tab");
const submit = await focused(keyboard);
assert.equal(submit.tag, "button", "Tab goes from the password to the sign-in button");
const ring = await keyboard.evaluate(() => {
  const s = getComputedStyle(document.activeElement);
  return { outline: `${s.outlineStyle} ${s.outlineWidth}`, visible: (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none" };
});
assert.ok(ring.visible, `the focused sign-in button shows a focus ring (outline: ${ring.outline})`);
await keyboard.keyboard.press("Shift+Tab");
assert.equal((await focused(keyboard)).id, "password", "Shift+Tab goes back to the password");
await Promise.all([keyboard.waitForURL((url) => url.pathname === "/"), keyboard.keyboard.press("Enter")]);
await keyboard.keyboard.press("Tab");
const skip = await focused(keyboard);
assert.ok(skip.tag === "a" && skip.cls === "skip" && skip.href === "#main", `the first Tab on the dashboard reaches the skip link, not ${JSON.stringify(skip)}`);
const shown = await keyboard.locator("a.skip").boundingBox();
assert.ok(shown && shown.x >= 0 && shown.y >= 0 && shown.x + shown.width <= 1280, `the focused skip link is on screen: ${JSON.stringify(shown)}`);
assert.ok(await keyboard.evaluate(() => getComputedStyle(document.activeElement).outlineStyle !== "none"), "the focused skip link shows a focus ring");
await keyboard.keyboard.press("Enter");
await keyboard.waitForFunction(() => location.hash === "#main");
const target = await focused(keyboard);
assert.ok(target.tag === "main" && target.id === "main", `Enter on the skip link puts focus on the main content, not ${JSON.stringify(target)}`);
const scrolled = await keyboard.evaluate(() => ({
  top: document.getElementById("main").getBoundingClientRect().top,
  atEnd: window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 1,
}));
assert.ok(scrolled.top >= -1 && (scrolled.top <= 1 || scrolled.atEnd), `the main content is scrolled to the top of the window (it starts at ${scrolled.top} px)`);
await keyboard.keyboard.press("Tab");
assert.ok((await focused(keyboard)).inMain, "the Tab after the skip link goes on inside the main content");
console.log("keyboard: signed in with Tab, typing and Enter; the skip link moves focus to the main content");

await browser.close();
stop();
if (violations.length) {
  console.error(violations.join("\n"));
  throw new Error(`${violations.length} serious or critical accessibility violations`);
}
console.log(costs.join("\n"));
console.log(`web app: every check passed; ${shots} screenshots in ${SHOTS}`);

// The entries of a ZIP file (an XLSX), by name, as text.
function unzip(buf) {
  const out = {};
  let end = buf.length - 22;
  while (end >= 0 && buf.readUInt32LE(end) !== 0x06054b50) end--;
  const count = buf.readUInt16LE(end + 10);
  let at = buf.readUInt32LE(end + 16);
  for (let i = 0; i < count; i++) {
    const method = buf.readUInt16LE(at + 10);
    const size = buf.readUInt32LE(at + 20);
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    const local = buf.readUInt32LE(at + 42);
    const name = buf.toString("utf8", at + 46, at + 46 + nameLen);
    const dataAt = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(dataAt, dataAt + size);
    out[name] = (method === 8 ? inflateRawSync(data) : data).toString("utf8");
    at += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}
