// The "Tillsyn" panel of trygghetskamera: the night staff's list of homes and the live look.
// A plain web component (no build step, no CDN). Everything it shows comes from the websocket
// commands `trygghetskamera/homes` and `trygghetskamera/session/*`, which check the caller;
// the file itself holds no data. Nothing goes to local storage; no frame outlives a look.

const DOMAIN = "trygghetskamera";
// Polling, not a subscription: the list also changes with the clock (slots open, minutes
// left), a poll survives reconnects without bookkeeping, and one small call every 5 s is cheap.
const POLL_MS = 5000;

const STRINGS = {
  en: {
    title: "Supervision",
    loading: "Loading…",
    not_operator_any: "You are not an operator of any home, so there is nothing to show here.",
    no_homes: "No homes are set up.",
    status: {
      waiting: "Waiting",
      due: "Due now",
      viewing: "Being viewed",
      follow_up: "Follow-up",
      visit_required: "Visit required",
      skipped: "Skipped tonight",
      no_consent: "No consent",
      fault: "Fault",
    },
    reason: {
      not_visible: "resident not visible",
      needs_help: "needs help",
      missed: "check missed",
      fault: "equipment fault",
      no_consent: "no consent",
      planned: "physical visit by plan",
      decision_ended: "decision ended",
    },
    urgent: "Urgent",
    open_visits: "Open visits",
    since_raised: (n) => (n < 1 ? "raised just now"
      : n === 1 ? "raised 1 minute ago" : `raised ${n} minutes ago`),
    stage: { required: "nobody on the way yet", acknowledged: "someone is on the way", done: "done" },
    done_held: (time) => `visit made; listed until the check it replaces ends at ${time}`,
    visit_made: "Visit made",
    escalated: (n) => `escalated (level ${n})`,
    overdue: "overdue",
    acknowledge: "On my way",
    acknowledge_ok: (name) => `${name}: you are on your way.`,
    note: "Note",
    finish: "Visit done",
    slot: "Slot",
    minutes_left: (n) => (n === 1 ? "1 minute left" : `${n} minutes left`),
    next: "Next check",
    checked: (time, outcome) => `Checked ${time}, ${outcome}`,
    skip: "Skip tonight",
    skip_confirm: (name, night) => `Skip the night of ${night} at ${name}? No digital checks are made that night.`,
    skip_ok: (name, night) => `The night of ${night} at ${name} is skipped.`,
    skipped_night: "Skipped",
    skipped_night_of: (night) => `the night of ${night}`,
    unskip: (night) => `Undo skip (${night})`,
    unskip_ok: (name, night) => `The night of ${night} at ${name} is supervised as agreed.`,
    none: "none",
    bed: "Bed",
    bed_on: "occupied",
    bed_off: "empty",
    bed_unknown: "unknown",
    faults: "Faults",
    not_commissioned: "Camera not commissioned",
    still_to_do: "Still to do",
    missing: {
      camera_probe: "camera test",
      equipment: "equipment reporting",
      session: "commissioning look with the staff",
    },
    start_commissioning: "Start commissioning look",
    commissioning_title: (name) => `Commissioning: ${name}`,
    view: "View",
    view_mode: { full: "Full picture", bed_area: "Bed area only", silhouette: "Silhouette" },
    mark_bed: "Drag a rectangle around the bed on the picture, then save it.",
    save_region: "Save bed area",
    region_saved: (mode) => `Bed area saved. The picture now shows what staff will see: ${mode}.`,
    start: "Start supervision",
    visit_done: "Visit done",
    visit_done_ok: (name) => `Visit to ${name} recorded.`,
    live_title: (name) => `Supervision: ${name}`,
    seconds_left: (n) => `${n} s left`,
    view_ended: "The view has ended.",
    outcome_prompt: "What did you see?",
    outcome: { ok: "OK", not_visible: "Not visible", needs_help: "Needs help" },
    outcome_saved: (name, o) => `${name}: “${o}” recorded.`,
    close: "Close",
    live_alt: "Live camera image",
    error: {
      not_operator: "You are not an operator of this home.",
      outside_slot: "No supervision is due now.",
      no_consent: "The resident has not consented.",
      decision_ended: "The decision for digital supervision has ended: make a physical visit instead.",
      logged_out: "The login that started the look has ended.",
      user_inactive: "Your user account is deactivated.",
      privacy_entity_changed: "The home's privacy switch was changed: start the look again.",
      view_changed: "The home's view was changed: start the look again.",
      skipped: "Tonight's checks are skipped.",
      fault: "The equipment has a fault: make a physical visit instead.",
      busy: "Someone else is looking at this home right now.",
      commissioning_closed: "Commissioning looks are closed for this home: it is commissioned, its 14 days are over or its 10 looks are used. An administrator can restart commissioning.",
      not_found: "The home or the session no longer exists.",
      not_commissioning: "The bed area is marked in a commissioning look only.",
      region_format: "Drag a rectangle around the bed first.",
      region_outside: "The bed area must lie inside the picture.",
      region_order: "Drag a rectangle around the bed first.",
      region_too_small: "The bed area must be at least a tenth of the picture's width and height.",
      unknown: "Something went wrong",
    },
  },
  sv: {
    title: "Tillsyn",
    loading: "Laddar…",
    not_operator_any: "Du är inte operatör för något boende, så här finns inget att visa.",
    no_homes: "Inga boenden är inlagda.",
    status: {
      waiting: "Väntar",
      due: "Dags nu",
      viewing: "Tittas på",
      follow_up: "Uppföljning",
      visit_required: "Besök krävs",
      skipped: "Inställd i natt",
      no_consent: "Samtycke saknas",
      fault: "Fel",
    },
    reason: {
      not_visible: "brukaren syntes inte",
      needs_help: "behöver hjälp",
      missed: "tillsyn missad",
      fault: "tekniskt fel",
      no_consent: "samtycke saknas",
      planned: "fysiskt besök enligt plan",
      decision_ended: "beslutet har upphört",
    },
    urgent: "Brådskande",
    open_visits: "Öppna besök",
    since_raised: (n) => (n < 1 ? "alldeles nyss"
      : n === 1 ? "för 1 minut sedan" : `för ${n} minuter sedan`),
    stage: { required: "ingen på väg än", acknowledged: "någon är på väg", done: "gjort" },
    done_held: (time) => `besöket är gjort; visas tills tillsynen det ersätter slutar ${time}`,
    visit_made: "Besök gjort",
    escalated: (n) => `eskalerat (nivå ${n})`,
    overdue: "försenat",
    acknowledge: "På väg",
    acknowledge_ok: (name) => `${name}: du är på väg.`,
    note: "Anteckning",
    finish: "Besök gjort",
    slot: "Tid",
    minutes_left: (n) => (n === 1 ? "1 minut kvar" : `${n} minuter kvar`),
    next: "Nästa tillsyn",
    checked: (time, outcome) => `Tittat ${time}, ${outcome}`,
    skip: "Ställ in i natt",
    skip_confirm: (name, night) => `Ställa in natten till ${night} hos ${name}? Inga digitala tillsyner görs den natten.`,
    skip_ok: (name, night) => `Natten till ${night} hos ${name} är inställd.`,
    skipped_night: "Inställd",
    skipped_night_of: (night) => `natten till ${night}`,
    unskip: (night) => `Ångra inställd natt (${night})`,
    unskip_ok: (name, night) => `Natten till ${night} hos ${name} får tillsyn som avtalat.`,
    none: "ingen",
    bed: "Säng",
    bed_on: "upptagen",
    bed_off: "tom",
    bed_unknown: "okänt",
    faults: "Fel",
    not_commissioned: "Kameran är inte driftsatt",
    still_to_do: "Återstår",
    missing: {
      camera_probe: "kameratest",
      equipment: "utrustningen rapporterar",
      session: "driftsättningstitt med personalen",
    },
    start_commissioning: "Starta driftsättningstitt",
    commissioning_title: (name) => `Driftsättning: ${name}`,
    view: "Vy",
    view_mode: { full: "Hel bild", bed_area: "Bara sängområdet", silhouette: "Siluett" },
    mark_bed: "Dra en rektangel runt sängen i bilden och spara den.",
    save_region: "Spara sängområdet",
    region_saved: (mode) => `Sängområdet är sparat. Bilden visar nu det personalen kommer att se: ${mode}.`,
    start: "Starta tillsyn",
    visit_done: "Besök gjort",
    visit_done_ok: (name) => `Besöket hos ${name} är registrerat.`,
    live_title: (name) => `Tillsyn: ${name}`,
    seconds_left: (n) => `${n} s kvar`,
    view_ended: "Visningen är slut.",
    outcome_prompt: "Vad såg du?",
    outcome: { ok: "OK", not_visible: "Syntes inte", needs_help: "Behöver hjälp" },
    outcome_saved: (name, o) => `${name}: ”${o}” registrerat.`,
    close: "Stäng",
    live_alt: "Kamerabild i realtid",
    error: {
      not_operator: "Du är inte operatör för det här boendet.",
      outside_slot: "Ingen tillsyn är aktuell nu.",
      no_consent: "Brukaren har inte samtyckt.",
      decision_ended: "Beslutet om digital tillsyn har upphört: gör ett fysiskt besök i stället.",
      logged_out: "Inloggningen som startade titten har upphört.",
      user_inactive: "Ditt användarkonto är inaktiverat.",
      privacy_entity_changed: "Boendets integritetsbrytare har ändrats: starta titten igen.",
      view_changed: "Boendets bildvy har ändrats: starta titten igen.",
      skipped: "Nattens tillsyner är inställda.",
      fault: "Utrustningen har ett fel: gör ett fysiskt besök i stället.",
      busy: "Någon annan tittar på det här boendet just nu.",
      commissioning_closed: "Driftsättningstittar är stängda för det här boendet: det är driftsatt, dess 14 dagar har gått eller dess 10 tittar är använda. En administratör kan starta om driftsättningen.",
      not_found: "Boendet eller tillsynen finns inte längre.",
      not_commissioning: "Sängområdet markeras bara vid en driftsättningstitt.",
      region_format: "Dra först en rektangel runt sängen.",
      region_outside: "Sängområdet måste ligga inom bilden.",
      region_order: "Dra först en rektangel runt sängen.",
      region_too_small: "Sängområdet måste vara minst en tiondel av bildens bredd och höjd.",
      unknown: "Något gick fel",
    },
  },
};

const STYLE = `
  :host { display: block; min-height: 100%; background: var(--primary-background-color);
    color: var(--primary-text-color); font-family: var(--paper-font-body1_-_font-family, system-ui, sans-serif); }
  header { display: flex; align-items: center; gap: 8px; height: 56px; padding: 0 12px;
    background: var(--app-header-background-color, var(--primary-color));
    color: var(--app-header-text-color, var(--text-primary-color)); }
  header h1 { font-size: 20px; font-weight: 400; margin: 0; }
  main { max-width: 720px; margin: 0 auto; padding: 12px; box-sizing: border-box; }
  .message { padding: 16px; border-radius: var(--ha-card-border-radius, 12px);
    background: var(--card-background-color); margin-bottom: 12px; }
  .notice { min-height: 1.2em; margin: 0 0 12px; }
  .notice.error { color: var(--error-color, #db4437); }
  ul { list-style: none; margin: 0; padding: 0; display: grid; gap: 12px; }
  li.home { background: var(--card-background-color); border-radius: var(--ha-card-border-radius, 12px);
    padding: 14px; border-left: 6px solid var(--divider-color, #888); }
  li.home[data-rank="0"] { border-left-color: var(--error-color, #db4437); }
  li.home[data-rank="1"] { border-left-color: var(--error-color, #db4437); }
  li.home[data-rank="2"] { border-left-color: var(--warning-color, #ffa600); }
  li.home[data-rank="3"] { border-left-color: var(--warning-color, #ffa600); }
  .top { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 6px; align-items: baseline; }
  h2 { font-size: 18px; margin: 0; }
  .status { font-weight: 600; }
  .urgent { color: var(--error-color, #db4437); font-weight: 700; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 8px 0; }
  dt { color: var(--secondary-text-color); }
  dd { margin: 0; }
  .warn { color: var(--warning-color, #ffa600); }
  .actions { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 8px; }
  button { font: inherit; font-size: 16px; min-height: 48px; padding: 0 18px; border-radius: 10px;
    border: 2px solid transparent; cursor: pointer; background: var(--primary-color); color: var(--text-primary-color, #fff); }
  button.secondary { background: transparent; color: var(--primary-text-color); border-color: var(--divider-color, #888); }
  button:focus-visible { outline: 3px solid var(--accent-color, #ff9800); outline-offset: 2px; }
  button:disabled { opacity: 0.5; cursor: default; }
  section.live { background: var(--card-background-color); border-radius: var(--ha-card-border-radius, 12px); padding: 12px; }
  .frame { position: relative; background: #000; aspect-ratio: 4 / 3; width: 100%; border-radius: 8px; overflow: hidden; }
  .frame img { width: 100%; height: 100%; object-fit: contain; display: block; }
  .frame img:not([src]) { visibility: hidden; }
  .frame .ended { position: absolute; inset: 0; display: flex; align-items: center;
    justify-content: center; color: #bbb; margin: 0; }
  /* The note's display: flex would otherwise override the hidden attribute. */
  .frame .ended[hidden] { display: none; }
  h2[tabindex]:focus-visible { outline: 3px solid var(--accent-color, #ff9800); outline-offset: 2px; }
  .view-mode { margin: 8px 0 0; color: var(--secondary-text-color); }
  .view-mode strong { color: var(--primary-text-color); }
  .marker { position: absolute; inset: 0; cursor: crosshair; touch-action: none; }
  .marker .region { position: absolute; border: 2px dashed var(--accent-color, #ff9800);
    background: rgba(255, 152, 0, 0.12); box-sizing: border-box; pointer-events: none; }
  .marker .region[hidden] { display: none; }
  .commissioning { margin: 6px 0 0; }
  .visits ol { list-style: none; padding: 0; margin: 0 0 16px; }
  .visits li.visit { border-left: 4px solid var(--warning-color, #ffa600); padding: 6px 10px;
    margin: 0 0 8px; background: var(--card-background-color, #fff); }
  .visits li.urgent-visit { border-left-color: var(--error-color, #db4437); }
  .visits input { min-height: 40px; flex: 1 1 120px; }
  .countdown { font-size: 28px; font-weight: 700; margin: 10px 0; font-variant-numeric: tabular-nums; }
  .outcomes { display: grid; grid-template-columns: 1fr; gap: 10px; margin: 10px 0; }
  .outcomes button { min-height: 64px; font-size: 20px; }
  .outcomes button[data-outcome="ok"] { background: var(--success-color, #43a047); }
  .outcomes button[data-outcome="not_visible"] { background: var(--warning-color, #ffa600); color: #000; }
  .outcomes button[data-outcome="needs_help"] { background: var(--error-color, #db4437); }
  @media (min-width: 600px) { .outcomes { grid-template-columns: repeat(3, 1fr); } }
`;

/** Where a home belongs in the list: lower comes first. */
function urgencyRank(home) {
  if (home.visit_required) return home.urgent ? 0 : 1;
  if (home.status === "due" || home.status === "viewing") return 2;
  if (home.status === "follow_up") return 3;
  return 4;
}

/** Every open visit of every home: urgent first, then the longest waiting. */
export function openVisits(homes) {
  const visits = [];
  for (const home of homes) {
    for (const visit of home.open_visits || []) visits.push({ home, visit });
  }
  const rank = ({ visit }) => (visit.stage === "done" ? 2 : visit.urgent ? 0 : 1);
  return visits.sort((a, b) => rank(a) - rank(b)
    || Date.parse(a.visit.raised) - Date.parse(b.visit.raised));
}

/** Visit required (urgent first), due, follow-up, then the rest by their next check. */
export function sortHomes(homes) {
  const next = (home) => (home.next_supervision ? Date.parse(home.next_supervision) : Infinity);
  return [...homes].sort(
    (a, b) =>
      urgencyRank(a) - urgencyRank(b) || next(a) - next(b) || a.name.localeCompare(b.name),
  );
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

class TrygghetskameraPanel extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._homes = null;
    this._live = null; // {home, sessionId, endsAt, timer, ended}
    this._notice = { text: "", error: false };
    this._busy = false;
    this._renderedKey = "";
    // Notes being typed, by visit id: the list is rebuilt on every minute and every change of
    // the data, and a half-written note must not be lost with its input field.
    this._drafts = new Map();
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (this._menuButton) {
      this._menuButton.hass = hass;
    }
    if (first) {
      this._render();
      this._poll();
    }
  }

  get hass() {
    return this._hass;
  }

  // Home Assistant gives a custom panel its registration; its title is the sidebar's.
  set panel(panel) {
    this._panel = panel;
    if (this._heading) this._heading.textContent = this._title;
  }

  get panel() {
    return this._panel;
  }

  set narrow(narrow) {
    this._narrow = narrow;
    if (this._menuButton) this._menuButton.narrow = narrow;
  }

  connectedCallback() {
    if (this._hass && !this._pollTimer) this._poll();
  }

  disconnectedCallback() {
    clearTimeout(this._pollTimer);
    this._pollTimer = null;
    this._closeLive();
  }

  get _t() {
    const language = (this._hass && this._hass.language) || "en";
    return language.toLowerCase().startsWith("sv") ? STRINGS.sv : STRINGS.en;
  }

  // The sidebar's title is one for everyone, in the server's language (panel.py): the header
  // says the same when the user's language is the server's, else it follows the user's.
  get _title() {
    const sidebar = this._panel && this._panel.title;
    const config = this._hass && this._hass.config;
    if (sidebar && config && this._hass.language === config.language) return sidebar;
    return this._t.title;
  }

  async _poll() {
    clearTimeout(this._pollTimer);
    try {
      this._homes = await this._hass.callWS({ type: `${DOMAIN}/homes` });
      if (this._notice.stale) this._setNotice("");
    } catch (err) {
      this._setNotice(this._errorText(err), true, true);
    }
    this._render();
    if (this.isConnected) this._pollTimer = setTimeout(() => this._poll(), POLL_MS);
  }

  _errorText(err) {
    const t = this._t;
    const code = err && err.code;
    if (code && t.error[code]) return t.error[code];
    return `${t.error.unknown}${err && err.message ? `: ${err.message}` : ""}`;
  }

  _setNotice(text, error = false, stale = false) {
    this._notice = { text, error, stale };
    const notice = this.shadowRoot.querySelector(".notice");
    if (notice) {
      notice.textContent = text;
      notice.classList.toggle("error", error);
    }
  }

  _time(iso) {
    const options = { hour: "2-digit", minute: "2-digit" };
    const zone = this._hass.config && this._hass.config.time_zone;
    if (zone) options.timeZone = zone;
    try {
      return new Intl.DateTimeFormat(this._hass.language || "en", options).format(new Date(iso));
    } catch (_err) {
      return new Date(iso).toLocaleTimeString();
    }
  }

  /** A clock time, with the weekday when it is not today (a later night's check). */
  _when(iso) {
    const zone = (this._hass.config && this._hass.config.time_zone) || undefined;
    const day = (date) => {
      try {
        return new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(date);
      } catch (_err) {
        return date.toDateString();
      }
    };
    const when = new Date(iso);
    if (day(when) === day(new Date())) return this._time(iso);
    let weekday = "";
    try {
      weekday = new Intl.DateTimeFormat(this._hass.language || "en", { weekday: "short", timeZone: zone })
        .format(when);
    } catch (_err) {
      weekday = "";
    }
    return `${weekday} ${this._time(iso)}`.trim();
  }

  _render() {
    if (!this._hass) return;
    // A running look is never re-rendered by a poll: a new <img> would ask for the stream again.
    const key = JSON.stringify(this._live
      ? ["live", this._live.sessionId, this._hass.language]
      : ["list", this._homes, this._hass.language, Math.floor(Date.now() / 60000)]);
    if (key === this._renderedKey && this.shadowRoot.childElementCount) return;
    this._renderedKey = key;
    // Keep the keyboard where it was: a poll re-renders the list.
    const focused = this.shadowRoot.activeElement;
    const focusKey = focused && focused.dataset ? focused.dataset.focusKey : null;
    const caret = focused && focused.tagName === "INPUT"
      ? [focused.selectionStart, focused.selectionEnd, focused.selectionDirection] : null;
    const t = this._t;
    const root = this.shadowRoot;
    root.textContent = "";
    root.append(el("style", {}, STYLE));
    this._menuButton = document.createElement("ha-menu-button");
    this._menuButton.hass = this._hass;
    this._menuButton.narrow = this._narrow;
    this._heading = el("h1", {}, this._title);
    root.append(el("header", {}, this._menuButton, this._heading));
    const main = el("main", {});
    main.append(el("p", { class: `notice${this._notice.error ? " error" : ""}`, role: "status",
      "aria-live": "polite" }, this._notice.text));
    if (this._live) main.append(this._renderLive());
    else main.append(this._renderList());
    root.append(main);
    if (focusKey) {
      const again = root.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
      if (again && caret && again.tagName === "INPUT") again.setSelectionRange(...caret);
    }
  }

  _renderList() {
    const t = this._t;
    if (this._homes === null) return el("p", { class: "message" }, t.loading);
    if (this._homes.length === 0) {
      const admin = this._hass.user && this._hass.user.is_admin;
      return el("p", { class: "message", "data-testid": "empty" },
        admin ? t.no_homes : t.not_operator_any);
    }
    const visits = openVisits(this._homes);
    return el("div", {},
      visits.length ? this._renderVisits(visits) : null,
      el("ul", { "aria-label": t.title },
        sortHomes(this._homes).map((home) => this._renderHome(home))));
  }

  /** The patrol's list: every open visit of every home, urgent first, then the oldest. */
  _renderVisits(visits) {
    const t = this._t;
    // Drafts of visits that are no longer open (done elsewhere) go with them.
    const open = new Set(visits.filter(({ visit }) => visit.stage !== "done")
      .map(({ visit }) => visit.visit_id));
    for (const id of [...this._drafts.keys()]) if (!open.has(id)) this._drafts.delete(id);
    return el("section", { class: "visits", "aria-label": t.open_visits },
      el("h2", {}, t.open_visits),
      el("ol", {}, visits.map(({ home, visit }) => {
        const minutes = Math.max(0, Math.floor((Date.now() - Date.parse(visit.raised)) / 60000));
        // A visit made in place of a whole check stays listed until that check's window ends.
        const stage = visit.stage === "done" && visit.held_until
          ? t.done_held(this._time(visit.held_until)) : t.stage[visit.stage] || visit.stage;
        const notes = [stage];
        if (visit.escalations) notes.push(t.escalated(visit.escalations));
        if (visit.overdue) notes.push(t.overdue);
        const noteInput = el("input", { type: "text", maxlength: "500", "aria-label": t.note,
          placeholder: t.note, "data-focus-key": `note-${visit.visit_id}`, "data-testid": "visit-note",
          oninput: (event) => this._drafts.set(visit.visit_id, event.target.value) });
        noteInput.value = this._drafts.get(visit.visit_id) || "";
        const actions = [];
        if (visit.stage === "required") {
          actions.push(el("button", { type: "button", "data-action": "acknowledge",
            "data-focus-key": `ack-${visit.visit_id}`, disabled: this._busy,
            onclick: () => this._visitAction(home, visit, "visit_acknowledge") }, t.acknowledge));
        }
        if (visit.stage !== "done") {
          actions.push(noteInput, el("button", { type: "button", class: "secondary",
            "data-action": "finish", "data-focus-key": `finish-${visit.visit_id}`,
            disabled: this._busy,
            onclick: () => this._visitAction(home, visit, "visit_done", noteInput.value) },
          t.finish));
        }
        return el("li", { class: `visit${visit.urgent ? " urgent-visit" : ""}`,
          "data-visit-id": visit.visit_id, "data-stage": visit.stage },
          el("div", { class: "top" }, el("strong", {}, home.name),
            el("span", { class: "status" }, t.reason[visit.reason] || visit.reason),
            visit.urgent ? el("span", { class: "urgent" }, t.urgent) : null),
          el("p", { "data-testid": "visit-state" }, `${t.since_raised(minutes)} · ${notes.join(" · ")}`),
          actions.length ? el("div", { class: "actions" }, actions) : null);
      })));
  }

  _renderHome(home) {
    const t = this._t;
    const rows = [];
    if (home.slot_start && home.slot_end) {
      rows.push(el("dt", {}, t.slot),
        el("dd", {}, `${this._time(home.slot_start)}–${this._time(home.slot_end)}`));
      const left = Math.ceil((Date.parse(home.slot_end) - Date.now()) / 60000);
      if (home.slot_result) {
        // Already looked at in this slot: say when and what was seen, not the minutes left.
        const outcome = t.outcome[home.slot_result.outcome] || home.slot_result.outcome;
        rows.push(el("dt", {}, ""), el("dd", { class: "slot-result", "data-testid": "slot-result" },
          t.checked(this._time(home.slot_result.at), outcome)));
      } else if (left > 0) {
        rows.push(el("dt", {}, ""), el("dd", { class: "minutes-left" }, t.minutes_left(left)));
      }
    }
    if ((home.skipped_nights || []).length) {
      rows.push(el("dt", {}, t.skipped_night), el("dd", { "data-testid": "skipped-nights" },
        home.skipped_nights.map((night) => t.skipped_night_of(this._night(night))).join(", ")));
    }
    // While its slot is open, a home's next check is that slot: already shown above.
    if (!home.slot_start || Date.parse(home.next_supervision) !== Date.parse(home.slot_start)) {
      rows.push(el("dt", {}, t.next),
        el("dd", {}, home.next_supervision ? this._when(home.next_supervision) : t.none));
    }
    const bed = home.bed_occupied === true ? t.bed_on : home.bed_occupied === false ? t.bed_off : t.bed_unknown;
    rows.push(el("dt", {}, t.bed), el("dd", {}, bed));
    if (home.view_mode && home.view_mode !== "full") {
      // The sensor view: staff know before they look that the picture is filtered.
      rows.push(el("dt", {}, t.view), el("dd", { "data-testid": "home-view-mode" },
        this._viewModeText(home.view_mode)));
    }
    if (home.faults && home.faults.length) {
      rows.push(el("dt", {}, t.faults), el("dd", { class: "warn" }, home.faults.join(", ")));
    }
    // Every open visit made, only waiting for the end of the check it replaced: say so, and
    // offer no second "Visit done" for it.
    const visits = home.open_visits || [];
    const made = home.visit_required && visits.length > 0
      && visits.every((visit) => visit.stage === "done");
    const status = made ? t.visit_made : t.status[home.status] || home.status;
    const reason = home.visit_required && home.reason ? ` (${t.reason[home.reason] || home.reason})` : "";
    const actions = [];
    if (home.may_view) {
      actions.push(el("button", { type: "button", "data-focus-key": `start-${home.entry_id}`,
        "data-action": "start", disabled: this._busy,
        onclick: () => this._start(home) }, t.start));
    }
    if (home.may_commission) {
      actions.push(el("button", { type: "button", class: "secondary",
        "data-focus-key": `commission-${home.entry_id}`, "data-action": "commission",
        disabled: this._busy, onclick: () => this._start(home, "commissioning") },
      t.start_commissioning));
    }
    if (home.visit_required && !made && home.device_id) {
      actions.push(el("button", { type: "button", class: "secondary",
        "data-focus-key": `visit-${home.entry_id}`, "data-action": "visit-done", disabled: this._busy,
        onclick: () => this._visitDone(home) }, t.visit_done));
    }
    if (home.may_skip && home.device_id) {
      actions.push(el("button", { type: "button", class: "secondary",
        "data-focus-key": `skip-${home.entry_id}`, "data-action": "skip", disabled: this._busy,
        onclick: () => this._skip(home) }, t.skip));
    }
    if (home.may_unskip && home.device_id) {
      actions.push(el("button", { type: "button", class: "secondary",
        "data-focus-key": `unskip-${home.entry_id}`, "data-action": "unskip", disabled: this._busy,
        onclick: () => this._unskip(home) }, t.unskip(this._night(home.tonight))));
    }
    return el("li", { class: "home", "data-rank": String(urgencyRank(home)),
      "data-entry-id": home.entry_id, "data-status": home.status },
      el("div", { class: "top" }, el("h2", {}, home.name),
        el("span", { class: "status" }, status + reason),
        home.visit_required && home.urgent ? el("span", { class: "urgent" }, t.urgent) : null),
      el("dl", {}, rows),
      home.commissioned === false ? this._renderCommissioning(home) : null,
      actions.length ? el("div", { class: "actions" }, actions) : null);
  }

  _renderCommissioning(home) {
    const t = this._t;
    const missing = (home.commissioning_missing || []).map((check) => t.missing[check] || check);
    return el("div", { class: "commissioning" },
      el("p", { class: "warn" }, t.not_commissioned),
      missing.length
        ? el("p", { "data-testid": "commissioning-missing" }, `${t.still_to_do}: ${missing.join(", ")}`)
        : null);
  }

  _viewModeText(mode) {
    const t = this._t;
    return t.view_mode[mode] || mode;
  }

  _renderLive() {
    const t = this._t;
    const live = this._live;
    const img = el("img", { alt: t.live_alt, "data-testid": "live-image" });
    if (!live.ended) img.src = this._hass.hassUrl ? this._hass.hassUrl(live.streamPath) : live.streamPath;
    live.img = img;
    const countdown = el("p", { class: "countdown", role: "timer", "aria-live": "polite",
      "aria-atomic": "true", "data-testid": "countdown" });
    live.countdown = countdown;
    live.endedNote = el("p", { class: "ended", hidden: true }, t.view_ended);
    this._tick();
    const outcomes = ["ok", "not_visible", "needs_help"].map((outcome) =>
      el("button", { type: "button", "data-outcome": outcome, "data-focus-key": `outcome-${outcome}`,
        disabled: this._busy, onclick: () => this._outcome(outcome) }, t.outcome[outcome]));
    const title = live.purpose === "commissioning"
      ? t.commissioning_title(live.home.name) : t.live_title(live.home.name);
    live.modeLabel = el("strong", {}, this._viewModeText(live.viewMode));
    const marking = live.purpose === "commissioning" ? this._renderMarking() : [];
    return el("section", { class: "live", "aria-label": title, "data-view-mode": live.viewMode },
      el("h2", { tabindex: "-1", "data-focus-key": "live-title" }, title),
      el("div", { class: "frame" }, img, marking.length ? marking[0] : null, live.endedNote),
      el("p", { class: "view-mode", "data-testid": "view-mode" }, `${t.view}: `, live.modeLabel),
      marking.slice(1),
      countdown,
      el("p", {}, t.outcome_prompt),
      el("div", { class: "outcomes" }, outcomes),
      el("button", { type: "button", class: "secondary", "data-focus-key": "close",
        onclick: () => this._closeLive(true) }, t.close));
  }

  /** The installer's bed area: dragged on the live picture, saved with its own button. */
  _renderMarking() {
    const t = this._t;
    const live = this._live;
    const box = el("div", { class: "region", hidden: true });
    const marker = el("div", { class: "marker", "data-testid": "marker" }, box);
    const save = el("button", { type: "button", class: "secondary", "data-action": "save-region",
      disabled: true, onclick: () => this._saveRegion() }, t.save_region);
    live.regionBox = box;
    live.saveButton = save;
    let origin = null;
    const point = (event) => {
      const area = this._pictureArea(marker, live.img);
      const x = Math.min(1, Math.max(0, (event.clientX - area.left) / area.width));
      const y = Math.min(1, Math.max(0, (event.clientY - area.top) / area.height));
      return [x, y];
    };
    marker.addEventListener("pointerdown", (event) => {
      if (live.ended) return;
      marker.setPointerCapture(event.pointerId);
      origin = point(event);
      event.preventDefault();
    });
    marker.addEventListener("pointermove", (event) => {
      if (!origin) return;
      this._showRegion(marker, [...origin, ...point(event)]);
    });
    marker.addEventListener("pointerup", (event) => {
      if (!origin) return;
      const [x0, y0] = origin;
      const [x1, y1] = point(event);
      origin = null;
      const round = (v) => Math.round(v * 1000) / 1000;
      live.region = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)].map(round);
      this._showRegion(marker, live.region);
      save.disabled = live.ended;
    });
    if (live.home.view_region) {
      // The bed area saved earlier, until a new one is dragged.
      requestAnimationFrame(() => this._showRegion(marker, live.home.view_region));
    }
    return [marker, el("p", {}, t.mark_bed), el("div", { class: "actions" }, save)];
  }

  /** Where the picture is inside its box (object-fit: contain leaves bars), in page pixels. */
  _pictureArea(box, img) {
    const rect = box.getBoundingClientRect();
    const naturalWidth = (img && img.naturalWidth) || 4;
    const naturalHeight = (img && img.naturalHeight) || 3;
    const scale = Math.min(rect.width / naturalWidth, rect.height / naturalHeight);
    const width = naturalWidth * scale;
    const height = naturalHeight * scale;
    return { left: rect.left + (rect.width - width) / 2, top: rect.top + (rect.height - height) / 2,
      width, height };
  }

  _showRegion(marker, [x0, y0, x1, y1]) {
    const live = this._live;
    if (!live || !live.regionBox) return;
    const area = this._pictureArea(marker, live.img);
    const rect = marker.getBoundingClientRect();
    const box = live.regionBox;
    box.style.left = `${area.left - rect.left + Math.min(x0, x1) * area.width}px`;
    box.style.top = `${area.top - rect.top + Math.min(y0, y1) * area.height}px`;
    box.style.width = `${Math.abs(x1 - x0) * area.width}px`;
    box.style.height = `${Math.abs(y1 - y0) * area.height}px`;
    box.hidden = false;
  }

  async _saveRegion() {
    const live = this._live;
    if (!live || !live.region || this._busy) return;
    this._busy = true;
    try {
      const result = await this._hass.callWS({ type: `${DOMAIN}/view_region/set`,
        session_id: live.sessionId, region: live.region });
      live.viewMode = result.view_mode;
      live.home = { ...live.home, view_region: result.view_region, view_mode: result.view_mode };
      if (live.modeLabel) live.modeLabel.textContent = this._viewModeText(result.view_mode);
      const section = this.shadowRoot.querySelector("section.live");
      if (section) {
        section.dataset.viewMode = result.view_mode;
        section.dataset.region = JSON.stringify(result.view_region);
      }
      this._setNotice(this._t.region_saved(this._viewModeText(result.view_mode)));
    } catch (err) {
      this._setNotice(this._errorText(err), true);
    }
    this._busy = false;
  }

  _tick() {
    const live = this._live;
    if (!live || !live.countdown) return;
    const left = Math.max(0, Math.ceil((live.endsAt - Date.now()) / 1000));
    if (left === 0) this._endView();
    const text = live.ended ? this._t.view_ended : this._t.seconds_left(left);
    if (live.countdown.textContent !== text) live.countdown.textContent = text;
  }

  /** Stop showing frames: the image is emptied, so the page keeps none. */
  _endView() {
    const live = this._live;
    if (!live) return;
    live.ended = true;
    clearInterval(live.timer);
    if (live.img) {
      // Setting src="" aborts the stream's request; removing it leaves no frame behind.
      live.img.src = "";
      live.img.removeAttribute("src");
    }
    if (live.endedNote) live.endedNote.hidden = false;
    if (live.saveButton) live.saveButton.disabled = true;
  }

  _closeLive(rerender = false) {
    if (!this._live) return;
    this._endView();
    this._live = null;
    if (rerender) {
      this._render();
      this._poll();
    }
  }

  async _start(home, purpose = "supervision") {
    if (this._busy) return;
    this._busy = true;
    this._setNotice("");
    try {
      const result = await this._hass.callWS({ type: `${DOMAIN}/session/start`, entry_id: home.entry_id,
        purpose });
      this._live = {
        home,
        purpose,
        sessionId: result.session_id,
        streamPath: result.stream_path,
        endsAt: Date.now() + result.view_seconds * 1000,
        ended: false,
        viewMode: result.view_mode || home.view_mode || "full",
      };
      this._busy = false;
      this._render();
      this._live.timer = setInterval(() => this._tick(), 250);
      // Focus the heading, not an outcome button: a stray Enter must not record anything.
      const title = this.shadowRoot.querySelector('[data-focus-key="live-title"]');
      if (title) title.focus();
    } catch (err) {
      this._busy = false;
      this._setNotice(`${home.name}: ${this._errorText(err)}`, true);
      this._poll();
    }
  }

  async _outcome(outcome) {
    const live = this._live;
    if (!live || this._busy) return;
    this._busy = true;
    try {
      await this._hass.callWS({ type: `${DOMAIN}/session/outcome`, session_id: live.sessionId, outcome });
      this._busy = false;
      this._closeLive();
      this._setNotice(this._t.outcome_saved(live.home.name, this._t.outcome[outcome]));
      await this._poll();
    } catch (err) {
      this._busy = false;
      this._setNotice(this._errorText(err), true);
    }
  }

  async _visitAction(home, visit, action, note) {
    if (this._busy) return;
    this._busy = true;
    const data = { visit_id: visit.visit_id };
    if (note && note.trim()) data.note = note.trim();
    try {
      await this._hass.callService(DOMAIN, action, data);
      if (action === "visit_done") this._drafts.delete(visit.visit_id);
      const t = this._t;
      this._setNotice(action === "visit_done" ? t.visit_done_ok(home.name) : t.acknowledge_ok(home.name));
    } catch (err) {
      this._setNotice(`${home.name}: ${this._errorText(err)}`, true);
    }
    this._busy = false;
    this._renderedKey = "";
    await this._poll();
  }

  /** A night (its evening's ISO date) as "30 Nov" / "30 nov." in the user's language. */
  _night(isoDate) {
    try {
      return new Intl.DateTimeFormat(this._hass.language || "en",
        { day: "numeric", month: "short", timeZone: "UTC" }).format(new Date(`${isoDate}T12:00:00Z`));
    } catch (_err) {
      return isoDate;
    }
  }

  /** Skip tonight, after a confirmation that names the night; the list then offers Undo. */
  async _skip(home) {
    if (this._busy) return;
    const t = this._t;
    const night = this._night(home.tonight);
    if (!window.confirm(t.skip_confirm(home.name, night))) return;
    await this._nightAction(home, "skip_night", t.skip_ok(home.name, night));
  }

  async _unskip(home) {
    if (this._busy) return;
    await this._nightAction(home, "unskip_night",
      this._t.unskip_ok(home.name, this._night(home.tonight)));
  }

  async _nightAction(home, service, done) {
    this._busy = true;
    try {
      // The night is named, so a skip never lands on another night than the one confirmed.
      await this._hass.callService(DOMAIN, service, { device_id: home.device_id, date: home.tonight });
      this._setNotice(done);
    } catch (err) {
      this._setNotice(`${home.name}: ${this._errorText(err)}`, true);
    }
    this._busy = false;
    this._renderedKey = "";
    await this._poll();
  }

  async _visitDone(home) {
    if (this._busy) return;
    this._busy = true;
    try {
      await this._hass.callService(DOMAIN, "visit_done", { device_id: home.device_id });
      this._setNotice(this._t.visit_done_ok(home.name));
    } catch (err) {
      this._setNotice(`${home.name}: ${this._errorText(err)}`, true);
    }
    this._busy = false;
    this._renderedKey = "";
    await this._poll();
  }
}

if (!customElements.get("trygghetskamera-panel")) {
  customElements.define("trygghetskamera-panel", TrygghetskameraPanel);
}
