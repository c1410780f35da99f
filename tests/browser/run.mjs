// The portal and the admin console in a real browser (issue 14): Playwright (playwright-core)
// drives Debian's chromium, headless, against the real enroll-server (TLS on loopback, a
// temporary data directory with its SQLite file). The browser trusts exactly the server's TLS
// key (--ignore-certificate-errors-spki-list with its SPKI hash); the seeding calls verify
// the server against its CA. Screenshots of every page go to target/browser-artifacts/.
//
//   node run.mjs   (env: ENROLL_SERVER_BIN, CHROMIUM, BROWSER_ARTIFACTS)
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const serverBin = process.env.ENROLL_SERVER_BIN
  || path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug/enroll-server");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const artifacts = process.env.BROWSER_ARTIFACTS || path.join(root, "target/browser-artifacts");
fs.mkdirSync(artifacts, { recursive: true });

let step = 0;
const shots = [];
async function shot(page, name) {
  step += 1;
  const file = path.join(artifacts, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}
function check(cond, what) {
  if (!cond) { throw new Error(`check failed: ${what}`); }
  console.log(`ok - ${what}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function luhnImei(n) {
  const body = "35" + String(n).padStart(12, "0");
  let sum = 0;
  [...body].reverse().forEach((c, i) => {
    let x = Number(c);
    if (i % 2 === 0) { x *= 2; if (x > 9) { x -= 9; } }
    sum += x;
  });
  return body + String((10 - (sum % 10)) % 10);
}

// The top-level PayloadUUID of a signed profile (the XML plist inside the CMS): the
// PayloadContent array of the payloads is cut out first.
function profileUuid(der) {
  const text = der.toString("latin1");
  let xml = text.slice(text.indexOf("<?xml"), text.indexOf("</plist>") + 8);
  const start = xml.indexOf("<key>PayloadContent</key>");
  const open = xml.indexOf("<array>", start);
  let depth = 0, i = open;
  for (; i < xml.length; i++) {
    if (xml.startsWith("<array>", i)) { depth++; }
    if (xml.startsWith("</array>", i)) { depth--; if (depth === 0) { break; } }
  }
  xml = xml.slice(0, start) + xml.slice(i + 8);
  return /<key>PayloadUUID<\/key>\s*<string>([^<]+)<\/string>/.exec(xml)[1];
}

// A short profile validity, so that the countdown reaches zero during the run.
const PROFILE_SECS = 15;
const data = fs.mkdtempSync(path.join(os.tmpdir(), "enroll-browser-"));
const port = await freePort();
const base = `https://localhost:${port}`;
const server = spawn(serverBin, ["--data-dir", data, "--bind", `127.0.0.1:${port}`, "--public-url", base, "--name", "Acme", "--profile-validity", String(PROFILE_SECS)], {
  stdio: ["ignore", "pipe", "pipe"],
  env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
});
let serverLog = "";
server.stderr.on("data", (d) => { serverLog += d; });
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("the server did not start in 60 s\n" + serverLog)), 60000);
  server.stdout.on("data", (d) => { if (String(d).includes("listening on")) { clearTimeout(timer); resolve(); } });
  server.once("exit", (code) => reject(new Error(`the server exited (${code})\n${serverLog}`)));
});

const ca = fs.readFileSync(path.join(data, "ca.pem"));
const adminToken = fs.readFileSync(path.join(data, "admin-token"), "utf8").trim();
const leaf = new crypto.X509Certificate(fs.readFileSync(path.join(data, "server.pem")));
const spki = crypto.createHash("sha256").update(leaf.publicKey.export({ type: "spki", format: "der" })).digest("base64");

function api(method, p, { body, bearer = adminToken, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = https.request(base + p, {
      method, ca, servername: "localhost",
      headers: {
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
        ...headers,
      },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    if (payload) { req.write(payload); }
    req.end();
  });
}
const json = (r) => JSON.parse(r.body.toString("utf8"));

let browser;
let failed = false;
try {
  // Seed an active device (real enrollment over the API: token, profile, confirm) to retire.
  check((await api("POST", "/api/v1/admin/users", { body: { email: "bob@example.com", display_name: "Bob", directory: false } })).status === 201, "seed: user bob");
  const tok = json(await api("POST", "/api/v1/admin/tokens", { body: { user: "bob@example.com", days: 7 } })).token;
  const enr = json(await api("POST", "/api/v1/enrollments", {
    bearer: null, headers: { "idempotency-key": "browser-test-0001-abcdef" },
    body: { credential: { kind: "token", token: tok }, device: { platform: "android", os_version: "14", model: "Pixel 8", manufacturer: "Google", serial: "PX8-0001" } },
  }));
  const prof = await api("GET", `/api/v1/enrollments/${enr.enrollment_id}/profile`, { bearer: enr.enrollment_secret });
  const conf = await api("POST", `/api/v1/enrollments/${enr.enrollment_id}/confirm`, { bearer: enr.enrollment_secret, body: { profile_uuid: profileUuid(prof.body) } });
  check(conf.status === 200, "seed: bob's Pixel 8 enrolled and confirmed");

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [`--ignore-certificate-errors-spki-list=${spki}`, "--no-sandbox", "--disable-dev-shm-usage"],
  });

  // ---------------------------------------------------------------- admin console
  const admin = await browser.newContext({ locale: "en-US", viewport: { width: 1200, height: 900 }, acceptDownloads: true });
  const cspViolations = [];
  admin.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) { cspViolations.push(m.text()); } });
  const page = await admin.newPage();
  page.on("dialog", (d) => d.accept());
  const signIn = await page.goto(`${base}/console/sign-in`);
  check(signIn.headers()["content-security-policy"].startsWith("default-src 'self'"), "console: strict CSP header");
  await shot(page, "console-sign-in");
  await page.fill("#token", "adm_wrong_credential_123");
  await page.click("#submit");
  check((await page.textContent("#error")).includes("not the admin credential"), "console: a wrong credential is refused");
  await page.fill("#token", adminToken);
  await page.click("#submit");
  await page.waitForURL(`${base}/console`);
  const cookies = await admin.cookies();
  const sc = cookies.find((c) => c.name === "enroll_console");
  check(sc && sc.httpOnly && sc.secure && sc.sameSite === "Strict", "console: session cookie HttpOnly, Secure, SameSite=Strict");
  await shot(page, "console-dashboard");

  // Users and invitations: the URL and the PIN shown once.
  await page.click("text=Users");
  await page.fill("#email", "alice@example.com");
  await page.fill("#display_name", "Alice Martin");
  await page.click("#create-user");
  check((await page.textContent("#flash")).includes("alice@example.com"), "console: user alice created");
  await page.locator("#users tr", { hasText: "alice@example.com" }).locator("button").click();
  const inviteUrl = (await page.textContent("#invite-url")).trim();
  const pin = (await page.textContent("#pin")).trim();
  check(inviteUrl === `${base}/go?user=alice%40example.com` && /^\d{6,}$/.test(pin), `console: invitation URL and PIN shown (${inviteUrl})`);
  await shot(page, "console-invitation");

  // Bulk profile: CSV with bad lines, then the fixed file.
  await page.goto(`${base}/console/bulk`);
  await page.fill("#name", "Warehouse scanners");
  await page.fill("#description", "Zebra TC52, Lyon site");
  await page.click("#create-profile");
  await page.waitForSelector("#token");
  const profileUrl = page.url();
  const bad = `imei,serial_number,manufacturer,site\n${luhnImei(1)},,,Lyon\n123456789012345,,,Lyon\n,SN-3,,Lyon\n${luhnImei(4)},,,Lyon\n`;
  await page.setInputFiles("#csv", { name: "devices.csv", mimeType: "text/csv", buffer: Buffer.from(bad) });
  await page.click("#upload");
  await page.waitForSelector("#upload-result.error ul.bad-lines li");
  const badLines = await page.$$eval("#upload-result li", (els) => els.map((e) => e.textContent));
  check(badLines.length === 2 && badLines[0].startsWith("Line 3") && badLines[1].startsWith("Line 4"), `console: the bad lines are listed (${badLines.join(" | ")})`);
  check((await page.getAttribute("#progress", "value")) === "100", "console: the progress bar reached 100 %");
  await shot(page, "console-csv-bad-lines");
  const good = `imei,serial_number,manufacturer,site\n${luhnImei(1)},,,Lyon\n${luhnImei(2)},,,Lyon\n,SN-3,Zebra,Lyon\n${luhnImei(4)},,,Lyon\n`;
  await page.setInputFiles("#csv", { name: "devices.csv", mimeType: "text/csv", buffer: Buffer.from(good) });
  await page.click("#upload");
  await page.waitForSelector("#upload-result.ok");
  check((await page.textContent("#upload-result")).includes("4 device(s) imported"), "console: the fixed file imports 4 devices");
  await page.goto(profileUrl);
  check((await page.$$("#bulk-devices tbody tr")).length === 4, "console: the profile lists 4 devices");
  // Token refresh with a 30-day validity.
  const oldToken = await page.textContent("#token");
  await page.fill("#days", "30");
  await page.click("#refresh");
  await page.waitForSelector("#flash");
  const newToken = await page.textContent("#token");
  check(newToken !== oldToken && (await page.textContent("#flash")).includes("Token saved"), "console: token refreshed (30 days)");
  await page.waitForFunction(() => document.querySelector("#qr").complete);
  check(await page.evaluate(() => document.querySelector("#qr").naturalWidth > 100), "console: the profile's QR code is shown");
  const [qrFile] = await Promise.all([page.waitForEvent("download"), page.click("#qr-png")]);
  const qrBytes = await fs.promises.readFile(await qrFile.path());
  check(qrBytes.subarray(1, 4).toString() === "PNG", "console: the QR code downloads as PNG");
  const [inv] = await Promise.all([page.waitForEvent("download"), page.click("#inventory")]);
  check((await fs.promises.readFile(await inv.path(), "utf8")).includes(luhnImei(2)), "console: inventory download");
  await shot(page, "console-bulk-profile");

  // Samsung KME: enable, reseller upload, approve selected, move to another KME profile.
  await page.goto(`${base}/console/kme`);
  await shot(page, "console-kme-off");
  await page.click("#enable-kme");
  await page.waitForSelector("#flash");
  const kmeCsv = `imei,serial_number,manufacturer,asset\n${luhnImei(70)},,,A-70\n${luhnImei(71)},,,A-71\n${luhnImei(72)},,,A-72\n`;
  await page.setInputFiles("#csv", { name: "reseller.csv", mimeType: "text/csv", buffer: Buffer.from(kmeCsv) });
  await page.click("#upload");
  await page.waitForSelector("#upload-result.ok");
  await page.goto(`${base}/console/kme`);
  check((await page.textContent("#pending-approval")).includes("3"), "console: 3 KME uploads wait for approval");
  const [unapproved] = await Promise.all([page.waitForEvent("download"), page.click("#unapproved-csv")]);
  check((await fs.promises.readFile(await unapproved.path(), "utf8")).includes(luhnImei(71)), "console: unapproved devices as CSV");
  const boxes = page.locator("#uploads tbody input[type=checkbox]");
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await shot(page, "console-kme-uploads");
  await page.click("#approve-selected");
  check((await page.textContent("#flash")).includes("2 device(s) approved"), "console: 2 selected KME devices approved");
  check((await page.textContent("#sync")).includes("UTC"), "console: KME sync status shown");
  await page.goto(`${base}/console/bulk`);
  await page.fill("#name", "Field tablets");
  await page.selectOption("#kind", "kme");
  await page.click("#create-profile");
  await page.waitForSelector("#flash");
  await page.goto(`${base}/console/kme`);
  await page.click("#default-profile");
  await page.check("input[data-select-all]");
  await page.selectOption("#to_profile", { label: "Field tablets" });
  await page.click("#move-selected");
  check((await page.textContent("#flash")).includes("2 device(s) changed"), "console: 2 KME devices moved to Field tablets");
  await shot(page, "console-kme-moved");

  // Devices: retire bob's phone.
  await page.goto(`${base}/console/devices`);
  await shot(page, "console-devices");
  await page.click("#devices a");
  await page.click("#action-retire");
  await page.waitForSelector("#flash");
  check((await page.textContent("#flash")).includes("retired"), "console: device retired");
  check((await page.textContent("#history")).includes("retired"), "console: the history shows the retirement");
  await shot(page, "console-device-retired");
  await page.goto(`${base}/console/pending`);
  await shot(page, "console-pending");
  // The console on a phone-sized screen: tables scroll inside their box, the page does not.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const p of [profileUrl, `${base}/console/kme`, `${base}/console/devices`]) {
    await page.goto(p);
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    check(w <= 390, `console: ${p.replace(base, "")} fits a phone screen (${w} px wide)`);
  }
  await shot(page, "console-devices-phone");
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.click("#sign-out");
  await page.waitForURL(`${base}/console/sign-in`);
  check((await page.goto(`${base}/console/users`)).url().endsWith("/console/sign-in"), "console: signed out");
  check(cspViolations.length === 0, `console: no CSP violation (${cspViolations.join(" | ")})`);

  // ---------------------------------------------------------------- self-service portal
  // A Mac (Safari's user agent) on a phone-sized window... and a phone.
  const phone = await browser.newContext({
    locale: "fr-FR", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
    userAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
  });
  const p2 = await phone.newPage();
  await p2.goto(inviteUrl);
  check((await p2.textContent("#invited")).includes("alice@example.com"), "portal: /go in French names the invited user");
  check((await p2.getAttribute("#open-app", "href")).startsWith(`intent://localhost:${port}/go?user=alice%40example.com#Intent;scheme=https;package=`), "portal: Android intent URL");
  await shot(p2, "portal-go-android-fr");
  const wide = await p2.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 390, `portal: fits a phone screen (${wide} px wide)`);

  const mac = await browser.newContext({
    locale: "en-US", viewport: { width: 1000, height: 800 }, acceptDownloads: true,
    userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  });
  mac.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) { cspViolations.push(m.text()); } });
  phone.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) { cspViolations.push(m.text()); } });
  const u = await mac.newPage();
  await u.goto(inviteUrl);
  await shot(u, "portal-go-mac");
  await u.click("#sign-in");
  check((await u.inputValue("#email")) === "alice@example.com", "portal: the e-mail comes from the invitation");
  await u.fill("#secret", pin === "000000" ? "111111" : "000000");
  await u.click("#submit");
  check((await u.textContent("#error")).includes("4 tries left"), "portal: a wrong PIN shows the tries left");
  await shot(u, "portal-wrong-pin");
  await u.fill("#secret", pin);
  await u.click("#submit");
  await u.waitForURL(`${base}/portal/password`);
  await shot(u, "portal-set-password");
  await u.fill("#password", "correct horse battery");
  await u.fill("#confirm", "correct horse battery");
  await u.click("#submit");
  await u.waitForSelector("#password-set");
  await u.click("text=Continue");
  await shot(u, "portal-home");
  await u.click("#go-profile");
  await u.click("#prepare");
  await u.waitForSelector("#remaining");
  const t1 = await u.textContent("#remaining");
  await u.waitForTimeout(2100);
  const t2 = await u.textContent("#remaining");
  check(t1 !== t2 && /^\d+:\d\d$/.test(t2), `portal: the validity counts down (${t1} → ${t2})`);
  await shot(u, "portal-profile");
  const [dl] = await Promise.all([u.waitForEvent("download"), u.click("#download")]);
  const bytes = await fs.promises.readFile(await dl.path());
  check(dl.suggestedFilename() === "enroll.mobileconfig" && bytes[0] === 0x30 && bytes.length > 500, `portal: signed profile downloaded (${bytes.length} bytes)`);
  const mime = await u.evaluate(async () => (await fetch("/portal/profile/download")).headers.get("content-type"));
  check(mime === "application/x-apple-aspen-config", `portal: served as ${mime}`);
  // Once the countdown reaches zero the page offers a fresh profile, which downloads again.
  await u.waitForSelector("#expired", { state: "visible", timeout: (PROFILE_SECS + 10) * 1000 });
  check(await u.isHidden("#download"), "portal: the expired profile's download is gone");
  await shot(u, "portal-profile-expired");
  await u.click("#fresh");
  await u.waitForSelector("#download", { state: "visible" });
  const [dl2] = await Promise.all([u.waitForEvent("download"), u.click("#download")]);
  const bytes2 = await fs.promises.readFile(await dl2.path());
  check(bytes2[0] === 0x30 && !bytes2.equals(bytes), "portal: a fresh profile downloads once the first expired");
  await u.goto(`${base}/portal/qr`);
  await u.waitForFunction(() => document.querySelector("#qr").complete);
  check(await u.evaluate(() => document.querySelector("#qr").naturalWidth > 100), "portal: the QR code for in-app enrollment is shown");
  await shot(u, "portal-qr");
  const pending = json(await api("GET", "/api/v1/admin/enrollments/pending"));
  check(pending.some((x) => x.user === "alice@example.com"), "portal: alice's Mac is a pending install");
  check(cspViolations.length === 0, `portal: no CSP violation (${cspViolations.join(" | ")})`);
} catch (e) {
  failed = true;
  console.error(`not ok - ${e.stack || e}`);
  console.error(serverLog.slice(-4000));
} finally {
  if (browser) { await browser.close(); }
  server.kill("SIGINT");
  await new Promise((r) => { server.once("exit", r); setTimeout(r, 5000); });
  fs.rmSync(data, { recursive: true, force: true });
}
console.log(`${shots.length} screenshots in ${artifacts}`);
process.exit(failed ? 1 : 0);
