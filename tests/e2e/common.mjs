// What the browser tests share: a throw-away Chromium, Home Assistant's own login, waiting.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** Run `body(page)` in a fresh headless Chromium (its own profile, removed afterwards). */
export async function withBrowser({ executablePath, locale, viewport, timeout = 30000 }, body) {
  const userDataDir = mkdtempSync(join(tmpdir(), "tk-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: viewport || { width: 360, height: 780 },
    locale,
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(timeout);
    return await body(page);
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

/** Log in through Home Assistant's own login page, landing on `path` once the UI has loaded. */
export async function login(page, base, account, path) {
  await page.goto(`${base}${path}`);
  await page.locator('input[name="username"], input[autocomplete="username"]').first()
    .fill(account.username);
  await page.locator('input[name="password"], input[type="password"]').first()
    .fill(account.password);
  await page.keyboard.press("Enter");
  await page.waitForURL((url) => url.pathname.startsWith(path), { timeout: 60000 });
  // Home Assistant's launch screen goes once the frontend has loaded.
  await page.locator("#ha-launch-screen").waitFor({ state: "detached", timeout: 60000 });
}

/** Poll `probe` until it returns a truthy value, for at most `ms` milliseconds. */
export async function until(what, probe, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A reporter printing one JSON line per finding, for the Python test to read. */
export const report = (step, data = {}) => console.log(JSON.stringify({ step, ...data }));
