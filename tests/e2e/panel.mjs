// Drives the "Tillsyn" panel in headless Chromium for tests/test_panel_e2e.py.
// Usage: node tests/e2e/panel.mjs '<json>' with {base, operator, guest, artifacts, chromium,
// viewSeconds, dueTimeoutMs, home, second, screens}: `home` and `second` are the names of the
// two homes due at the same minute; `screens` is where the docs' pictures are written. Prints one JSON line per finding; exits non-zero on failure.
import { join } from "node:path";
import { login as haLogin, report, until, withBrowser as browser } from "./common.mjs";

const args = JSON.parse(process.argv[2]);

/** A phone-sized headless Chromium in `locale`. */
const withBrowser = (locale, body) => browser({ executablePath: args.chromium, locale }, body);

/** Log in through Home Assistant's own login page, then land on the panel. */
async function login(page, account) {
  await haLogin(page, args.base, account, "/trygghetskamera");
  await page.locator("trygghetskamera-panel").waitFor({ state: "attached", timeout: 60000 });
}

const panel = (page) => page.locator("trygghetskamera-panel");

await withBrowser("sv-SE", async (page) => {
  await login(page, args.guest);
  const empty = panel(page).locator('[data-testid="empty"]');
  await empty.waitFor();
  const text = (await empty.textContent()).trim();
  const homes = await panel(page).locator("li.home").count();
  await page.screenshot({ path: join(args.artifacts, "panel-non-operator.png") });
  report("guest", { text, homes });
});

await withBrowser("en-US", async (page) => {
  await login(page, args.operator);

  // The new home is commissioned first: the installer's look, marking the bed on the picture.
  const fresh = panel(page).locator("li.home").first();
  const missingNote = fresh.locator('[data-testid="commissioning-missing"]');
  await missingNote.waitFor();
  const missing = (await missingNote.textContent()).trim();
  await fresh.locator('button[data-action="commission"]').click();
  const lookImage = panel(page).locator('[data-testid="live-image"]');
  await until("the commissioning look's first frame",
    () => lookImage.evaluate((image) => image.naturalWidth > 0), 20000);
  const modeBefore = (await panel(page).locator('[data-testid="view-mode"]').textContent()).trim();
  const area = await panel(page).locator('[data-testid="marker"]').boundingBox();
  // The demo camera and the frame are both 4:3, so the picture fills the marker's box.
  await page.mouse.move(area.x + 0.3 * area.width, area.y + 0.45 * area.height);
  await page.mouse.down();
  await page.mouse.move(area.x + 0.6 * area.width, area.y + 0.7 * area.height, { steps: 4 });
  await page.mouse.move(area.x + 0.95 * area.width, area.y + 0.9 * area.height, { steps: 4 });
  await page.mouse.up();
  await panel(page).locator('button[data-action="save-region"]').click();
  const section = panel(page).locator("section.live");
  const saved = await until("the bed area to be saved",
    () => section.getAttribute("data-region"), 10000);
  const savedNotice = (await panel(page).locator(".notice").textContent()).trim();
  await page.screenshot({ path: join(args.artifacts, "panel-commissioning.png"), fullPage: true });
  report("commissioning", { missing, modeBefore, region: JSON.parse(saved), notice: savedNotice,
    modeAfter: (await panel(page).locator('[data-testid="view-mode"]').textContent()).trim() });
  await panel(page).locator('button[data-outcome="ok"]').click();
  await panel(page).locator("li.home").first().waitFor({ timeout: 15000 });

  const home = panel(page).locator('li.home[data-status="due"]', { hasText: args.home });
  await home.waitFor({ timeout: args.dueTimeoutMs });
  report("due", { text: (await home.innerText()).replace(/\s+/g, " ") });
  await page.screenshot({ path: join(args.artifacts, "panel-list.png"), fullPage: true });

  // Start with the keyboard, as staff without a mouse would.
  const start = home.locator('button[data-action="start"]');
  await start.focus();
  await page.keyboard.press("Enter");
  const img = panel(page).locator('[data-testid="live-image"]');
  await img.waitFor();
  const started = Date.now();
  await until("the first frame", () => img.evaluate((image) => image.naturalWidth > 0), 15000);
  const first = await img.screenshot();
  await page.screenshot({ path: join(args.artifacts, "panel-live.png"), fullPage: true });
  let changed = false;
  for (let i = 0; i < 20 && !changed; i++) {
    await page.waitForTimeout(250);
    changed = !first.equals(await img.screenshot());
  }
  const countdown = panel(page).locator('[data-testid="countdown"]');
  const countdownText = (await countdown.textContent()).trim();
  const natural = await img.evaluate((image) => [image.naturalWidth, image.naturalHeight]);
  const endedNote = panel(page).locator(".frame .ended");
  report("live", { changed, countdown: countdownText, natural, note: await endedNote.isVisible() });

  await until("the image to be emptied",
    () => img.evaluate((image) => !image.hasAttribute("src")), args.viewSeconds * 1000 + 10000);
  const stoppedAfter = (Date.now() - started) / 1000;
  const ended = (await countdown.textContent()).trim();
  await page.screenshot({ path: join(args.artifacts, "panel-ended.png"), fullPage: true });
  report("stopped", { after: stoppedAfter, countdown: ended, note: await endedNote.isVisible() });

  await panel(page).locator('button[data-outcome="not_visible"]').click();
  const followUp = panel(page).locator('li.home[data-status="follow_up"]');
  await followUp.waitFor({ timeout: 15000 });
  const notice = (await panel(page).locator(".notice").textContent()).trim();
  await page.screenshot({ path: join(args.artifacts, "panel-follow-up.png"), fullPage: true });
  report("follow_up", { text: (await followUp.innerText()).replace(/\s+/g, " "), notice });

  // The second home, due at the same minute: the look ends "Needs help", an urgent visit.
  const second = panel(page).locator('li.home[data-status="due"]', { hasText: args.second });
  await second.locator('button[data-action="start"]').click();
  await until("the second home's first frame",
    () => img.evaluate((image) => image.naturalWidth > 0), 15000);
  await panel(page).locator('button[data-outcome="needs_help"]').click();
  const urgent = panel(page).locator("section.visits li.visit.urgent-visit");
  await urgent.waitFor({ timeout: 15000 });

  // The resident withdraws consent (the operator turns the switch off, as a home's staff may):
  // the pending follow-up becomes a visit at once, in the patrol's list.
  await panel(page).evaluate((element, name) => {
    const hass = element.hass;
    const consent = Object.keys(hass.states).find((id) => id.startsWith("switch.")
      && /consent|samtycke/i.test(hass.states[id].attributes.friendly_name || id)
      && (hass.states[id].attributes.friendly_name || "").includes(name));
    return hass.callService("switch", "turn_off", { entity_id: consent });
  }, args.home);
  const visit = panel(page).locator("section.visits li.visit:not(.urgent-visit)").first();
  await visit.waitFor({ timeout: 15000 });
  const raised = (await visit.innerText()).replace(/\s+/g, " ");
  const order = await panel(page).locator("section.visits li.visit")
    .evaluateAll((items) => items.map((item) => item.classList.contains("urgent-visit")));
  await page.screenshot({ path: join(args.artifacts, "panel-open-visits.png"), fullPage: true });
  const visitId = await visit.getAttribute("data-visit-id");
  const urgentId = await urgent.getAttribute("data-visit-id");
  await visit.locator('button[data-action="acknowledge"]').click();
  const mine = panel(page).locator(`li.visit[data-visit-id="${visitId}"]`);
  await until("the visit to be acknowledged",
    async () => (await mine.getAttribute("data-stage")) === "acknowledged", 15000);
  const acknowledged = (await mine.innerText()).replace(/\s+/g, " ");
  const ackNotice = (await panel(page).locator(".notice").textContent()).trim();

  // A note half typed, the caret moved back into it: then the list is rebuilt with new data
  // (a colleague acknowledges the urgent visit) and typing goes on where it was.
  const note = mine.locator('[data-testid="visit-note"]');
  await note.click();
  await page.keyboard.type("Asleep, well");
  for (let i = 0; i < 4; i++) await page.keyboard.press("ArrowLeft");
  await note.evaluate((input) => { input.typedBefore = true; });
  await panel(page).evaluate((element, id) =>
    element.hass.callService("trygghetskamera", "visit_acknowledge", { visit_id: id }), urgentId);
  const theirs = panel(page).locator(`li.visit[data-visit-id="${urgentId}"]`);
  await until("the urgent visit to be acknowledged",
    async () => (await theirs.getAttribute("data-stage")) === "acknowledged", 15000);
  const rebuilt = await note.evaluate((input) => !input.typedBefore);
  const kept = await note.inputValue();
  const focusKey = await panel(page).evaluate((element) => {
    const active = element.shadowRoot.activeElement;
    return active && active.dataset ? active.dataset.focusKey : null;
  });
  await page.keyboard.type("all ");
  const typed = await note.inputValue();
  await note.evaluate((input) => input.blur());
  await page.screenshot({ path: join(args.screens, "panel-visits.png"), fullPage: true });
  report("note", { rebuilt, kept, focusKey, typed, visitId });

  await mine.locator('button[data-action="finish"]').click();
  // A consent visit stays (done) until the check it replaced has passed.
  await until("the visit to be done", async () => (await mine.count()) === 0
    || (await mine.getAttribute("data-stage")) === "done", 15000);
  const doneNotice = (await panel(page).locator(".notice").textContent()).trim();
  const doneText = (await mine.count()) ? (await mine.innerText()).replace(/\s+/g, " ") : "";
  const homeCard = panel(page).locator("li.home", { hasText: args.home });
  report("visits", { raised, visitId, acknowledged, ackNotice, doneNotice, order, doneText,
    homeCard: (await homeCard.locator(".top").innerText()).replace(/\s+/g, " "),
    homeVisitDone: await homeCard.locator('button[data-action="visit-done"]').count(),
    urgent: (await theirs.innerText()).replace(/\s+/g, " "),
    finishLeft: await mine.locator('button[data-action="finish"]').count() });

  // Skip tonight asks first, naming the night; the list then says which night and offers Undo.
  const skipButton = panel(page).locator('button[data-action="skip"]').first();
  const skipOffered = await skipButton.count();
  let asked = "";
  let skipped = "";
  let undone = false;
  if (skipOffered) {
    page.once("dialog", async (dialog) => {
      asked = dialog.message();
      await dialog.accept();
    });
    await skipButton.click();
    const undo = panel(page).locator('button[data-action="unskip"]').first();
    await undo.waitFor({ timeout: 15000 });
    skipped = (await panel(page).locator('[data-testid="skipped-nights"]').first().textContent()).trim();
    await page.screenshot({ path: join(args.artifacts, "panel-skipped.png"), fullPage: true });
    await undo.click();
    await panel(page).locator('button[data-action="skip"]').first().waitFor({ timeout: 15000 });
    await until("the skipped night to go from the list", async () =>
      (await panel(page).locator('[data-testid="skipped-nights"]').count()) === 0, 15000);
    undone = true;
  }
  report("skip", { offered: skipOffered, asked, skipped, undone,
    notice: (await panel(page).locator(".notice").textContent()).trim() });
});

// The same skip and undo in Swedish, as a Swedish operator meets it.
await withBrowser("sv-SE", async (page) => {
  await login(page, args.operator);
  const skipButton = panel(page).locator('button[data-action="skip"]').first();
  await skipButton.waitFor({ timeout: 30000 });
  const header = (await panel(page).locator("header h1").textContent()).trim();
  let asked = "";
  page.once("dialog", async (dialog) => {
    asked = dialog.message();
    await dialog.accept();
  });
  await skipButton.click();
  const undo = panel(page).locator('button[data-action="unskip"]').first();
  await undo.waitFor({ timeout: 15000 });
  const undoText = (await undo.textContent()).trim();
  await page.screenshot({ path: join(args.artifacts, "panel-skipped-sv.png"), fullPage: true });
  await undo.click();
  await until("the skipped night to go from the list", async () =>
    (await panel(page).locator('[data-testid="skipped-nights"]').count()) === 0, 15000);
  report("skip_sv", { header, asked, undoText,
    notice: (await panel(page).locator(".notice").textContent()).trim() });

  // The look itself in Swedish: the third home, due at the same minute, looked at, "OK".
  const third = panel(page).locator('li.home[data-status="due"]', { hasText: args.third });
  await third.waitFor({ timeout: 30000 });
  const due = (await third.innerText()).replace(/\s+/g, " ");
  await third.locator('button[data-action="start"]').click();
  const img = panel(page).locator('[data-testid="live-image"]');
  await until("the third home's first frame",
    () => img.evaluate((image) => image.naturalWidth > 0), 15000);
  const title = (await panel(page).locator("section.live h2").textContent()).trim();
  const countdown = (await panel(page).locator('[data-testid="countdown"]').textContent()).trim();
  const liveText = await panel(page).locator("section.live").innerText();
  const prompt = liveText.includes("Vad såg du?") ? "Vad såg du?" : liveText;
  await page.screenshot({ path: join(args.artifacts, "panel-live-sv.png"), fullPage: true });
  await panel(page).locator('button[data-outcome="ok"]').click();
  await until("the look's outcome to be recorded", async () =>
    (await panel(page).locator(".notice").textContent()).includes(args.third), 15000);
  const notice = (await panel(page).locator(".notice").textContent()).trim();
  const card = panel(page).locator("li.home", { hasText: args.third });
  await until("the card to say what was seen", async () =>
    (await card.innerText()).includes("Tittat"), 15000);
  report("look_sv", { due, title, countdown, prompt, notice,
    after: (await card.innerText()).replace(/\s+/g, " ") });

  // Open visits in Swedish: the urgent one first, on its way, with a note being written.
  const urgent = panel(page).locator("section.visits li.visit.urgent-visit");
  await urgent.locator('[data-testid="visit-note"]').fill("Larmade, sitter på sängkanten");
  await urgent.locator('[data-testid="visit-note"]').evaluate((input) => input.blur());
  await page.screenshot({ path: join(args.screens, "panel-visits-sv.png"), fullPage: true });
  report("visits_sv", { texts: await panel(page).locator("section.visits li.visit")
    .evaluateAll((items) => items.map((item) => item.innerText.replace(/\s+/g, " "))) });
});
