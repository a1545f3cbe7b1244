// Drives Home Assistant's own data-entry-flow dialog (config, options and reconfigure flows).
// Its forms are web components in nested open shadow roots; playwright's CSS locators pierce
// them. Each field is found by its form key: the dialog's <ha-selector> elements carry the key
// as a property, which `ready` copies into a `data-tk-field` attribute.
import { until } from "./common.mjs";

// The dialog's answers: POST /api/config/config_entries/flow/<id> (also reconfigure) and
// /api/config/config_entries/options/flow/<id>.
const FLOW_POST = /\/api\/config\/config_entries\/(options\/)?flow\/[^/]+$/;

export class FlowDialog {
  constructor(page) {
    this.page = page;
    this.dialog = page.locator("dialog-data-entry-flow");
  }

  /** Wait until the dialog shows a step, and tag its fields once they have rendered. */
  async ready() {
    await until("the flow dialog's step", () => this.dialog.evaluate((dialog) => {
      const root = dialog.shadowRoot;
      return Boolean(root && root.querySelector(
        "step-flow-form, step-flow-create-entry, step-flow-abort, step-flow-menu"));
    }), 60000);
    await this.dialog.evaluate(async (dialog) => {
      const waits = [];
      const visit = (root) => {
        for (const element of root.querySelectorAll("*")) {
          if (element.updateComplete) waits.push(element.updateComplete);
          if (element.localName === "ha-selector" && element.name) {
            element.setAttribute("data-tk-field", element.name);
          } else if (element.localName.startsWith("ha-form-") && element.schema
            && element.schema.name) {
            // A plain field (a bool in the schema): ha-form renders it without a selector.
            element.setAttribute("data-tk-field", element.schema.name);
          }
          if (element.shadowRoot) visit(element.shadowRoot);
        }
      };
      visit(dialog.shadowRoot);
      await Promise.all(waits);
      visit(dialog.shadowRoot);
    });
  }

  field(name) {
    return this.dialog.locator(`[data-tk-field="${name}"]`);
  }

  async fill(name, value) {
    await this.field(name).locator("input").first().fill(String(value));
  }

  /** A "several values" text field: `value` in its first box (added when there is none),
   * the other boxes emptied. */
  async fillList(name, value) {
    const field = this.field(name);
    const boxes = field.locator("input");
    if ((await boxes.count()) === 0) {
      await field.locator(".add-row button").first().click();
    }
    await boxes.first().fill(value);
    for (let i = (await boxes.count()) - 1; i > 0; i--) await boxes.nth(i).fill("");
  }

  /** Choose an entity in an entity picker: searched by its name, picked from the list. */
  async pickEntity(name, entityId, friendlyName) {
    const field = this.field(name);
    await field.locator("ha-picker-field").click();
    await field.locator("ha-picker-combo-box input").first().fill(friendlyName);
    await field.locator("ha-picker-combo-box ha-combo-box-item")
      .filter({ hasText: friendlyName }).first().click();
    await until(`${name} to hold ${entityId}`,
      () => field.evaluate((selector, id) => selector.value === id, entityId), 30000);
  }

  /** Turn a switch on or tick a box, as a click on it does. */
  async check(name) {
    const box = this.field(name).locator('input[type="checkbox"]').first();
    await this.field(name).locator("ha-switch, ha-checkbox").first().click();
    await until(`${name} to be on`, () => box.isChecked(), 30000);
  }

  /** Tick the option labelled `label` in a list of choices. */
  async choose(name, label) {
    const option = this.field(name).locator("ha-checkbox, ha-radio, ha-formfield")
      .filter({ hasText: label }).first();
    await option.click();
    await until(`${label} to be chosen`,
      () => option.locator("input").first().isChecked(), 30000);
  }

  /** The step's title (the dialog's heading). */
  async title() {
    return (await this.dialog.locator(".dialog-title").first().textContent()).trim();
  }

  /** Every message the form shows (the step's errors, field by field, and its base error). */
  async alerts() {
    const alerts = this.dialog.locator("step-flow-form ha-alert");
    const texts = [];
    for (let i = 0; i < (await alerts.count()); i++) {
      texts.push((await alerts.nth(i).innerText()).replace(/\s+/g, " ").trim());
    }
    return texts;
  }

  /** The text of the dialog's last page ("created", "saved", an abort), shadow roots included. */
  async lastPage() {
    const last = this.dialog.locator("step-flow-create-entry, step-flow-abort").first();
    return last.evaluate((element) => {
      const texts = [];
      const visit = (node) => {
        for (const child of node.childNodes) {
          if (child.nodeType === Node.TEXT_NODE) texts.push(child.textContent);
          else if (child.nodeType === Node.ELEMENT_NODE
            && !["STYLE", "SCRIPT"].includes(child.tagName)) {
            if (child.shadowRoot) visit(child.shadowRoot);
            visit(child);
          }
        }
      };
      visit(element.shadowRoot || element);
      return texts.join(" ").replace(/\s+/g, " ").trim();
    });
  }

  /** Press the dialog's primary button; wait for Home Assistant's answer and its rendering. */
  async submit() {
    // The step shown now is tagged: the answer is rendered once another step object is shown.
    await this.dialog.evaluate((dialog) => {
      const form = dialog.shadowRoot.querySelector("step-flow-form");
      if (form && form.step) form.step.__tkSubmitted = true;
    });
    const answer = this.page.waitForResponse((response) => response.request().method() === "POST"
      && FLOW_POST.test(new URL(response.url()).pathname), { timeout: 90000 });
    await this.dialog.locator('ha-button[slot="primaryAction"]').click();
    const result = await (await answer).json();
    await until("the dialog to show the answer", () => this.dialog.evaluate((dialog) => {
      const form = dialog.shadowRoot.querySelector("step-flow-form");
      return !form || (form.step && !form.step.__tkSubmitted);
    }), 60000);
    await this.ready();
    return result;
  }

  /** Close the dialog with its own button on the last page; wait until it is gone. */
  async finish() {
    await this.dialog.locator('ha-button[slot="primaryAction"], ha-button[slot="secondaryAction"]')
      .first().click();
    await this.dialog.waitFor({ state: "hidden", timeout: 60000 });
  }
}
