// The dev Slack page: draws what the stand-in holds roughly as Slack lays it out, and acts through /_emulator/.
// Every text comes from the service under test or from a CSR (attacker text), so the page builds DOM nodes and
// sets text with textContent only; it never assigns HTML. The Content-Security-Policy allows only this file.
"use strict";

const POLL_MS = 1000;
const USER_KEY = "csrgate-dev-user";
const CHANNEL_KEY = "csrgate-dev-channel";
const HOME = "home";
const BUTTON_STYLES = new Set(["primary", "danger"]);
const EMOJI = {
  white_check_mark: "\u2705", heavy_check_mark: "\u2714\ufe0f", x: "\u274c", warning: "\u26a0\ufe0f",
  lock: "\ud83d\udd12", key: "\ud83d\udd11", hourglass: "\u231b", hourglass_flowing_sand: "\u23f3",
  no_entry: "\u26d4", no_entry_sign: "\ud83d\udeab", information_source: "\u2139\ufe0f", tada: "\ud83c\udf89",
  eyes: "\ud83d\udc40", rotating_light: "\ud83d\udea8", page_facing_up: "\ud83d\udcc4", bust_in_silhouette: "\ud83d\udc64",
  robot_face: "\ud83e\udd16", clock3: "\ud83d\udd52", memo: "\ud83d\udcdd", ok: "\ud83c\udd97",
};

const page = { me: localStorage.getItem(USER_KEY) || "", channel: localStorage.getItem(CHANNEL_KEY) || "",
  data: null, paneKey: "", modalKey: "", sidebarKey: "", usersKey: "" };

// --- building nodes -----------------------------------------------------------------------------------------------

/** An element with attributes (never event handlers) and children (strings become text nodes). */
function h(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) throw new Error("handlers are added with addEventListener");
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Text with Slack's :emoji: codes the page knows drawn as the characters. */
function text(value) {
  return document.createTextNode(String(value ?? "").replace(/:([a-z0-9_+-]+):/g, (code, name) => EMOJI[name] || code));
}

/** Slack escapes only these three in message text (api.slack.com/reference/surfaces/formatting#escaping). */
function unescapeSlack(value) {
  return String(value).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function userName(id) {
  const user = page.data && page.data.users[id];
  return user ? user.name : id;
}

function safeUrl(url) {
  return /^(https?:|mailto:)/i.test(url) ? url : null;
}

function link(url, label) {
  const href = safeUrl(url);
  if (!href) return h("span", { class: "link-refused", title: "not an http(s) link" }, label);
  return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, label);
}

// --- mrkdwn, minimally (api.slack.com/reference/surfaces/formatting) ------------------------------------------------

function mrkdwn(source) {
  const fragment = document.createDocumentFragment();
  const parts = String(source ?? "").split("```");
  if (parts.length % 2 === 0) parts.push(parts.pop() + "```" + (parts.pop() ?? ""));
  parts.forEach((part, index) => {
    if (index % 2 === 1) fragment.append(h("pre", { class: "code-block" }, unescapeSlack(part.replace(/^\n/, ""))));
    else fragment.append(inline(part));
  });
  return fragment;
}

const INLINE = /(`[^`\n]+`)|(<[^<>\n]+>)|(?<![\w*])\*([^*\n]+)\*(?![\w*])|(?<![\w_])_([^_\n]+)_(?![\w_])|(?<![\w~])~([^~\n]+)~(?![\w~])/g;

function inline(source) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of source.matchAll(INLINE)) {
    fragment.append(text(unescapeSlack(source.slice(last, match.index))));
    const [whole, code, angle, bold, italic, strike] = match;
    if (code) fragment.append(h("code", {}, unescapeSlack(whole.slice(1, -1))));
    else if (angle) fragment.append(angled(whole.slice(1, -1)));
    else if (bold) fragment.append(h("b", {}, inline(bold)));
    else if (italic) fragment.append(h("i", {}, inline(italic)));
    else if (strike) fragment.append(h("s", {}, inline(strike)));
    last = match.index + whole.length;
  }
  fragment.append(text(unescapeSlack(source.slice(last))));
  return fragment;
}

function angled(inner) {
  const [target, label] = splitOnce(inner, "|");
  if (target.startsWith("@")) return h("span", { class: "mention" }, "@" + (label || userName(target.slice(1))));
  if (target.startsWith("#")) return h("span", { class: "mention" }, "#" + (label || target.slice(1)));
  if (target.startsWith("!subteam^")) return h("span", { class: "mention" }, label || "@group");
  if (target.startsWith("!date^")) return text(unescapeSlack(label || ""));
  if (target.startsWith("!")) return h("span", { class: "mention" }, "@" + target.slice(1));
  // not a link Slack would make (no scheme): shown as typed, brackets and all
  if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) return text(unescapeSlack(`<${inner}>`));
  return link(unescapeSlack(target), unescapeSlack(label || target));
}

function splitOnce(value, separator) {
  const at = value.indexOf(separator);
  return at < 0 ? [value, ""] : [value.slice(0, at), value.slice(at + 1)];
}

/** A text object: mrkdwn or plain_text. */
function textObject(object) {
  if (!object) return document.createDocumentFragment();
  if (typeof object === "string") return text(object);
  return object.type === "mrkdwn" ? mrkdwn(object.text) : text(object.text);
}

function plain(object) {
  return object && typeof object === "object" ? String(object.text ?? "") : String(object ?? "");
}

// --- rich text ----------------------------------------------------------------------------------------------------

function richText(block) {
  return h("div", { class: "rich-text" }, (block.elements || []).map(richElement));
}

function richElement(element) {
  switch (element.type) {
    case "rich_text_section":
      return h("p", { class: "rich-section" }, (element.elements || []).map(richInline));
    case "rich_text_list": {
      const items = (element.elements || []).map((item) => h("li", {}, richElement(item)));
      return h(element.style === "ordered" ? "ol" : "ul", { class: "rich-list" }, items);
    }
    case "rich_text_preformatted":
      return h("pre", { class: "code-block" }, (element.elements || []).map(richInline));
    case "rich_text_quote":
      return h("blockquote", {}, (element.elements || []).map(richInline));
    default:
      return unsupported(element.type);
  }
}

function richInline(element) {
  const style = element.style || {};
  let node;
  switch (element.type) {
    case "text": node = text(element.text); break;
    case "link": node = link(String(element.url || ""), String(element.text || element.url || "")); break;
    case "user": node = h("span", { class: "mention" }, "@" + userName(element.user_id)); break;
    case "usergroup": node = h("span", { class: "mention" }, "@" + (element.usergroup_id || "group")); break;
    case "channel": node = h("span", { class: "mention" }, "#" + (element.channel_id || "")); break;
    case "broadcast": node = h("span", { class: "mention" }, "@" + (element.range || "here")); break;
    case "emoji": node = document.createTextNode(emoji(element)); break;
    case "date": node = text(element.fallback || ""); break;
    default: return unsupported(element.type);
  }
  if (style.code) node = h("code", {}, node);
  if (style.bold) node = h("b", {}, node);
  if (style.italic) node = h("i", {}, node);
  if (style.strike) node = h("s", {}, node);
  return node;
}

function emoji(element) {
  if (element.unicode && /^[0-9a-f-]+$/i.test(element.unicode)) {
    return String.fromCodePoint(...element.unicode.split("-").map((hex) => parseInt(hex, 16)));
  }
  return EMOJI[element.name] || `:${element.name}:`;
}

function unsupported(kind) {
  return h("span", { class: "unsupported" }, `[${String(kind)} is not drawn here]`);
}

// --- blocks -------------------------------------------------------------------------------------------------------

/** Blocks as Slack lays them out; `where` says what a click acts on (a message, a modal or the Home tab). */
function blocks(list, where) {
  return h("div", { class: "blocks" }, (list || []).map((block) => drawBlock(block, where)));
}

function drawBlock(block, where) {
  const wrapper = h("div", { class: `block block-${String(block.type)}`, "data-block": block.block_id || "" });
  wrapper.append(blockBody(block, where));
  if (where.kind === "view") wrapper.append(h("div", { class: "input-error", "data-error-for": block.block_id || "" }));
  return wrapper;
}

function blockBody(block, where) {
  switch (block.type) {
    case "header": return h("h3", { class: "header" }, text(plain(block.text)));
    case "section": return section(block, where);
    case "context":
      return h("div", { class: "context" }, (block.elements || []).map((element) =>
        element.type === "image" ? h("span", { class: "image-alt" }, `[${plain(element.alt_text)}]`)
          : h("span", {}, textObject(element))));
    case "divider": return h("hr");
    case "rich_text": return richText(block);
    case "image":
      return h("div", { class: "image" }, block.title ? h("div", {}, text(plain(block.title))) : null,
        h("span", { class: "image-alt" }, `[image: ${plain(block.alt_text)}]`));
    case "actions":
      return h("div", { class: "actions" }, (block.elements || []).map((element) => control(element, block, where)));
    case "input": return input(block);
    default: return unsupported(block.type);
  }
}

function section(block, where) {
  const body = h("div", { class: "section" });
  const main = h("div", { class: "section-main" });
  if (block.text) main.append(h("div", { class: "section-text" }, textObject(block.text)));
  if (block.fields) main.append(h("div", { class: "fields" }, block.fields.map((f) => h("div", { class: "field" }, textObject(f)))));
  body.append(main);
  if (block.accessory) body.append(h("div", { class: "accessory" }, control(block.accessory, block, where)));
  return body;
}

/** A button, a select or another interactive element of a block. */
function control(element, block, where) {
  if (element.type === "button") return button(element, block, where);
  if (element.type === "static_select") {
    const picker = select(element, block);
    picker.addEventListener("change", () => {
      if (picker.value) act(where, block.block_id, element, picker.value);
    });
    return picker;
  }
  if (element.type === "image") return h("span", { class: "image-alt" }, `[${plain(element.alt_text)}]`);
  return unsupported(element.type);
}

function button(element, block, where) {
  const style = BUTTON_STYLES.has(element.style) ? element.style : "default";
  const node = h("button", { type: "button", class: `block-button ${style}`, "data-action-id": element.action_id,
    "data-block-id": block.block_id || "", "data-value": element.value ?? "" }, text(plain(element.text)));
  if (where.kind === "ephemeral") node.disabled = true; // clicks on ephemeral messages are not sent by the stand-in
  node.addEventListener("click", () => act(where, block.block_id, element));
  return node;
}

function select(element, block) {
  const node = h("select", { class: "block-select", "data-action-id": element.action_id,
    "data-block-id": block.block_id || "" }, h("option", { value: "" }, plain(element.placeholder) || "Select an option"));
  const option = (o) => h("option", { value: o.value, selected: element.initial_option?.value === o.value }, plain(o.text));
  (element.options || []).forEach((o) => node.append(option(o)));
  (element.option_groups || []).forEach((g) => node.append(h("optgroup", { label: plain(g.label) }, (g.options || []).map(option))));
  return node;
}

// --- acting -------------------------------------------------------------------------------------------------------

async function act(where, blockId, element, value) {
  if (element.confirm && !(await confirmed(element.confirm))) return;
  const target = where.kind === "message" ? { channel: where.channel, ts: where.ts }
    : where.kind === "home" ? { home: page.me } : { view_id: where.viewId, values: modalValues() };
  await send("/_emulator/click", { ...target, block_id: blockId || "", action_id: element.action_id, user: page.me,
    value }, plain(element.text) || element.action_id);
}

async function send(path, body, what) {
  try {
    const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
    const answer = await response.json();
    notice(response.ok ? `${what}: csrgate answered ${answer.status} in ${answer.elapsed_ms} ms`
      : `${what}: ${answer.error || response.status}`, !response.ok || answer.status !== 200);
    await refresh();
    return answer;
  } catch (error) {
    notice(`${what}: ${error}`, true);
    return null;
  }
}

function notice(message, failed) {
  const node = document.getElementById("notice");
  node.textContent = message;
  node.className = failed ? "failed" : "";
}

/** Slack's confirmation dialog for a button with `confirm`: resolves true only when its confirm button is clicked. */
function confirmed(confirm) {
  return new Promise((resolve) => {
    const layer = document.getElementById("confirm-layer");
    const close = (answer) => { layer.replaceChildren(); resolve(answer); };
    const style = BUTTON_STYLES.has(confirm.style) ? confirm.style : "primary";
    const yes = h("button", { type: "button", class: `block-button ${style}`, "data-confirm": "yes" },
      text(plain(confirm.confirm) || "Yes"));
    const no = h("button", { type: "button", class: "block-button default", "data-confirm": "no" },
      text(plain(confirm.deny) || "Cancel"));
    yes.addEventListener("click", () => close(true));
    no.addEventListener("click", () => close(false));
    layer.replaceChildren(h("div", { class: "overlay" }, h("div", { class: "confirm-dialog", role: "alertdialog" },
      h("h3", { class: "confirm-title" }, text(plain(confirm.title) || "Are you sure?")),
      h("div", { class: "confirm-text" }, textObject(confirm.text)),
      h("div", { class: "dialog-buttons" }, no, yes))));
    yes.focus();
  });
}

// --- messages -----------------------------------------------------------------------------------------------------

function messageNode(message, replies) {
  const where = { kind: "message", channel: message.channel, ts: message.ts };
  const node = h("div", { class: "message", "data-ts": message.ts, "data-channel": message.channel },
    author(message.ts, message.updated),
    h("div", { class: "message-body" }, message.blocks.length ? blocks(message.blocks, where) : mrkdwn(message.text)));
  if (replies.length) {
    node.append(h("div", { class: "thread", "data-thread-ts": message.ts },
      h("div", { class: "thread-count" }, `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`),
      replies.map((reply) => messageNode(reply, []))));
  }
  return node;
}

function author(ts, updated) {
  const when = ts ? new Date(parseFloat(ts) * 1000).toLocaleTimeString() : "";
  return h("div", { class: "author" }, h("b", {}, "csrgate"), h("span", { class: "app-badge" }, "APP"),
    h("span", { class: "when" }, when), updated ? h("span", { class: "edited" }, "(edited)") : null);
}

function ephemeralNode(message, index) {
  const where = { kind: "ephemeral" };
  return h("div", { class: "message ephemeral", "data-ephemeral": index },
    h("div", { class: "only-you" }, "Only visible to you"), author("", false),
    h("div", { class: "message-body" }, message.blocks ? blocks(message.blocks, where) : mrkdwn(message.text)));
}

function fileNode(file) {
  return h("div", { class: "file", "data-file-id": file.id },
    author("", false),
    file.initial_comment ? h("div", { class: "message-body" }, mrkdwn(file.initial_comment)) : null,
    h("div", { class: "file-card" }, h("span", { class: "file-icon" }, "\ud83d\udcc4"),
      h("div", {}, h("div", { class: "file-title" }, text(file.title)),
        h("div", { class: "file-name" }, `${file.name} \u00b7 ${file.size} bytes`)),
      h("a", { class: "file-download", href: file.url, download: file.name }, "Download")));
}

function channelPane(data) {
  const mine = (m) => m.channel === page.channel;
  const messages = data.messages.filter(mine);
  const parents = messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const known = new Set(parents.map((m) => m.ts));
  const orphans = messages.filter((m) => m.thread_ts && m.thread_ts !== m.ts && !known.has(m.thread_ts));
  const nodes = [...parents, ...orphans].map((m) =>
    messageNode(m, messages.filter((r) => r.thread_ts === m.ts && r.ts !== m.ts)));
  nodes.push(...data.files.filter(mine).map(fileNode));
  nodes.push(...data.ephemeral.map((e, i) => [e, i]).filter(([e]) => mine(e)).map(([e, i]) => ephemeralNode(e, i)));
  if (!nodes.length) nodes.push(h("p", { class: "empty" }, "Nothing here yet."));
  return nodes;
}

function homePane(data) {
  if (!data.home) return [h("p", { class: "empty" }, "csrgate has not published a Home tab for you yet.")];
  return [h("div", { class: "home-view", "data-view-id": data.home.id }, blocks(data.home.blocks, { kind: "home" }))];
}

// --- modals -------------------------------------------------------------------------------------------------------

function input(block) {
  const element = block.element || {};
  const label = h("label", { class: "input-label" }, text(plain(block.label)),
    block.optional ? h("span", { class: "optional" }, " (optional)") : null);
  return h("div", { class: "input" }, label, inputElement(element, block),
    block.hint ? h("div", { class: "hint" }, text(plain(block.hint))) : null);
}

function inputElement(element, block) {
  const ids = { "data-block-id": block.block_id || "", "data-action-id": element.action_id || "" };
  switch (element.type) {
    case "plain_text_input": {
      const attributes = { ...ids, class: "text-input", placeholder: plain(element.placeholder) || null,
        maxlength: element.max_length || null };
      const node = element.multiline ? h("textarea", { ...attributes, rows: 6 }) : h("input", { ...attributes, type: "text" });
      node.value = element.initial_value || "";
      return node;
    }
    case "number_input": case "email_text_input": case "url_text_input": {
      const kind = { number_input: "number", email_text_input: "email", url_text_input: "url" }[element.type];
      const node = h("input", { ...ids, class: "text-input", type: kind });
      node.value = element.initial_value || "";
      return node;
    }
    case "static_select": return select(element, block);
    case "radio_buttons":
      return h("div", { ...ids, class: "radio-group", role: "radiogroup" }, (element.options || []).map((o) =>
        h("label", {}, h("input", { type: "radio", name: `${block.block_id}/${element.action_id}`, value: o.value,
          checked: element.initial_option?.value === o.value }), text(plain(o.text)))));
    default: return unsupported(element.type);
  }
}

/** What is typed and picked in the open modal: {block_id: {action_id: value}}, empty inputs left out. */
function modalValues() {
  const values = {};
  document.querySelectorAll("#modal-layer [data-block-id][data-action-id]").forEach((node) => {
    if (node.tagName === "BUTTON") return;
    const value = node.classList.contains("radio-group") ? node.querySelector("input:checked")?.value : node.value;
    if (!value) return;
    (values[node.dataset.blockId] ||= {})[node.dataset.actionId] = value;
  });
  return values;
}

function restoreValues(values) {
  for (const [blockId, actions] of Object.entries(values)) {
    for (const [actionId, value] of Object.entries(actions)) {
      const node = [...document.querySelectorAll("#modal-layer [data-block-id][data-action-id]")]
        .find((n) => n.dataset.blockId === blockId && n.dataset.actionId === actionId);
      if (!node) continue;
      if (node.classList.contains("radio-group")) {
        const radio = [...node.querySelectorAll("input")].find((r) => r.value === value);
        if (radio) radio.checked = true;
      } else node.value = value;
    }
  }
}

function drawModal(data) {
  const layer = document.getElementById("modal-layer");
  const view = data.views[data.views.length - 1];
  if (!view) {
    layer.replaceChildren();
    page.modalKey = "";
    return;
  }
  const key = JSON.stringify([view.id, view.title, view.blocks, view.submit, view.close]);
  if (key !== page.modalKey) {
    // drawn again only when the view itself changed (opened, or replaced by update): typing survives polling
    const typed = layer.querySelector(`.modal`)?.dataset.viewId === view.id ? modalValues() : {};
    layer.replaceChildren(modal(view));
    restoreValues(typed);
    page.modalKey = key;
  }
  showErrors(view.errors || {});
}

function modal(view) {
  const submit = h("button", { type: "submit", id: "modal-submit", class: "block-button primary" },
    text(plain(view.submit) || "Submit"));
  const close = h("button", { type: "button", id: "modal-close", class: "block-button default" },
    text(plain(view.close) || "Cancel"));
  const form = h("form", { class: "modal", "data-view-id": view.id, "data-callback-id": view.callback_id || "",
    role: "dialog", "aria-modal": "true" },
  h("div", { class: "modal-header" }, h("h2", { class: "modal-title" }, text(plain(view.title)))),
  h("div", { class: "input-error general", "data-error-for": "*" }),
  h("div", { class: "modal-body" }, blocks(view.blocks, { kind: "view", viewId: view.id })),
  h("div", { class: "dialog-buttons" }, close, view.submit ? submit : null));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send("/_emulator/submit", { view_id: view.id, user: page.me, values: modalValues() }, plain(view.title));
  });
  close.addEventListener("click", () => send("/_emulator/close", { view_id: view.id, user: page.me }, plain(view.title)));
  return h("div", { class: "overlay" }, form);
}

function showErrors(errors) {
  const layer = document.getElementById("modal-layer");
  const known = new Set();
  layer.querySelectorAll(".input-error").forEach((node) => {
    const message = errors[node.dataset.errorFor];
    if (message !== undefined) known.add(node.dataset.errorFor);
    node.textContent = message ?? "";
  });
  const general = layer.querySelector(".input-error.general");
  const others = Object.entries(errors).filter(([block]) => !known.has(block)).map(([b, m]) => `${b}: ${m}`);
  if (general) general.textContent = others.join("\n");
}

// --- the page around it -------------------------------------------------------------------------------------------

function drawUsers(data) {
  const key = JSON.stringify(data.users);
  if (key === page.usersKey) return;
  page.usersKey = key;
  const picker = document.getElementById("who");
  picker.replaceChildren(...Object.entries(data.users).map(([id, user]) =>
    h("option", { value: id, "data-user": id, selected: id === page.me }, `${user.name} (${id})`)));
  if (!data.users[page.me] && picker.options.length) chooseUser(picker.options[0].value);
}

function drawSidebar(data) {
  const key = JSON.stringify([data.channels, Object.keys(data.users), page.me, page.channel]);
  if (key === page.sidebarKey) return;
  page.sidebarKey = key;
  const entry = (channel, label) => h("li", {}, h("a", { href: "#", class: `channel-link${channel === page.channel ? " active" : ""}`,
    "data-channel": channel }, label));
  document.getElementById("app-list").replaceChildren(entry(HOME, "\ud83c\udfe0 csrgate Home"));
  document.getElementById("channel-list").replaceChildren(...data.channels.map((c) => entry(c, `# ${c}`)));
  document.getElementById("dm-list").replaceChildren(...Object.entries(data.users).map(([id, user]) =>
    entry(`D${id}`, `csrgate \u2194 ${user.name}${id === page.me ? " (you)" : ""}`)));
}

function drawPane(data) {
  const shown = page.channel === HOME ? data.home : [data.messages, data.files, data.ephemeral].map((list) =>
    list.filter((item) => item.channel === page.channel));
  const key = JSON.stringify([page.channel, page.me, shown, data.users]);
  if (key === page.paneKey) return;
  page.paneKey = key;
  document.getElementById("pane-title").textContent = page.channel === HOME ? "csrgate \u2014 Home"
    : page.channel.startsWith("D") ? `csrgate \u2194 ${userName(page.channel.slice(1))}` : `# ${page.channel}`;
  document.getElementById("messages").replaceChildren(...(page.channel === HOME ? homePane(data) : channelPane(data)));
}

function drawShortcuts(data) {
  const menu = document.getElementById("shortcuts-menu");
  if (menu.childElementCount === data.shortcuts.length) return;
  menu.replaceChildren(...data.shortcuts.map((shortcut) => {
    const item = h("button", { type: "button", role: "menuitem", "data-shortcut": shortcut.callback_id },
      h("b", {}, text(shortcut.name)), h("span", { class: "shortcut-app" }, "csrgate"));
    item.addEventListener("click", () => {
      menu.hidden = true;
      send("/_emulator/shortcut", { user: page.me, callback_id: shortcut.callback_id }, shortcut.name);
    });
    return item;
  }));
}

function draw(data) {
  page.data = data;
  drawUsers(data);
  if (!page.channel) chooseChannel(data.channels[0] || `D${page.me}`);
  drawSidebar(data);
  drawShortcuts(data);
  drawPane(data);
  drawModal(data);
  document.body.dataset.drawnFor = data.user; // what scripts wait for after switching users
}

async function refresh() {
  try {
    const response = await fetch(`/_emulator/state?user=${encodeURIComponent(page.me)}`, { cache: "no-store" });
    draw(await response.json());
    document.getElementById("connection").textContent = "";
  } catch (error) {
    document.getElementById("connection").textContent = "stand-in unreachable";
  }
}

function chooseUser(id) {
  page.me = id;
  localStorage.setItem(USER_KEY, id);
  page.sidebarKey = page.paneKey = page.modalKey = "";
  document.getElementById("who").value = id;
  if (page.channel === HOME) openHome();
}

function chooseChannel(channel) {
  page.channel = channel;
  localStorage.setItem(CHANNEL_KEY, channel);
  page.sidebarKey = "";
  if (channel === HOME) openHome();
}

/** Opening the Home tab is an event for the app (app_home_opened), which may publish the view then. */
async function openHome() {
  if (!page.me) return;
  await fetch(`/_emulator/home?user=${encodeURIComponent(page.me)}`, { cache: "no-store" });
  await refresh();
}

function sendMessage(event) {
  event.preventDefault();
  const box = document.getElementById("message-box");
  const typed = box.value.trim();
  if (!typed) return;
  if (!typed.startsWith("/")) {
    notice("Only slash commands reach csrgate here (try /csrgate help)", true);
    return;
  }
  const [command, rest] = splitOnce(typed, " ");
  const channel = page.channel === HOME ? `D${page.me}` : page.channel;
  box.value = "";
  send("/_emulator/command", { user: page.me, command, text: rest.trim(), channel }, command);
}

function start() {
  document.getElementById("who").addEventListener("change", (event) => { chooseUser(event.target.value); refresh(); });
  document.getElementById("sidebar").addEventListener("click", (event) => {
    const target = event.target.closest("[data-channel]");
    if (!target) return;
    event.preventDefault();
    chooseChannel(target.dataset.channel);
    refresh();
  });
  document.getElementById("shortcuts-button").addEventListener("click", () => {
    const menu = document.getElementById("shortcuts-menu");
    menu.hidden = !menu.hidden;
  });
  document.getElementById("composer").addEventListener("submit", sendMessage);
  refresh();
  setInterval(refresh, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
