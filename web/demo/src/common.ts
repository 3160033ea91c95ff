// What the audience page and the host console share: the connection, the
// viewer's identity, the header, and small rendering helpers.

import { OvationClient, customBars } from "@ovation/sdk";
import type { Room, RoomState, Status } from "@ovation/sdk";
import "./style.css";

/** Session is one page's connection to its room. */
export interface Session {
  client: OvationClient;
  room: Room;
  user: string;
  name: string;
}

const ADJ = ["Brave", "Calm", "Eager", "Happy", "Jolly", "Keen", "Lucky", "Merry", "Nimble", "Quiet", "Swift", "Witty"];
const ANIMAL = ["Otter", "Falcon", "Panda", "Lynx", "Koala", "Heron", "Badger", "Fox", "Gecko", "Moose", "Puffin", "Tiger"];

function pick<T>(a: readonly T[]): T {
  return a[Math.floor(Math.random() * a.length)];
}

// identity keeps a viewer's user id and display name for this tab, so a
// reload is the same person (one vote per poll still holds), while two tabs
// are two people. ?user= and ?name= override (tests, demos).
function identity(params: URLSearchParams, prefix: string): { user: string; name: string } {
  const key = `ovation.${prefix}.identity`;
  let saved: { user: string; name: string } | null = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(key) ?? "null");
  } catch {
    saved = null;
  }
  if (!saved) {
    const name = `${pick(ADJ)} ${pick(ANIMAL)}`;
    saved = { user: `${prefix}-${name.toLowerCase().replace(" ", "-")}-${Math.random().toString(36).slice(2, 6)}`, name };
    try {
      sessionStorage.setItem(key, JSON.stringify(saved));
    } catch {
      // private mode: a new identity per load is fine
    }
  }
  return { user: params.get("user") ?? saved.user, name: params.get("name") ?? saved.name };
}

/** start connects the page to its room (?room=, default "demo"). */
export function start(prefix: "guest" | "host"): Session {
  const params = new URLSearchParams(location.search);
  const roomName = params.get("room") ?? "demo";
  const { user, name } = identity(params, prefix);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  // ?token=<JWT> uses one token; ?token_url=<same-origin URL answering a
  // JWT> asks it at each connect and again when the pusher says the token
  // is about to expire, so the page stays connected across token lifetimes.
  const tokenURL = params.get("token_url");
  const token = tokenURL && new URL(tokenURL, location.href).origin === location.origin
    ? () => fetch(tokenURL, { credentials: "same-origin" }).then((r) => (r.ok ? r.text() : Promise.reject(new Error(`token_url answered ${r.status}`)))).then((t) => t.trim())
    : params.get("token") ?? undefined;
  const client = new OvationClient({ url: `${proto}//${location.host}/v1/stream`, user, token });
  const room = client.room(roomName);
  const s = { client, room, user, name };
  // Tests and curious developers can poke at the live objects.
  (window as unknown as { ovation: Session }).ovation = s;
  return s;
}

/** esc escapes text for HTML. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** $ finds one element or throws. */
export function $<T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document): T {
  const el = root.querySelector<T>(sel);
  if (!el) throw new Error(`missing element ${sel}`);
  return el;
}

/** newId returns a time-ordered entity id (poll, quiz), so "latest" sorts last. */
export function newId(kind: string): string {
  return `${kind}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** latest returns the entry of m with the greatest id (ids are time-ordered). */
export function latest<T>(m: Record<string, T>): [string, T] | null {
  const ids = Object.keys(m).sort();
  return ids.length ? [ids[ids.length - 1], m[ids[ids.length - 1]]] : null;
}

/** fmt formats a count compactly (1.2k). */
export function fmt(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return (n / 1000).toFixed(n < 10_000 ? 1 : 0) + "k";
  return (n / 1_000_000).toFixed(1) + "M";
}

/** initials gives up to two letters for an avatar. */
export function initials(s: string): string {
  const parts = s.replace(/[-_.:]/g, " ").trim().split(/\s+/);
  return ((parts[0]?.[0] ?? "?") + (parts[1]?.[0] ?? "")).toUpperCase();
}

/** hue derives a stable avatar color from a user id. */
export function hue(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h % 360;
}

const STATUS_TEXT: Record<Status, string> = { connecting: "connecting…", open: "live", reconnecting: "reconnecting…", closed: "offline" };

/** header renders the top bar and keeps its status, viewers and queue live. */
export function header(s: Session, title: string, link: { href: string; text: string }): HTMLElement {
  const el = document.createElement("header");
  el.className = "top";
  el.innerHTML = `
    <div class="brand"><span class="logo">👏</span><span>Ovation</span><span class="sub">${esc(title)}</span></div>
    <div class="meta">
      <span class="room" title="room">#${esc(s.room.name)}</span>
      <span class="viewers" title="viewers"><span class="dot"></span><b data-testid="viewers">0</b> watching</span>
      <span class="status" data-testid="status" data-status="connecting">connecting…</span>
      <span class="queue" data-testid="queue" hidden></span>
      <span class="me" title="${esc(s.user)}"><span class="avatar" style="--h:${hue(s.user)}">${esc(initials(s.name))}</span>${esc(s.name)}</span>
      <a class="switch" href="${esc(link.href)}">${esc(link.text)}</a>
    </div>`;
  const status = $("[data-testid=status]", el);
  const setStatus = (st: Status) => {
    status.dataset.status = st;
    status.textContent = STATUS_TEXT[st];
  };
  setStatus(s.client.status);
  s.client.on("status", setStatus);
  const queue = $("[data-testid=queue]", el);
  s.client.on("queue", (n) => {
    queue.hidden = n === 0;
    queue.textContent = `${n} sending…`;
  });
  return el;
}

/** onState calls render at most once per animation frame with the latest state. */
export function onState(s: Session, render: (st: RoomState) => void): void {
  let queued = false;
  const run = () => {
    queued = false;
    render(s.room.state);
    const v = document.querySelector("[data-testid=viewers]");
    if (v) v.textContent = fmt(s.room.state.viewers);
  };
  s.room.on("state", () => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(run);
    }
  });
  run();
}

/** toast shows a short message (errors from publish). */
export function toast(msg: string, kind: "error" | "info" = "error"): void {
  let box = document.querySelector<HTMLElement>(".toasts");
  if (!box) {
    box = document.createElement("div");
    box.className = "toasts";
    document.body.append(box);
  }
  const t = document.createElement("div");
  t.className = `toast ${kind}`;
  t.textContent = msg;
  box.append(t);
  setTimeout(() => t.remove(), 4000);
}

/** publishing reports a publish's failure as a toast; success shows in the state. */
export function publishing(p: Promise<unknown>): void {
  p.catch((err: Error) => toast(err.message));
}

/** timeAgo formats a ms timestamp relative to now. */
export function timeAgo(ts: number): string {
  const s = Math.max(0, Math.round((Date.now() - ts) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

/**
 * renderCustom draws the room's custom types (docs/custom.md) generically
 * into el: a card section per type with a bar per key (counter,
 * distinct) or the value per key (register). The element stays hidden
 * while the room has none.
 */
export function renderCustom(el: HTMLElement, st: RoomState, buttons = false): void {
  const types = Object.entries(st.custom ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  el.hidden = types.length === 0;
  const sig = JSON.stringify([buttons, types.map(([name, c]) => [name, c.fold, c.title, c.key_field, customBars(c).map((b) => b.key)])]);
  if (el.dataset.sig !== sig) {
    el.dataset.sig = sig;
    el.innerHTML = types.map(([name, c]) => `
      <div class="custom" data-testid="custom" data-type="${esc(name)}" data-fold="${esc(c.fold)}">
        <div class="card-head"><h2>${esc(c.title || name)}</h2><span class="badge">${esc(c.fold === "distinct" ? "people" : c.fold)}</span></div>
        ${customBars(c).map((b) => c.fold === "register"
          ? `<div class="mini-bar"><span class="label">${esc(b.key)}</span><b data-testid="custom-value" data-key="${esc(b.key)}"></b></div>`
          : buttons && c.key_field
            // A bar that is a button: a tap publishes one event under its key.
            ? `<button class="mini-bar custom-tap" data-action="custom" data-type="${esc(name)}" data-key="${esc(b.key)}" aria-label="${esc(c.title || name)}: ${esc(b.key)}"><span class="fill" data-key="${esc(b.key)}"></span><span class="label">${esc(b.key)}</span><b data-testid="custom-count" data-key="${esc(b.key)}"></b></button>`
            : `<div class="mini-bar"><span class="fill" data-key="${esc(b.key)}"></span><span class="label">${esc(b.key)}</span><b data-testid="custom-count" data-key="${esc(b.key)}"></b></div>`).join("")}
      </div>`).join("");
  }
  for (const [name, c] of types) {
    const box = el.querySelector<HTMLElement>(`[data-type="${CSS.escape(name)}"]`);
    if (!box) continue;
    const bars = customBars(c);
    const top = Math.max(1, ...bars.map((b) => b.count));
    for (const b of bars) {
      const k = CSS.escape(b.key);
      if (c.fold === "register") {
        const v = box.querySelector<HTMLElement>(`[data-testid=custom-value][data-key="${k}"]`);
        if (v) v.textContent = typeof b.value === "string" ? b.value : JSON.stringify(b.value);
        continue;
      }
      const n = box.querySelector<HTMLElement>(`[data-testid=custom-count][data-key="${k}"]`);
      if (n) {
        n.textContent = fmt(b.count);
        n.dataset.count = String(b.count);
      }
      const f = box.querySelector<HTMLElement>(`.fill[data-key="${k}"]`);
      if (f) f.style.width = `${(100 * b.count) / top}%`;
    }
  }
}

/**
 * customData is the data of one tap on a custom type's key: the key in
 * its field, and 1 in the amount field when the type has one. A type
 * whose schema asks for more refuses it, and the page says so.
 */
export function customData(c: { key_field?: string; amount_field?: string }, key: string): Record<string, unknown> {
  const d: Record<string, unknown> = { [c.key_field!]: key };
  if (c.amount_field) d[c.amount_field] = 1;
  return d;
}
