// Drives Home Assistant's own config-flow dialogs in headless Chromium for
// tests/test_installer_e2e.py: an administrator adds a home with every kind of bad input, then
// edits its agreed times (Configure) and moves it to another camera (Reconfigure).
// Usage: node tests/e2e/installer.mjs '<json>' (see the test for the fields). Prints one JSON
// line per finding (each step's answer and the messages the dialog shows); exits non-zero on
// failure.
import { join } from "node:path";
import { login, report, until, withBrowser } from "./common.mjs";
import { FlowDialog } from "./flow.mjs";

const args = JSON.parse(process.argv[2]);
const INTEGRATIONS = "/config/integrations/dashboard";
const INTEGRATION_PAGE = `/config/integrations/integration/${args.domain}`;
// Wide enough for Home Assistant's desktop layout: the dialog is centred, not full screen.
const VIEWPORT = { width: 1000, height: 860 };

/** Submit the form and report what the dialog answered and showed, as `name`. */
async function answer(flow, walk, name) {
  const result = await flow.submit();
  const shown = {
    type: result.type,
    step_id: result.step_id,
    errors: result.errors || {},
    placeholders: result.description_placeholders || {},
    reason: result.reason,
    alerts: result.type === "form" ? await flow.alerts() : [],
    title: await flow.title(),
  };
  if (result.type !== "form") {
    // The last page: Home Assistant's "created", "saved" or the flow's own abort message.
    shown.text = await flow.lastPage();
  }
  report(`${walk.language}:${name}`, shown);
  return shown;
}

/** A small picture of the dialog alone, with its first message in view (for the docs: only
 * the pictures the walk asks for). */
async function shoot(flow, walk, name) {
  if (!walk.shots.includes(name)) return;
  const alert = flow.dialog.locator("step-flow-form ha-alert").first();
  if (await alert.count()) await alert.scrollIntoViewIfNeeded();
  const picture = flow.dialog.locator("dialog.dialog").first();
  const file = `installer-${name}${walk.language === "en" ? "" : `-${walk.language}`}.png`;
  await picture.screenshot({ path: join(args.screens, file) });
}

async function openAddIntegration(page) {
  await page.locator('ha-button[slot="fab"]').click();
  const search = page.locator("dialog-add-integration ha-input-search input").first();
  await search.fill(args.domain);
  await page.locator("dialog-add-integration ha-integration-list-item")
    .filter({ hasText: args.integrationName }).first().click();
}

/** The home's row on the integration's page. */
async function entryRow(page, home) {
  await page.goto(`${args.base}${INTEGRATION_PAGE}`);
  const row = page.locator("ha-config-entry-row").filter({ hasText: home }).first();
  await row.waitFor({ timeout: 60000 });
  return row;
}

async function addHome(page, walk) {
  await openAddIntegration(page);
  const flow = new FlowDialog(page);
  await flow.ready();

  // The camera: a personal identity number as label, a file, the first home's camera.
  await flow.fill("name", args.personalNumber);
  await flow.fill("stream_url", walk.camera);
  await answer(flow, walk, "personal_number");
  await flow.fill("name", walk.home);
  await flow.fill("stream_url", "/media/bedroom.mp4");
  await answer(flow, walk, "file");
  await flow.fill("stream_url", args.firstCameraWrittenDifferently);
  await answer(flow, walk, "camera_in_use");
  await shoot(flow, walk, "camera-in-use");
  await flow.fill("stream_url", walk.camera);
  await answer(flow, walk, "camera");

  // The agreed times: impossible, overlapping, then several in one field.
  await flow.fillList("times", "22:30, 25:00");
  await answer(flow, walk, "impossible_time");
  await shoot(flow, walk, "impossible-time");
  await flow.fillList("times", "22:30 22:45");
  await answer(flow, walk, "overlapping");
  await flow.fillList("times", walk.times);
  await answer(flow, walk, "schedule");

  // The equipment: the first home's bed sensor, even "shared on purpose", then its own.
  await flow.pickEntity("bed_entity", args.beds.first, args.bedNames.first);
  await flow.check("shared_equipment");
  await answer(flow, walk, "bed_shared");
  await shoot(flow, walk, "bed-shared");
  await flow.pickEntity("bed_entity", walk.bed, walk.bedName);
  await answer(flow, walk, "equipment");

  // Who may look, and the audit log's retention out of range.
  await flow.choose("operators", args.operatorName);
  await flow.fill("audit_retention_months", 0);
  await answer(flow, walk, "retention");
  await flow.fill("audit_retention_months", 24);
  await answer(flow, walk, "operators");

  await flow.check("consent");
  await answer(flow, walk, "consent");

  // Home Assistant's own last step names the new device: a personal number typed there.
  const deviceName = flow.dialog.locator("step-flow-create-entry input").first();
  const button = flow.dialog.locator('ha-button[slot="primaryAction"]');
  const skip = (await button.textContent()).trim();
  await deviceName.fill(args.personalNumber);
  await deviceName.press("Tab");
  // "Skip and finish" becomes "Finish" once the dialog holds the new name.
  await until("the dialog to take the device name",
    async () => (await button.textContent()).trim() !== skip, 30000);
  // The dialog saves the name (device registry) before it closes.
  await flow.finish();
  report(`${walk.language}:device_name`, { typed: args.personalNumber });
}

async function configure(page, walk) {
  const row = await entryRow(page, walk.home);
  // The gear: Configure.
  await row.locator('ha-icon-button[slot="end"]').first().click();
  const flow = new FlowDialog(page);
  await flow.ready();
  // The form shows the home's agreed times as stored (normalised, in night order).
  report(`${walk.language}:options_opened`, { title: await flow.title(),
    times: await flow.field("times").evaluate((selector) => selector.value) });
  await flow.fillList("times", "23:00 23:10");
  await answer(flow, walk, "options_overlapping");
  await shoot(flow, walk, "options");
  await flow.fillList("times", walk.newTimes);
  await answer(flow, walk, "options_schedule");
  await answer(flow, walk, "options_equipment");
  await answer(flow, walk, "options_operators");
  await answer(flow, walk, "options_view");
  await flow.finish();
}

async function reconfigure(page, walk) {
  const row = await entryRow(page, walk.home);
  await row.locator('ha-dropdown[slot="end"] [slot="trigger"]').first().click();
  await row.locator('ha-dropdown-item[value="reconfigure"]').click();
  const flow = new FlowDialog(page);
  await flow.ready();
  await flow.fill("stream_url", args.firstCamera);
  await answer(flow, walk, "reconfigure_in_use");
  await flow.fill("stream_url", walk.movedCamera);
  await answer(flow, walk, "reconfigure");
  await shoot(flow, walk, "reconfigured");
  await flow.finish();
}

for (const walk of args.walks) {
  await withBrowser({ executablePath: args.chromium, locale: walk.locale, viewport: VIEWPORT,
    timeout: 60000 }, async (page) => {
    await login(page, args.base, walk.account, INTEGRATIONS);
    const sidebar = (await page.locator(`#sidebar-panel-${args.domain}`).innerText()).trim();
    report(`${walk.language}:sidebar`, { title: sidebar });
    await addHome(page, walk);
    await configure(page, walk);
    await reconfigure(page, walk);
    // The panel, from the sidebar: its header beside the sidebar's title.
    await page.locator(`#sidebar-panel-${args.domain}`).click();
    const header = page.locator(`${args.domain}-panel header h1`);
    const title = await until("the panel's header",
      async () => (await header.count()) && (await header.textContent()).trim(), 60000);
    report(`${walk.language}:panel`, { header: title });
  });
}
