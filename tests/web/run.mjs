// The Sổ Tay web app in a real browser: Debian's chromium driven by playwright-core against the
// real `sotay-server --demo`, with a real `sotay` phone syncing beside it. Every page is checked
// with axe-core (no serious or critical violation) and photographed at 1280 and 360 px into
// target/web-screenshots/. Run by .ci/run:
//
//   SOTAY_SERVER_BIN=… SOTAY_CLI_BIN=… SOTAY_SCREENSHOTS=target/web-screenshots node tests/web/run.mjs
//
// What it proves, as a person would see it: each role signs in and sees its pages; the dashboard's
// figures equal a count over the raw records (the JSON API); the records filter works; a conflict
// resolved in the page reaches the phone; a record approved and one returned in the page reach the
// phone with their outcome; a suspected duplicate is merged; the XLSX download holds the report's
// cells; a reviewer gets no GBV case page; a focal point's view of a case is in the audit log.

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

// axe-core on the page as shown, and screenshots at both widths.
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
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
    shots++;
  }
  await page.setViewportSize({ width: 1280, height: 900 });
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
const anonymous = await (await browser.newContext()).newPage();
await anonymous.goto(`${base}/login`);
await check(anonymous, "login");

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
